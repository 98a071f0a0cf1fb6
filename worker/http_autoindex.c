/* Directory listings (see http_autoindex.h). Runs on a pool thread, once per listing. */
#include "http_autoindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_date.h"
#include "http_path.h"

struct w {
  char *out;
  size_t cap, len; /* len counts past cap: the size the caller needs */
};

static void put(struct w *w, const char *s, size_t n) {
  if (w->len < w->cap)
    memcpy(w->out + w->len, s, w->len + n <= w->cap ? n : w->cap - w->len);
  w->len += n;
}

static void puts_(struct w *w, const char *s) {
  put(w, s, strlen(s));
}

/* &, <, >, " and ' as entities: a name is text and attribute values, never markup. */
static void put_html(struct w *w, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&':
      puts_(w, "&amp;");
      break;
    case '<':
      puts_(w, "&lt;");
      break;
    case '>':
      puts_(w, "&gt;");
      break;
    case '"':
      puts_(w, "&quot;");
      break;
    case '\'':
      puts_(w, "&#39;");
      break;
    default:
      put(w, s + i, 1);
    }
  }
}

/* A JSON string: '"', '\\' and control bytes escaped. */
static void put_json(struct w *w, const char *s) {
  put(w, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char tmp[8];
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      put(w, tmp, 2);
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(tmp, sizeof(tmp), "\\u%04x", c);
      put(w, tmp, 6);
    } else {
      put(w, (const char *)&c, 1);
    }
  }
  put(w, "\"", 1);
}

static int cmp(const void *a, const void *b) {
  const struct http_dirent *x = a, *y = b;
  if (x->is_dir != y->is_dir)
    return y->is_dir - x->is_dir;
  return strcmp(x->name, y->name);
}

void http_autoindex_sort(struct http_dirent *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp);
}

size_t http_autoindex_html(const char *path, size_t path_len, const struct http_dirent *v, size_t n,
                           size_t omitted, char *out, size_t cap) {
  struct w w = {out, cap, 0};
  char num[64], date[HTTP_DATE_LEN + 1], enc[3 * 256 + 8];
  puts_(&w, "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of ");
  put_html(&w, path, path_len);
  puts_(&w, "</title></head>\n<body>\n<h1>Index of ");
  put_html(&w, path, path_len);
  puts_(&w, "</h1><hr><pre><a href=\"../\">../</a>\n");
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(v[i].name), el = 0;
    puts_(&w, "<a href=\"");
    /* "./" first when a ':' could make the name read as a scheme ("a:b") */
    if (memchr(v[i].name, ':', nl))
      puts_(&w, "./");
    if (http_path_encode(v[i].name, nl, enc, sizeof(enc), &el) == 0)
      put_html(&w, enc, el);
    if (v[i].is_dir)
      puts_(&w, "/");
    puts_(&w, "\">");
    put_html(&w, v[i].name, nl);
    if (v[i].is_dir)
      puts_(&w, "/");
    puts_(&w, "</a>");
    /* the name padded to 50 columns, as nginx lays it out (bytes, not characters) */
    for (size_t c = nl + (size_t)v[i].is_dir; c < 51; c++)
      put(&w, " ", 1);
    http_date_format(v[i].mtime, date);
    put(&w, date, strlen(date));
    if (v[i].is_dir)
      snprintf(num, sizeof(num), " %20s\n", "-");
    else
      snprintf(num, sizeof(num), " %20llu\n", (unsigned long long)v[i].size);
    puts_(&w, num);
  }
  puts_(&w, "</pre><hr>");
  if (omitted) {
    snprintf(num, sizeof(num), "%zu", omitted);
    puts_(&w, "<p>");
    puts_(&w, num);
    puts_(&w, " more entries are not shown (a listing shows at most the first, by name).</p>");
  }
  puts_(&w, "</body>\n</html>\n");
  return w.len;
}

size_t http_autoindex_json(const struct http_dirent *v, size_t n, char *out, size_t cap) {
  struct w w = {out, cap, 0};
  char num[64], date[HTTP_DATE_LEN + 1];
  puts_(&w, "[\n");
  for (size_t i = 0; i < n; i++) {
    puts_(&w, "{ \"name\":");
    put_json(&w, v[i].name);
    puts_(&w, v[i].is_dir ? ", \"type\":\"directory\"" : ", \"type\":\"file\"");
    http_date_format(v[i].mtime, date);
    puts_(&w, ", \"mtime\":\"");
    puts_(&w, date);
    puts_(&w, "\"");
    if (!v[i].is_dir) {
      snprintf(num, sizeof(num), ", \"size\":%llu", (unsigned long long)v[i].size);
      puts_(&w, num);
    }
    puts_(&w, i + 1 < n ? " },\n" : " }\n");
  }
  puts_(&w, "]\n");
  return w.len;
}
