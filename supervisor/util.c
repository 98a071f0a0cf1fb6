/* Allocation wrappers and the text buffer of the supervisor process (see util.h). Runs in
 * the supervisor and in the CLI; single-threaded. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size) {
  fprintf(stderr, "evcluster: out of memory (%zu bytes)\n", size);
  abort();
}

void *sup_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    oom(n * size);
  return p;
}

void *sup_xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q)
    oom(size);
  return q;
}

char *sup_xstrdup(const char *s) {
  char *p = strdup(s);
  if (!p)
    oom(strlen(s) + 1);
  return p;
}

static void reserve(struct sup_buf *b, size_t more) {
  if (b->len + more + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    cap *= 2;
  b->p = sup_xrealloc(b->p, cap);
  b->cap = cap;
}

void sup_buf_printf(struct sup_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void sup_buf_json_str(struct sup_buf *b, const char *s) {
  sup_buf_printf(b, "\"");
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\')
      sup_buf_printf(b, "\\%c", *c);
    else if (*c < 0x20)
      sup_buf_printf(b, "\\u%04x", *c);
    else
      sup_buf_printf(b, "%c", *c);
  }
  sup_buf_printf(b, "\"");
}

void sup_buf_free(struct sup_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
