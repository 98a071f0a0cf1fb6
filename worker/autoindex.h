/* Directory listings on the pool: a folder without its index, in a site with autoindex, is
 * read on a pool thread (never on the loop: 100,000 entries take a while) and becomes one
 * HTML or JSON body (http_autoindex.h). A listing shows at most AUTOINDEX_MAX entries (the
 * first by the listing's order) and says how many more there are; the folder is read whole
 * for the order, but only the entries shown are stat'ed. */
#ifndef EVC_AUTOINDEX_H
#define EVC_AUTOINDEX_H

#include <limits.h>
#include <stddef.h>

#include "pool.h"
#include "sfile.h"

/* 10,000 entries make about 1.5 MB of HTML: the bound on a listing's memory and on the time
 * a browser needs to show it. */
#define AUTOINDEX_MAX 10000

struct aindex {
  pool_job_t job;
  const sfile_ctx_t *ctx;
  char path[PATH_MAX]; /* the folder below the root ("" or "docs/") */
  int json;
  void *owner; /* the caller's */
  /* results */
  int err;    /* 0, or -errno (-ENOENT, -EACCES...) */
  char *body; /* malloc'd */
  size_t len;
  size_t omitted; /* entries not shown */
};

/* Reads and formats the listing on a pool thread, then done on the loop. 0 or -errno. */
int aindex_submit(pool_t *pool, struct aindex *ai, pool_done_fn done);
/* Frees the body. */
void aindex_release(struct aindex *ai);

#endif
