/* The configuration: a libconfig file parsed and validated into one immutable snapshot.
 * The supervisor loads it (at start and on reload); workers inherit the snapshot across fork
 * and only read it. Every error names FILE:LINE and the key. */
#ifndef EVC_CONF_H
#define EVC_CONF_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct conf_listen {
  char *text;                   /* as written, normalised: "127.0.0.1:8080", "[::1]:8080" */
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int tls;            /* { address = ...; tls = true; }: HTTPS with tls.certificates */
  int redirect_https; /* a plain listener answering every request with a 301 to https */
  int proxy_protocol; /* each connection starts with a PROXY v1/v2 header (a load balancer) */
} conf_listen_t;

typedef struct conf_cert {
  char *cert; /* absolute: the PEM certificate, then its chain */
  char *key;  /* absolute: its PEM private key, not encrypted */
} conf_cert_t;

struct conf_tls; /* config/conf_tls.h */

typedef struct conf_mime {
  char *ext;  /* lower case, without the dot */
  char *type; /* full Content-Type value */
} conf_mime_t;

/* A response header a site sets: name (an HTTP token) and value (visible ASCII, spaces and
 * tabs: no CR, LF or NUL can reach a response). */
typedef struct conf_hdr {
  char *name;
  char *value;
} conf_hdr_t;

/* headers = ( { match = "/assets/"; set = { Cache-Control = "..."; }; }, ... ) */
typedef struct conf_hdr_rule {
  char *match; /* NULL: every path; "/prefix": paths that start with it; "*.ext": extension */
  conf_hdr_t *set;
  size_t n_set;
} conf_hdr_rule_t;

/* error_pages = ( { codes = [404]; page = "/404.html"; }, ... ), one entry per code */
typedef struct conf_error_page {
  int code;
  char *page; /* below the root, without the leading '/': "404.html" */
} conf_error_page_t;

/* One virtual host. Without `sites`, the top-level root, index and site keys make sites[0]. */
typedef struct conf_site {
  char **names; /* lower case; "example.com" or "*.example.com" (one leading label) */
  size_t n_names;
  char *root;   /* absolute, resolved */
  char *index;
  conf_hdr_rule_t *headers;
  size_t n_headers;
  conf_error_page_t *error_pages;
  size_t n_error_pages;
  int autoindex;
  char *fallback; /* below the root, without the leading '/'; NULL: none */
  int fallback_extensions; /* the fallback serves paths with an extension too */
  int precompressed;       /* compression.precompressed: file.br / file.gz beside file */
  struct {
    int on_the_fly; /* brotli and gzip made on the pool, once per file version, cached */
    char **types;   /* media types (lower case, no parameters) compressed; NULL: text ones */
    size_t n_types;
    int min_size;   /* bytes: smaller files are sent as they are */
    int cache_mb;   /* the cache of compressed files, per worker */
  } zip;
} conf_site_t;

/* Read-only after conf_load(); every string is owned by the conf and freed by conf_free(). */
typedef struct conf {
  char *path;       /* absolute path of the config file */
  char *dir;        /* its folder: relative paths resolve against it */
  int workers;      /* >= 1; "auto" resolved to the online CPUs */
  int workers_auto; /* 1 if the file said "auto" */
  conf_listen_t *listen;
  size_t n_listen;
  char *root;  /* absolute, resolved (realpath) */
  char *index; /* file name served for a directory, "index.html" */
  int pool_threads;
  int idle_poll_us; /* a worker's idle polling ceiling (loop_set_idle_poll); 0: off */
  char *pid_file;       /* absolute */
  char *control_socket; /* absolute */
  char *access_log;     /* absolute, or NULL for "off" */
  char *error_log;      /* absolute, or NULL for "stderr" */
  char *user;           /* NULL: keep the current user */
  char *group;          /* NULL: the user's primary group */
  uid_t uid;            /* user resolved at load; (uid_t)-1 when user is NULL */
  gid_t gid;            /* group, else the user's primary group; (gid_t)-1 when both NULL */
  int allow_symlinks_outside_root; /* default 0 */
  struct {
    double graceful, keepalive, header, send; /* seconds, > 0 */
    double drain_delay; /* seconds >= 0: /healthz says 503 this long before a graceful stop */
  } timeouts;
  conf_listen_t admin; /* admin.listen; text NULL when there is no admin listener */
  struct {
    double interval; /* seconds, > 0 */
    int misses;      /* >= 1 */
  } health;
  struct {
    int max_rss_mb;   /* a worker resident above this many MiB is replaced; 0: off */
    int max_requests; /* a worker that served this many (times 1..1+jitter) is replaced; 0: off */
    double jitter;    /* 0..1: each worker's max_requests is spread up by a random share of it */
  } recycle;
  struct {
    int max_connections;    /* per worker */
    int max_header_bytes;
    int keepalive_requests;
    int h2_max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS of an h2 connection */
  } limits;
  int http2; /* h2 in ALPN on TLS listeners, h2c with prior knowledge on plain ones */
  conf_mime_t *mime; /* overrides of the built-in table: mime_types = { md = "text/markdown"; } */
  size_t n_mime;
  struct {
    conf_cert_t *certs; /* the first is the default; SNI picks among them by their names */
    size_t n_certs;
    int min_version;    /* TLS1_2_VERSION (0x0303) or TLS1_3_VERSION (0x0304) */
    int session_tickets;
    double ticket_key_rotation; /* seconds */
    struct conf_tls *ctx; /* the loaded certificates; NULL when there are none */
  } tls;
  conf_site_t *sites; /* at least one; sites[0] is the default (no Host matches) */
  size_t n_sites;
  int https_listener; /* index of the first TLS listener (the port redirects go to), or -1 */
  char *warnings; /* "FILE:LINE: key: warning: ..." lines of a config that loaded, or NULL */
} conf_t;

/* Loads and validates `path`. On success *out is set (caller frees with conf_free()) and 0 is
 * returned. On failure returns -EINVAL (or -ENOMEM, -ENOENT...) and writes every error into
 * err, one per line, each "FILE:LINE: key: what was expected". err may be NULL. */
int conf_load(const char *path, conf_t **out, char *err, size_t errlen);
void conf_free(conf_t *conf);
/* The control socket a config names even when it does not load, for a CLI that must reach a
 * server whose config was broken since it started (a reload is how that gets fixed): the
 * value libconfig reads when the file parses, includes and all; the one written at the top
 * level (a best guess) when it has a syntax error; else the default beside the file. The
 * folder resolves as conf_load's does. Never NULL; the caller frees it. */
char *conf_control_socket_guess(const char *path);

#endif
