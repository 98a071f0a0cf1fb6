/* Directory listings on the pool (see autoindex.h). aindex_work runs on a pool thread and
 * touches only its job and the immutable sfile context. */
#define _GNU_SOURCE
#include "autoindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_autoindex.h"

static void aindex_work(pool_job_t *job) {
  struct aindex *ai = job->data;
  struct http_dirent *v = NULL;
  size_t n = 0, cap = 0;
  DIR *d = NULL;
  int fd = sfile_open_dir(ai->ctx, ai->path);
  if (fd < 0) {
    ai->err = fd;
    return;
  }
  if (!(d = fdopendir(fd))) {
    ai->err = -errno;
    close(fd);
    return;
  }
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') /* ".", "..", and hidden files, as nginx hides them */
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      struct http_dirent *nv = realloc(v, cap * sizeof(*v));
      if (!nv) {
        ai->err = -ENOMEM;
        goto out;
      }
      v = nv;
    }
    char *name = strdup(de->d_name);
    if (!name) {
      ai->err = -ENOMEM;
      goto out;
    }
    struct stat st;
    int is_dir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) /* where it leads decides */
      is_dir = fstatat(dirfd(d), name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    v[n++] = (struct http_dirent){.name = name, .is_dir = is_dir};
  }
  http_autoindex_sort(v, n);
  size_t shown = n < AUTOINDEX_MAX ? n : AUTOINDEX_MAX;
  ai->omitted = n - shown;
  for (size_t i = 0; i < shown; i++) {
    struct stat st;
    if (fstatat(dirfd(d), v[i].name, &st, 0) == 0) {
      v[i].size = (uint64_t)st.st_size;
      v[i].mtime = st.st_mtime;
    }
  }
  char title[PATH_MAX + 1];
  size_t tl = strlen(ai->path);
  title[0] = '/';
  memcpy(title + 1, ai->path, tl + 1);
  size_t len = ai->json ? http_autoindex_json(v, shown, NULL, 0)
                        : http_autoindex_html(title, tl + 1, v, shown, ai->omitted, NULL, 0);
  if (!(ai->body = malloc(len ? len : 1))) {
    ai->err = -ENOMEM;
    goto out;
  }
  ai->len = ai->json ? http_autoindex_json(v, shown, ai->body, len)
                     : http_autoindex_html(title, tl + 1, v, shown, ai->omitted, ai->body, len);
out:
  for (size_t i = 0; i < n; i++)
    free((void *)v[i].name);
  free(v);
  closedir(d);
}

int aindex_submit(pool_t *pool, struct aindex *ai, pool_done_fn done) {
  ai->err = 0;
  ai->body = NULL;
  ai->len = 0;
  ai->omitted = 0;
  ai->job.data = ai;
  return pool_submit(pool, &ai->job, aindex_work, done);
}

void aindex_release(struct aindex *ai) {
  free(ai->body);
  ai->body = NULL;
}
