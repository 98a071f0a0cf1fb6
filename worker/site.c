/* A worker's sites (see site.h). */
#include "site.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int wsites_new(const conf_t *conf, wsites_t **out, const char **bad_root) {
  int rc = 0;
  wsites_t *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  size_t n_names = 0;
  for (size_t i = 0; i < conf->n_sites; i++)
    n_names += conf->sites[i].n_names;
  s->v = calloc(conf->n_sites ? conf->n_sites : 1, sizeof(*s->v));
  const char **names = calloc(n_names ? n_names : 1, sizeof(*names));
  size_t *site = calloc(n_names ? n_names : 1, sizeof(*site));
  s->names.names = names;
  s->names.site = site;
  if (!s->v || !names || !site) {
    rc = -ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < conf->n_sites; i++) {
    struct wsite *ws = &s->v[i];
    const conf_site_t *cs = &conf->sites[i];
    ws->conf = cs;
    if (i > 0) {
      ws->prefix[0] = '\0';
      ws->prefix[1] = (char)(i >> 8);
      ws->prefix[2] = (char)(i & 0xff);
      ws->prefix_len = 3;
    }
    s->n++;
    if ((rc = sfile_ctx_new(cs->root, cs->index, conf->allow_symlinks_outside_root, &ws->files)) <
        0) {
      *bad_root = cs->root;
      goto fail;
    }
    for (size_t j = 0; j < cs->n_names; j++) {
      names[s->names.n] = cs->names[j];
      site[s->names.n++] = i;
    }
  }
  *out = s;
  return 0;
fail:
  wsites_free(s);
  return rc;
}

void wsites_free(wsites_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    sfile_ctx_free(s->v[i].files);
  free(s->v);
  free((void *)s->names.names);
  free((void *)s->names.site);
  free(s);
}

const struct wsite *wsites_pick(const wsites_t *s, const char *host, size_t host_len,
                                const char *sni) {
  char norm[256];
  int n = -1, i = -1;
  if (s->names.n == 0)
    return &s->v[0];
  if (host)
    n = http_host_normalize(host, host_len, norm, sizeof(norm));
  else if (sni)
    n = http_host_normalize(sni, strlen(sni), norm, sizeof(norm));
  if (n > 0)
    i = http_host_pick(&s->names, norm, (size_t)n);
  return &s->v[i < 0 ? 0 : i];
}

/* Does a rule's match take path ("/"-less, as normalized)? */
static int rule_matches(const char *m, const char *path, size_t len, const char *index) {
  if (!m)
    return 1;
  if (m[0] == '/') { /* "/assets/": the path with its '/' starts with it */
    size_t ml = strlen(m) - 1;
    return len >= ml && memcmp(path, m + 1, ml) == 0;
  }
  /* "*.html": the served name's extension, a directory's being its index's */
  const char *name = path;
  size_t nl = len;
  if (len == 0 || path[len - 1] == '/') {
    name = index;
    nl = strlen(index);
  }
  size_t el = strlen(m + 1); /* ".html" */
  return nl > el && strncasecmp(name + nl - el, m + 1, el) == 0;
}

size_t wsite_headers(const struct wsite *s, const char *path, size_t len, char *out, size_t cap) {
  const conf_site_t *c = s->conf;
  const char *done[64];
  size_t n_done = 0, o = 0;
  for (size_t r = c->n_headers; r-- > 0;) { /* the last rule wins: it is read first */
    const conf_hdr_rule_t *rule = &c->headers[r];
    if (!rule_matches(rule->match, path, len, c->index))
      continue;
    for (size_t h = 0; h < rule->n_set; h++) {
      const conf_hdr_t *hd = &rule->set[h];
      size_t k;
      for (k = 0; k < n_done && strcasecmp(done[k], hd->name) != 0; k++)
        ;
      if (k < n_done)
        continue;
      size_t nl = strlen(hd->name), vl = strlen(hd->value);
      if (o + nl + vl + 4 > cap || n_done == sizeof(done) / sizeof(done[0]))
        return o;
      done[n_done++] = hd->name;
      memcpy(out + o, hd->name, nl);
      o += nl;
      out[o++] = ':';
      out[o++] = ' ';
      memcpy(out + o, hd->value, vl);
      o += vl;
      out[o++] = '\r';
      out[o++] = '\n';
    }
  }
  return o;
}
