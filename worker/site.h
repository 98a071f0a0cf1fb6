/* A worker's sites (virtual hosts): per site its config, its root's lookup context and the
 * prefix its keys take in the shared file cache; the choice of a site for a request (Host,
 * :authority or SNI) and the headers a site adds to an answer. Made in worker_main, read-only
 * after; loop thread only, except the sfile contexts, which pool threads read. */
#ifndef EVC_SITE_H
#define EVC_SITE_H

#include <stddef.h>

#include "conf.h"
#include "http_host.h"
#include "sfile.h"

/* The longest prefix a site's keys take in the file cache. */
#define SITE_PREFIX_MAX 3

struct wsite {
  const conf_site_t *conf;
  sfile_ctx_t *files;
  /* Site 0's keys are the paths themselves; the others' start with a NUL (no normalized
   * path has one) and two bytes of the index, so one cache serves every site. */
  char prefix[SITE_PREFIX_MAX];
  size_t prefix_len;
};

typedef struct wsites {
  struct wsite *v;
  size_t n;
  struct http_host_names names;
} wsites_t;

/* 0 or -errno (a root that cannot be opened: its path in *bad_root). */
int wsites_new(const conf_t *conf, wsites_t **out, const char **bad_root);
void wsites_free(wsites_t *s);
/* The site for a request: by host (the Host value as sent, port and all) when given, else
 * by sni, else the first. */
const struct wsite *wsites_pick(const wsites_t *s, const char *host, size_t host_len,
                                const char *sni);
/* The site's header lines for path (below the root, as normalized; a directory's index
 * stands in for a path ending in '/'), "Name: value\r\n" each, the last rule that sets a
 * name winning. Returns the length written (everything fits: the config bounds a site's
 * headers to 1 KiB). */
size_t wsite_headers(const struct wsite *s, const char *path, size_t len, char *out, size_t cap);

#endif
