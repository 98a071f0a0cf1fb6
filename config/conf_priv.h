/* What conf.c shares with the other parts of the config module (conf_sites.c): the error
 * report, the parse context and the scalar checks. Private to config/. */
#ifndef EVC_CONF_PRIV_H
#define EVC_CONF_PRIV_H

#include <libconfig.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

/* The caller's error buffer. Lines are appended whole; once one does not fit, a last "...\n"
 * marks the cut, so a truncated report is never mistaken for a complete one. */
typedef struct errs {
  char *buf;
  size_t cap, len;
  int n;            /* errors seen, including those that did not fit */
  int full;         /* a line did not fit: nothing more is appended */
  const char *file; /* FILE of lines whose setting names no file of its own */
  const char *dir;  /* the config's folder: libconfig names an @include file as written */
} errs_t;

typedef struct ctx {
  conf_t *c;
  errs_t *e;
  gid_t user_gid; /* the user's primary group, the default for gid */
  /* where each tls.certificates entry and each TLS listener was written, for errors found
   * once every key is read */
  const config_setting_t **cert_s;
  const config_setting_t **listen_s;
  errs_t warn;                          /* warnings: the same lines, kept apart */
  conf_site_t top;                      /* the site keys written at the top level (conf_sites.c) */
  const config_setting_t *top_site_key; /* the first of them, for an error with sites */
  const config_setting_t *sites_s;      /* the sites list, when given */
  const config_setting_t *top_group;    /* the root setting, once a top-level site key is read */
  conf_site_t *cur;                     /* the site the site keys fill */
} ctx_t;

typedef struct key_spec key_spec_t;
typedef void (*key_fn)(ctx_t *x, const config_setting_t *s, const key_spec_t *k);

struct key_spec {
  const char *name;
  key_fn fn;
  size_t off;            /* the field in conf_t the handler fills */
  long long min, max;    /* integer and seconds keys */
  const char *word;      /* path keys: the value that means NULL ("off", "stderr") */
  const key_spec_t *sub; /* group keys: the keys inside, ended by a NULL name */
  const char *group;     /* keys inside a group: the group's name, for suggestions */
};

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* dir + "/" + name; name as is when absolute. */
char *path_join(const char *dir, const char *name);
/* Control bytes, '"' and '\\' escaped, for an error line. */
const char *escape(const char *in, char *buf, size_t n);
/* The value as found in the file, for "got ...". */
const char *describe(const config_setting_t *s, char *buf, size_t n);
__attribute__((format(printf, 4, 5))) void errs_add(errs_t *e, const config_setting_t *s,
                                                    const char *key, const char *fmt, ...);
int get_int(ctx_t *x, const config_setting_t *s, long long min, long long max, const char *alt,
            int *out);
int get_string(ctx_t *x, const config_setting_t *s, const char **out);
void key_bool(ctx_t *x, const config_setting_t *s, const key_spec_t *k);
/* Runs each setting of group g through its key in keys; an unknown one is an error that says
 * `unknown`, or (NULL) names the closest known key. */
void walk_keys(ctx_t *x, const config_setting_t *g, const key_spec_t *keys,
               const char *unknown);
void key_root(ctx_t *x, const config_setting_t *s, const key_spec_t *k);
void key_index(ctx_t *x, const config_setting_t *s, const key_spec_t *k);
/* tls.certificates entries, appended to the server's list (SNI picks among them) */
void key_certs(ctx_t *x, const config_setting_t *s, const key_spec_t *k);

/* sites = ( { names = [...]; root = ...; ... }, ... ) (conf_sites.c) */
void key_sites(ctx_t *x, const config_setting_t *s, const key_spec_t *k);
/* headers, error_pages, autoindex, fallback, fallback_extensions, compression written at the
 * top level: the one site's, when there is no sites list. */
void key_site_top(ctx_t *x, const config_setting_t *s, const key_spec_t *k);

/* Once every key is read: without sites, the top-level root and index are the one site. */
void conf_sites_finish(ctx_t *x);
void conf_sites_free(conf_t *c);

#endif
