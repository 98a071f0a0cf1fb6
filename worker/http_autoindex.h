/* Directory listings (autoindex): a folder's entries as an HTML page (names HTML-escaped,
 * links percent-encoded, directories first, then by name, sizes and dates) or as JSON (the
 * format of nginx's autoindex_format json). Pure: the pool thread that read the folder calls
 * it; unit-tested. */
#ifndef EVC_HTTP_AUTOINDEX_H
#define EVC_HTTP_AUTOINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct http_dirent {
  const char *name; /* NUL-terminated, no '/' */
  int is_dir;
  uint64_t size;
  time_t mtime;
};

/* Directories first, then by name, byte order (as nginx). */
void http_autoindex_sort(struct http_dirent *v, size_t n);
/* The listing of the folder at path (decoded, as normalized: "/docs/"), n entries and a note
 * that `omitted` more were left out. Writes at most cap bytes; returns the length the whole
 * listing needs (call with cap 0 to size a buffer). */
size_t http_autoindex_html(const char *path, size_t path_len, const struct http_dirent *v, size_t n,
                           size_t omitted, char *out, size_t cap);
size_t http_autoindex_json(const struct http_dirent *v, size_t n, char *out, size_t cap);

#endif
