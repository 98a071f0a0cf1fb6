/* Combined-format access log lines, formatted on the worker's loop thread into a buffer
 * that access_log.c writes on the pool. Every client-supplied byte is escaped so a request
 * can neither forge a log line (CR, LF) nor a field ('"') nor a terminal sequence (ESC).
 * Times are UTC and month names are our own table: the log must not depend on the locale. */
#include "http_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char month_name[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char hex[] = "0123456789abcdef";

static int needs_escape(unsigned char c) {
  return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

/* Escapes as much of in as fits whole; *done is 1 if all of it did. */
static size_t escape(const char *in, size_t len, char *out, size_t cap, int *done) {
  size_t i, o = 0;
  unsigned char c;

  for (i = 0; i < len; i++) {
    c = (unsigned char)in[i];
    if (needs_escape(c)) {
      if (cap - o < 4)
        break;
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 0xf];
    } else {
      if (cap - o < 1)
        break;
      out[o++] = (char)c;
    }
  }
  *done = i == len;
  return o;
}

size_t http_log_escape(const char *in, size_t len, char *out, size_t cap) {
  int done;

  return escape(in, len, out, cap, &done);
}

/* The writer of one line: appends while it fits, then remembers that it did not. */
struct line {
  char *buf;
  size_t cap, len;
  int full;
};

static void put(struct line *l, const char *s, size_t n) {
  if (l->full || l->cap - l->len < n) {
    l->full = 1;
    return;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void put_escaped(struct line *l, const char *s, size_t n) {
  int done;

  if (l->full)
    return;
  l->len += escape(s, n, l->buf + l->len, l->cap - l->len, &done);
  if (!done)
    l->full = 1;
}

/* A quoted client field, or "-" when absent. */
static void put_quoted(struct line *l, const char *s, size_t n) {
  put(l, "\"", 1);
  if (s == NULL)
    put(l, "-", 1);
  else
    put_escaped(l, s, n);
  put(l, "\"", 1);
}

int http_log_format(char *out, size_t cap, const struct http_log_entry *e) {
  struct line l = {out, cap, 0, 0};
  char tmp[64];
  struct tm tm;
  time_t t = e->time;
  int n;

  if (e->remote_addr != NULL)
    put_escaped(&l, e->remote_addr, strlen(e->remote_addr));
  else
    put(&l, "-", 1);
  if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900 || tm.tm_year < -1900) {
    t = 0; /* a clock this wrong is not worth a malformed line */
    gmtime_r(&t, &tm);
  }
  n = snprintf(tmp, sizeof tmp, " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] ", tm.tm_mday,
               month_name[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  put(&l, tmp, (size_t)n);
  put_quoted(&l, e->request_line, e->request_line_len);
  n = snprintf(tmp, sizeof tmp, " %d %llu ", e->status, (unsigned long long)e->body_bytes);
  put(&l, tmp, (size_t)n);
  put_quoted(&l, e->referer, e->referer_len);
  put(&l, " ", 1);
  put_quoted(&l, e->user_agent, e->user_agent_len);
  if (e->tls) {
    put(&l, " ", 1);
    put_quoted(&l, e->tls, strlen(e->tls));
  }
  put(&l, "\n", 1);
  put(&l, "", 1); /* room for the NUL, which is not counted */
  if (l.full) {
    if (cap > 0)
      out[0] = '\0';
    return -ENOBUFS;
  }
  return (int)(l.len - 1);
}
