/* Small helpers of the supervisor process (and of the CLI, which is the same binary):
 * allocation that aborts on failure, and a growable text buffer for replies and status.
 * Not shared with workers on purpose: nothing here is needed after fork. */
#ifndef EVC_SUP_UTIL_H
#define EVC_SUP_UTIL_H

#include <stddef.h>

/* Allocation failure aborts with a message: callers never check for NULL. */
void *sup_xcalloc(size_t n, size_t size);
void *sup_xrealloc(void *p, size_t size);
char *sup_xstrdup(const char *s);

/* A NUL-terminated growable string. Zero-initialised is empty; sup_buf_free releases it. */
struct sup_buf {
  char *p;
  size_t len;
  size_t cap;
};
void sup_buf_printf(struct sup_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (with the quotes), escaping what JSON requires. */
void sup_buf_json_str(struct sup_buf *b, const char *s);
void sup_buf_free(struct sup_buf *b);

#endif
