/* The sites of a configuration (virtual hosts) and the keys each site may set: names, root,
 * index, headers, error_pages, autoindex, fallback, compression. Runs in the supervisor with
 * the rest of conf_load; errors name FILE:LINE and the key, like every other key's. Without a
 * sites list, the top-level root and index (and the site keys written at the top level) are
 * the one site, so every config written before sites existed means what it meant. */
#include "conf_priv.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The error statuses this server answers with (worker/http_response.c's reasons): a page for
 * any other code could never be served. */
static const int known_codes[] = {400, 403, 404, 405, 406, 412, 414, 416, 431, 500, 501, 503, 505};

/* Headers the server writes itself: a site's copy would be a second, conflicting field. */
static const char *const own_headers[] = {
    "server",
    "date",
    "content-type",
    "content-length",
    "last-modified",
    "etag",
    "accept-ranges",
    "content-range",
    "location",
    "allow",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "vary",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
};

/* A site's header block goes into a head of 2 KiB with the server's own fields, and HTTP/2
 * splits that head into at most 48 fields (worker/h2.c), 13 of them the server's. */
#define SITE_HEADERS_MAX 1024
#define SITE_HEADER_COUNT_MAX 24

static int is_tchar(int ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static void site_free(conf_site_t *s) {
  for (size_t i = 0; i < s->n_names; i++)
    free(s->names[i]);
  free(s->names);
  free(s->root);
  free(s->index);
  for (size_t i = 0; i < s->n_headers; i++) {
    for (size_t j = 0; j < s->headers[i].n_set; j++) {
      free(s->headers[i].set[j].name);
      free(s->headers[i].set[j].value);
    }
    free(s->headers[i].set);
    free(s->headers[i].match);
  }
  free(s->headers);
  for (size_t i = 0; i < s->n_error_pages; i++)
    free(s->error_pages[i].page);
  free(s->error_pages);
  free(s->fallback);
  for (size_t i = 0; i < s->zip.n_types; i++)
    free(s->zip.types[i]);
  free(s->zip.types);
  memset(s, 0, sizeof(*s));
}

/* A site path ("/404.html"): absolute, no empty, "." or ".." segment, printable. Returns the
 * part below the root (a copy), or NULL after an error. */
static char *site_path(ctx_t *x, const config_setting_t *s) {
  const char *v;
  char got[96];
  if (get_string(x, s, &v) < 0)
    return NULL;
  size_t n = strlen(v);
  int bad = v[0] != '/' || v[n - 1] == '/' || strstr(v, "//") || strstr(v, "/./") ||
            strstr(v, "/../") || (n >= 2 && strcmp(v + n - 2, "/.") == 0) ||
            (n >= 3 && strcmp(v + n - 3, "/..") == 0) || n >= PATH_MAX - 1;
  for (size_t i = 0; i < n && !bad; i++)
    bad = (unsigned char)v[i] < 0x20 || v[i] == 0x7f || v[i] == '?' || v[i] == '#';
  if (bad) {
    errs_add(x->e, s, NULL,
             "expected a file path below the root such as \"/404.html\" (no \"..\", \".\", "
             "\"//\", '?' or control bytes), got %s",
             describe(s, got, sizeof(got)));
    return NULL;
  }
  return xstrdup(v + 1);
}

/* 1 if s is an array or a list; else 0, with the error: "expected WHAT, got ...". */
static int is_array(ctx_t *x, const config_setting_t *s, const char *what) {
  char got[96];
  int t = config_setting_type(s);
  if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
    return 1;
  errs_add(x->e, s, NULL, "expected %s, got %s", what, describe(s, got, sizeof(got)));
  return 0;
}

/* v lowercased (ASCII), malloc'd: the caller owns it. Names and media types compare so. */
static char *lower_dup(const char *v) {
  char *lower = xstrdup(v);
  for (char *p = lower; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return lower;
}

/* names = ["example.com", "*.example.com"]: a host name (letters, digits, '-', '.'), an IPv4
 * address, or "*." and a name: the '*' stands for exactly one leading label. */
static void key_names(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_site_t *site = x->cur;
  (void)k;
  if (!is_array(x, s, "an array of host names [\"example.com\", ...]"))
    return;
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    const char *v;
    if (get_string(x, e, &v) < 0)
      continue;
    const char *name = strncmp(v, "*.", 2) == 0 ? v + 2 : v;
    size_t len = strlen(name);
    int bad = len == 0 || len > 253 || name[0] == '.' || name[0] == '-' || name[len - 1] == '.' ||
              strstr(name, "..");
    if (v[0] == '[') { /* an IPv6 literal, as a Host names it: "[::1]" */
      bad = len < 4 || name[len - 1] != ']' ||
            strspn(name + 1, "0123456789abcdefABCDEF:.") != len - 2;
    } else {
      for (size_t j = 0; j < len && !bad; j++)
        bad = !(isalnum((unsigned char)name[j]) || name[j] == '-' || name[j] == '.');
    }
    if (bad) {
      errs_add(x->e, e, NULL,
               "expected a host name (letters, digits, '-', '.'), optionally after \"*.\" "
               "for one leading label, or an IPv6 literal \"[::1]\", got %s",
               describe(e, got, sizeof(got)));
      continue;
    }
    char *lower = lower_dup(v);
    /* the same name twice, in this site or an earlier one: which site would answer? */
    int dup = 0;
    for (size_t si = 0; si < x->c->n_sites + 1 && !dup; si++) {
      const conf_site_t *o = si < x->c->n_sites ? &x->c->sites[si] : site;
      for (size_t j = 0; j < o->n_names && !dup; j++)
        dup = strcmp(o->names[j], lower) == 0;
    }
    if (dup) {
      errs_add(x->e, e, NULL, "duplicate site name \"%s\": each name belongs to one site", lower);
      free(lower);
      continue;
    }
    site->names = xrealloc(site->names, (site->n_names + 1) * sizeof(char *));
    site->names[site->n_names++] = lower;
  }
}

/* root and index of a site: the top-level checks, into the site. */
static void key_site_root(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char *saved = x->c->root;
  x->c->root = NULL;
  key_root(x, s, k);
  free(x->cur->root);
  x->cur->root = x->c->root;
  x->c->root = saved;
}

static void key_site_index(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char *saved = x->c->index;
  x->c->index = NULL;
  key_index(x, s, k);
  free(x->cur->index);
  x->cur->index = x->c->index;
  x->c->index = saved;
}

/* One header of a set group: the name is libconfig's setting name (letters, digits, '-',
 * '_', '*'), checked against HTTP's token anyway; the value must be visible ASCII, space or
 * tab, so that nothing the config says can end a header line or the head. */
static int header_one(ctx_t *x, const config_setting_t *f, conf_hdr_rule_t *r, size_t *bytes) {
  const char *name = config_setting_name(f), *v;
  char got[96];
  size_t nl = strlen(name);
  int bad = nl == 0;
  for (size_t i = 0; i < nl && !bad; i++)
    bad = !is_tchar((unsigned char)name[i]);
  if (bad) {
    errs_add(x->e, f, NULL, "expected a header name (an HTTP token)");
    return -1;
  }
  for (size_t i = 0; i < sizeof(own_headers) / sizeof(own_headers[0]); i++)
    if (strcasecmp(name, own_headers[i]) == 0) {
      errs_add(x->e, f, NULL, "the server sets %s itself: it cannot be configured", name);
      return -1;
    }
  if (config_setting_type(f) != CONFIG_TYPE_STRING) {
    errs_add(x->e, f, NULL, "expected a header value (a string), got %s",
             describe(f, got, sizeof(got)));
    return -1;
  }
  v = config_setting_get_string(f);
  size_t vl = strlen(v);
  bad = vl == 0 || v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t';
  for (size_t i = 0; i < vl && !bad; i++)
    bad = !(((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f) || v[i] == '\t');
  if (bad) {
    errs_add(x->e, f, NULL,
             "expected a header value of visible ASCII, spaces and tabs (no CR, LF, NUL or "
             "other control bytes, no leading or trailing space), got %s",
             describe(f, got, sizeof(got)));
    return -1;
  }
  *bytes += nl + vl + 4;
  if (*bytes > SITE_HEADERS_MAX) {
    errs_add(x->e, f, NULL, "the site's headers exceed %d bytes", SITE_HEADERS_MAX);
    return -1;
  }
  size_t count = r->n_set + 1;
  for (size_t i = 0; i < x->cur->n_headers; i++)
    count += x->cur->headers[i].n_set;
  if (count > SITE_HEADER_COUNT_MAX) {
    errs_add(x->e, f, NULL, "a site sets at most %d headers", SITE_HEADER_COUNT_MAX);
    return -1;
  }
  r->set = xrealloc(r->set, (r->n_set + 1) * sizeof(*r->set));
  r->set[r->n_set].name = xstrdup(name);
  r->set[r->n_set].value = xstrdup(v);
  r->n_set++;
  return 0;
}

/* headers = ( { match = "/assets/"; set = { Cache-Control = "max-age=31536000"; }; },
 *             { match = "*.html"; set = { ... }; }, { set = { ... }; } ) */
static void key_headers(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_site_t *site = x->cur;
  size_t bytes = 0;
  (void)k;
  if (config_setting_type(s) != CONFIG_TYPE_LIST) {
    errs_add(x->e, s, NULL,
             "expected a list ( { match = \"/path/\"; set = { Name = \"value\"; }; }, ... ), "
             "got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
    if (!config_setting_is_group(g)) {
      errs_add(x->e, g, NULL, "expected { match = \"...\"; set = { ... }; }, got %s",
               describe(g, got, sizeof(got)));
      continue;
    }
    conf_hdr_rule_t r = {0};
    int bad = 0, have_set = 0, m = config_setting_length(g);
    for (int j = 0; j < m; j++) {
      const config_setting_t *f = config_setting_get_elem(g, (unsigned)j);
      const char *name = config_setting_name(f), *v;
      if (strcmp(name, "match") == 0) {
        if (get_string(x, f, &v) < 0) {
          bad = 1;
          continue;
        }
        size_t vl = strlen(v), ctl = 0;
        for (size_t c = 0; c < vl; c++)
          ctl += (unsigned char)v[c] < 0x20 || v[c] == 0x7f;
        int ext = strncmp(v, "*.", 2) == 0 && vl > 2 && !strchr(v + 2, '/') && !strchr(v + 2, '*');
        if (ctl || (!ext && (v[0] != '/' || strchr(v, '*')))) {
          errs_add(x->e, f, NULL,
                   "expected a path prefix (\"/assets/\") or an extension (\"*.html\"), got %s",
                   describe(f, got, sizeof(got)));
          bad = 1;
          continue;
        }
        free(r.match);
        r.match = xstrdup(v);
        if (ext)
          for (char *p = r.match; *p; p++)
            *p = (char)tolower((unsigned char)*p);
      } else if (strcmp(name, "set") == 0) {
        have_set = 1;
        if (!config_setting_is_group(f)) {
          errs_add(x->e, f, NULL, "expected a group { Name = \"value\"; ... }, got %s",
                   describe(f, got, sizeof(got)));
          bad = 1;
          continue;
        }
        int hn = config_setting_length(f);
        for (int h = 0; h < hn; h++)
          bad |= header_one(x, config_setting_get_elem(f, (unsigned)h), &r, &bytes) < 0;
      } else {
        errs_add(x->e, f, NULL, "unknown key (a header rule takes match and set)");
        bad = 1;
      }
    }
    if (!have_set && !bad) {
      errs_add(x->e, g, NULL, "expected set = { Name = \"value\"; } in the header rule");
      bad = 1;
    }
    if (bad) {
      for (size_t j = 0; j < r.n_set; j++) {
        free(r.set[j].name);
        free(r.set[j].value);
      }
      free(r.set);
      free(r.match);
      continue;
    }
    site->headers = xrealloc(site->headers, (site->n_headers + 1) * sizeof(*site->headers));
    site->headers[site->n_headers++] = r;
  }
}

/* error_pages = ( { codes = [404]; page = "/404.html"; }, { codes = [500, 503]; ... } ) */
static void key_error_pages(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_site_t *site = x->cur;
  (void)k;
  if (config_setting_type(s) != CONFIG_TYPE_LIST) {
    errs_add(x->e, s, NULL,
             "expected a list ( { codes = [404]; page = \"/404.html\"; }, ... ), got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
    const config_setting_t *codes = NULL, *page = NULL;
    if (!config_setting_is_group(g)) {
      errs_add(x->e, g, NULL, "expected { codes = [404]; page = \"/404.html\"; }, got %s",
               describe(g, got, sizeof(got)));
      continue;
    }
    int bad = 0, m = config_setting_length(g);
    for (int j = 0; j < m; j++) {
      const config_setting_t *f = config_setting_get_elem(g, (unsigned)j);
      const char *name = config_setting_name(f);
      if (strcmp(name, "codes") == 0)
        codes = f;
      else if (strcmp(name, "page") == 0)
        page = f;
      else {
        errs_add(x->e, f, NULL, "unknown key (an error page takes codes and page)");
        bad = 1;
      }
    }
    if (!codes || !page) {
      errs_add(x->e, g, NULL, "expected %s in the error page's group", codes ? "page" : "codes");
      continue;
    }
    char *p = site_path(x, page);
    if (!is_array(x, codes, "an array of status codes [404, ...]"))
      bad = 1;
    int nc = bad ? 0 : config_setting_length(codes);
    if (!bad && nc == 0) {
      errs_add(x->e, codes, NULL, "expected at least one status code");
      bad = 1;
    }
    for (int j = 0; j < nc && p; j++) {
      const config_setting_t *c = config_setting_get_elem(codes, (unsigned)j);
      int code;
      if (get_int(x, c, 100, 599, NULL, &code) < 0)
        continue;
      size_t q;
      for (q = 0; q < sizeof(known_codes) / sizeof(known_codes[0]) && known_codes[q] != code; q++)
        ;
      if (q == sizeof(known_codes) / sizeof(known_codes[0])) {
        errs_add(x->e, c, NULL,
                 "unknown status code %d: pages are for the errors the server answers "
                 "(400, 403, 404, 405, 406, 412, 414, 416, 431, 500, 501, 503, 505)",
                 code);
        continue;
      }
      for (q = 0; q < site->n_error_pages && site->error_pages[q].code != code; q++)
        ;
      if (q < site->n_error_pages) {
        errs_add(x->e, c, NULL, "status %d has a page already", code);
        continue;
      }
      site->error_pages =
          xrealloc(site->error_pages, (site->n_error_pages + 1) * sizeof(*site->error_pages));
      site->error_pages[site->n_error_pages].code = code;
      site->error_pages[site->n_error_pages].page = xstrdup(p);
      site->n_error_pages++;
    }
    free(p);
  }
}

static void key_site_bool(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
    errs_add(x->e, s, NULL, "expected true or false, got %s", describe(s, got, sizeof(got)));
    return;
  }
  *(int *)(void *)((char *)x->cur + k->off) = config_setting_get_bool(s) != 0;
}

static void key_fallback(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  (void)k;
  char *p = site_path(x, s);
  if (p) {
    free(x->cur->fallback);
    x->cur->fallback = p;
  }
}

/* compression.types = ["text/html", "image/svg+xml"]: media types without parameters */
static void key_ztypes(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_site_t *site = x->cur;
  (void)k;
  if (!is_array(x, s, "an array of media types [\"text/html\", ...]"))
    return;
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    const char *v;
    if (get_string(x, e, &v) < 0)
      continue;
    const char *slash = strchr(v, '/');
    int bad = !slash || slash == v || !slash[1] || strchr(slash + 1, '/');
    for (const char *p = v; *p && !bad; p++)
      bad = !(is_tchar((unsigned char)*p) || *p == '/');
    if (bad) {
      errs_add(x->e, e, NULL,
               "expected a media type such as \"text/html\" (no parameters), "
               "got %s",
               describe(e, got, sizeof(got)));
      continue;
    }
    char *lower = lower_dup(v);
    site->zip.types = xrealloc(site->zip.types, (site->zip.n_types + 1) * sizeof(char *));
    site->zip.types[site->zip.n_types++] = lower;
  }
}

static void key_site_int(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  get_int(x, s, k->min, k->max, NULL, (int *)(void *)((char *)x->cur + k->off));
}

static const key_spec_t compression_keys[] = {
    {"precompressed", key_site_bool, offsetof(conf_site_t, precompressed), 0, 0, NULL, NULL,
     "compression"},
    {"on_the_fly", key_site_bool, offsetof(conf_site_t, zip.on_the_fly), 0, 0, NULL, NULL,
     "compression"},
    {"types", key_ztypes, 0, 0, 0, NULL, NULL, "compression"},
    {"min_size", key_site_int, offsetof(conf_site_t, zip.min_size), 0, 1 << 30, NULL, NULL,
     "compression"},
    {"cache_mb", key_site_int, offsetof(conf_site_t, zip.cache_mb), 1, 65536, NULL, NULL,
     "compression"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

#define SITE_UNKNOWN                                                                          \
  "unknown key (a site takes names, root, index, headers, error_pages, autoindex, fallback, "  \
  "fallback_extensions, compression, certificates)"

static void key_compression(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  (void)k;
  if (!config_setting_is_group(s)) {
    errs_add(x->e, s, NULL, "expected a group { precompressed = true; on_the_fly = true; }, got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  x->cur->precompressed = 1; /* the group's default */
  walk_keys(x, s, compression_keys, SITE_UNKNOWN);
  if (x->cur->zip.n_types && !x->cur->zip.on_the_fly)
    errs_add(x->e, config_setting_get_member(s, "types"), NULL,
             "types are compressed on the fly: set on_the_fly = true");
}

/* certificates = ( { cert = "..."; key = "..."; } ): the site's, in tls.certificates' format;
 * they join the server's list, where SNI picks a certificate by its names as for any other
 * (the first of tls.certificates, or of the first site that has some, stays the default). */
static void key_site_certs(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  if (x->cur == &x->top) {
    errs_add(x->e, s, NULL, "unknown key (certificates go in tls, or in a site)");
    return;
  }
  key_certs(x, s, k);
}

#define SOFF(f) offsetof(conf_site_t, f)
static const key_spec_t site_keys[] = {
    {"names", key_names, 0, 0, 0, NULL, NULL, "sites"},
    {"root", key_site_root, 0, 0, 0, NULL, NULL, "sites"},
    {"index", key_site_index, 0, 0, 0, NULL, NULL, "sites"},
    {"headers", key_headers, 0, 0, 0, NULL, NULL, "sites"},
    {"error_pages", key_error_pages, 0, 0, 0, NULL, NULL, "sites"},
    {"autoindex", key_site_bool, SOFF(autoindex), 0, 0, NULL, NULL, "sites"},
    {"fallback", key_fallback, 0, 0, 0, NULL, NULL, "sites"},
    {"fallback_extensions", key_site_bool, SOFF(fallback_extensions), 0, 0, NULL, NULL, "sites"},
    {"compression", key_compression, 0, 0, 0, NULL, NULL, "sites"},
    {"certificates", key_site_certs, 0, 0, 0, NULL, NULL, "sites"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};


/* A page of the site (an error page, the fallback) must lie inside the root: a symlink out
 * of it is refused, as requests would be. A missing page is a warning: the built-in body is
 * served until it exists. */
static void check_page(ctx_t *x, const conf_site_t *site, const char *page,
                       const config_setting_t *s) {
  char shown[512];
  char *abs = path_join(site->root, page);
  char *real = realpath(abs, NULL);
  size_t rl = strlen(site->root);
  if (!real) {
    errs_add(&x->warn, s, NULL, "warning: %s: %s (the built-in body is served meanwhile)",
             escape(abs, shown, sizeof(shown)), strerror(errno));
  } else if (!x->c->allow_symlinks_outside_root &&
             (strncmp(real, site->root, rl) != 0 || (rl > 1 && real[rl] != '/'))) {
    errs_add(x->e, s, NULL, "the page %s is outside the root %s", escape(abs, shown, sizeof(shown)),
             site->root);
  }
  free(real);
  free(abs);
}

/* Pages once the site's root is known (it may be written after them). */
static void check_site(ctx_t *x, const conf_site_t *site, const config_setting_t *g) {
  if (!site->root || !g)
    return;
  const config_setting_t *ep = config_setting_get_member(g, "error_pages");
  for (size_t i = 0; i < site->n_error_pages; i++) {
    /* the entry that named this page, for the line */
    const config_setting_t *at = ep;
    for (int j = 0; ep && j < config_setting_length(ep); j++) {
      const config_setting_t *pg =
          config_setting_get_member(config_setting_get_elem(ep, (unsigned)j), "page");
      if (pg && config_setting_type(pg) == CONFIG_TYPE_STRING &&
          strcmp(config_setting_get_string(pg) + 1, site->error_pages[i].page) == 0)
        at = pg;
    }
    size_t j;
    for (j = 0; j < i && strcmp(site->error_pages[j].page, site->error_pages[i].page) != 0; j++)
      ;
    if (j == i)
      check_page(x, site, site->error_pages[i].page, at);
  }
  if (site->fallback)
    check_page(x, site, site->fallback, config_setting_get_member(g, "fallback"));
}

void key_sites(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_t *c = x->c;
  (void)k;
  x->sites_s = s;
  if (config_setting_type(s) != CONFIG_TYPE_LIST || config_setting_length(s) == 0) {
    errs_add(x->e, s, NULL,
             "expected a list of sites ( { names = [\"example.com\"]; root = \"...\"; }, ... ), "
             "got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  c->sites = xmalloc((size_t)n * sizeof(*c->sites));
  for (int i = 0; i < n; i++) {
    const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
    conf_site_t site = {.zip = {.min_size = 256, .cache_mb = 64}};
    if (!config_setting_is_group(g)) {
      errs_add(x->e, g, NULL, "expected a site { names = [...]; root = \"...\"; }, got %s",
               describe(g, got, sizeof(got)));
      c->sites[c->n_sites++] = site; /* kept empty: sites[i] stays the list's element i */
      continue;
    }
    x->cur = &site;
    walk_keys(x, g, site_keys, SITE_UNKNOWN);
    x->cur = NULL;
    if (site.n_names == 0 && !config_setting_get_member(g, "names"))
      errs_add(x->e, g, NULL, "expected names = [\"example.com\", ...] in the site");
    c->sites[c->n_sites++] = site;
  }
}

/* Site keys written at the top level belong to the one site a config without sites has. */
void key_site_top(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const key_spec_t *sk;
  for (sk = site_keys; sk->name && strcmp(sk->name, k->name) != 0; sk++)
    ;
  if (!x->top_site_key) {
    x->top_site_key = s;
    x->top.zip.min_size = 256; /* the defaults a site starts with */
    x->top.zip.cache_mb = 64;
  }
  x->top_group = config_setting_parent(s);
  x->cur = &x->top;
  sk->fn(x, s, sk);
  x->cur = NULL;
}

void conf_sites_finish(ctx_t *x) {
  conf_t *c = x->c;
  if (!x->top_site_key) { /* no site key at the top: the defaults a site starts with */
    x->top.zip.min_size = 256;
    x->top.zip.cache_mb = 64;
  }
  if (!x->sites_s) {
    /* the one site: the top-level root and index, and the site keys written beside them */
    c->sites = xmalloc(sizeof(*c->sites));
    c->sites[0] = x->top;
    memset(&x->top, 0, sizeof(x->top));
    c->n_sites = 1;
    if (c->root)
      c->sites[0].root = xstrdup(c->root);
    c->sites[0].index = xstrdup(c->index);
    check_site(x, &c->sites[0], x->top_group);
    return;
  }
  if (x->top_site_key)
    errs_add(x->e, x->top_site_key, NULL,
             "with sites, this key belongs inside a site (each site sets its own)");
  site_free(&x->top);
  for (size_t i = 0; i < c->n_sites; i++) {
    conf_site_t *site = &c->sites[i];
    const config_setting_t *g = config_setting_get_elem(x->sites_s, (unsigned)i);
    /* a site without root or index takes the top level's */
    if (!site->root && c->root)
      site->root = xstrdup(c->root);
    if (!site->root && !config_setting_get_member(g, "root"))
      errs_add(x->e, g, NULL, "expected root = \"...\" in the site (or a top-level root)");
    if (!site->index)
      site->index = xstrdup(c->index);
    check_site(x, site, g);
  }
  /* the top-level root is optional with sites: the first site's is the server's */
  if (!c->root && c->n_sites && c->sites[0].root)
    c->root = xstrdup(c->sites[0].root);
}

void conf_sites_free(conf_t *c) {
  for (size_t i = 0; i < c->n_sites; i++)
    site_free(&c->sites[i]);
  free(c->sites);
  c->sites = NULL;
  c->n_sites = 0;
}
