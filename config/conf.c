/* The config module: reads a libconfig file and validates it into one immutable conf_t.
 * Runs in the supervisor (at start, on reload, for `-t`); workers only read the snapshot they
 * inherit across fork. Every problem is collected, not just the first, so one `evcluster -t`
 * shows the operator everything to fix. Nothing here logs: errors go into the caller's buffer.
 * Table-driven: each key has a spec (name, handler, field, range); adding a key is one row. */
#include "conf.h"
#include "conf_tls.h"
#include "conf_priv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define WORKERS_MAX 1024
#define THREADS_MAX 1024
/* Timeouts become millisecond timers; a day is beyond any sane timeout and keeps every
 * conversion far from overflow. */
#define SECONDS_MAX 86400.0
/* The worker turns seconds into whole milliseconds by truncation: less than one would be a
 * 0 ms timeout, firing at once. */
#define SECONDS_MIN 0.001
/* The longest control socket path: sockaddr_un's sun_path, less its NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Allocation failure aborts (style.md): callers need no NULL checks. */
void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fputs("evcluster: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fputs("evcluster: out of memory\n", stderr);
    abort();
  }
  return p;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

/* dir + "/" + name; name as is when absolute. dir has no trailing slash unless it is "/". */
char *path_join(const char *dir, const char *name) {
  if (name[0] == '/')
    return xstrdup(name);
  size_t dl = strlen(dir), nl = strlen(name);
  int slash = dl > 0 && dir[dl - 1] != '/';
  char *p = xmalloc(dl + slash + nl + 1);
  memcpy(p, dir, dl);
  if (slash)
    p[dl] = '/';
  memcpy(p + dl + slash, name, nl + 1);
  return p;
}

/* "timeouts.keepalive", "listen[1]": the key as an operator would name it. */
static void key_path(const config_setting_t *s, char *out, size_t n) {
  out[0] = '\0';
  if (!s || config_setting_is_root(s))
    return;
  key_path(config_setting_parent(s), out, n);
  size_t len = strlen(out);
  const char *name = config_setting_name(s);
  if (name)
    snprintf(out + len, n - len, "%s%s", len ? "." : "", name);
  else
    snprintf(out + len, n - len, "[%d]", config_setting_index(s));
}

/* Text for an error line with control bytes, '"' and '\\' escaped: a path or a string from the
 * file must not be able to break the report into lines that look like errors of their own. */
const char *escape(const char *in, char *buf, size_t n) {
  const unsigned char *v = (const unsigned char *)in;
  size_t o = 0;
  for (; *v && o + 8 < n; v++) {
    if (*v < 0x20 || *v == 0x7f || *v == '"' || *v == '\\')
      o += (size_t)snprintf(buf + o, n - o, *v == '"' || *v == '\\' ? "\\%c" : "\\x%02x", *v);
    else
      buf[o++] = (char)*v;
  }
  snprintf(buf + o, n - o, "%s", *v ? "..." : "");
  return buf;
}

/* The shortest text that reads back as v, so that 86400.0001 is not shown as 86400, and with
 * a ".0" where it would look like an integer, so that 1e3 is not shown as the integer 1000. */
static void describe_float(double v, char *buf, size_t n) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  if (isfinite(v) && !strpbrk(buf, ".e") && strlen(buf) + 3 <= n)
    strcat(buf, ".0");
}

/* The value as found in the file, for "got ...": strings quoted, control bytes escaped. */
const char *describe(const config_setting_t *s, char *buf, size_t n) {
  switch (config_setting_type(s)) {
  case CONFIG_TYPE_INT:
    snprintf(buf, n, "%d", config_setting_get_int(s));
    break;
  case CONFIG_TYPE_INT64:
    snprintf(buf, n, "%lld", config_setting_get_int64(s));
    break;
  case CONFIG_TYPE_FLOAT:
    describe_float(config_setting_get_float(s), buf, n);
    break;
  case CONFIG_TYPE_BOOL:
    snprintf(buf, n, "%s", config_setting_get_bool(s) ? "true" : "false");
    break;
  case CONFIG_TYPE_STRING: {
    char esc[256];
    /* two bytes fewer for the quotes */
    snprintf(buf, n, "\"%s\"", escape(config_setting_get_string(s), esc, (n < 256 ? n : 256) - 2));
    break;
  }
  case CONFIG_TYPE_GROUP:
    snprintf(buf, n, "a group");
    break;
  case CONFIG_TYPE_ARRAY:
    snprintf(buf, n, "an array");
    break;
  case CONFIG_TYPE_LIST:
    snprintf(buf, n, "a list");
    break;
  default:
    snprintf(buf, n, "nothing");
    break;
  }
  return buf;
}

/* An @include path as libconfig reports it (relative to the include dir) made absolute, so
 * every FILE in the report can be opened from anywhere. */
static const char *errs_file(const errs_t *e, const char *file, char *buf, size_t n) {
  if (!file)
    return e->file;
  if (file[0] == '/' || !e->dir)
    return file;
  snprintf(buf, n, "%s/%s", e->dir, file);
  return buf;
}

/* One line "FILE:LINE: KEY: message\n"; line 0: no ":LINE" (a missing key); key "": none
 * (a syntax error or an unopenable file). */
static void errs_vput(errs_t *e, const char *file, unsigned lineno, const char *key,
                      const char *fmt, va_list ap) {
  char msg[768], line[1280], where[32] = "";
  vsnprintf(msg, sizeof(msg), fmt, ap);
  if (lineno > 0)
    snprintf(where, sizeof(where), ":%u", lineno);
  int n = snprintf(line, sizeof(line), "%s%s: %s%s%s\n", file, where, key, *key ? ": " : "", msg);
  e->n++;
  if (!e->buf || e->cap == 0 || e->full)
    return;
  size_t len = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
  if (len > 0)
    line[len - 1] = '\n'; /* a cut line still ends its line */
  if (e->len + len < e->cap) {
    memcpy(e->buf + e->len, line, len + 1);
    e->len += len;
    return;
  }
  e->full = 1;
  if (e->len + 4 < e->cap) {
    memcpy(e->buf + e->len, "...\n", 5);
    e->len += 4;
  }
}

__attribute__((format(printf, 5, 6))) static void
errs_at(errs_t *e, const char *file, unsigned lineno, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errs_vput(e, file, lineno, key, fmt, ap);
  va_end(ap);
}

/* An error about setting s: its file (an @include names its own), its line, its key path.
 * s NULL: a key that is missing, named by key. */
__attribute__((format(printf, 4, 5))) void errs_add(errs_t *e, const config_setting_t *s,
                                                           const char *key, const char *fmt, ...) {
  char kp[256], fbuf[PATH_MAX + 256];
  va_list ap;
  if (!key) {
    key_path(s, kp, sizeof(kp));
    key = kp;
  }
  const char *file = errs_file(e, s ? config_setting_source_file(s) : NULL, fbuf, sizeof(fbuf));
  va_start(ap, fmt);
  errs_vput(e, file, s ? config_setting_source_line(s) : 0, key, fmt, ap);
  va_end(ap);
}

/* ---- the lexical pre-scan ----
 * libconfig 1.5 (Debian 12) reads an integer literal without L through atoi or strtoul into an
 * int, with no error: 4294967298 becomes 2, 0x100000001 becomes 1, so the value is wrong before
 * any check below sees it. This pass applies libconfig's own token rules (its scanner.l) to the
 * file and every @include, in libconfig's order, before libconfig reads them, and rejects the
 * literals it would change. It also tracks key paths, so that it can name the key of such a
 * literal, the key behind libconfig's bare "duplicate setting name", and the path behind its
 * "cannot open include file". libconfig stays the judge of syntax: this pass only explains. */

#define SCAN_INCLUDES 10           /* libconfig's include nesting limit */
#define SCAN_NEST 32               /* groups and lists deeper than this are not named */
#define SCAN_SEEN_MAX 4096         /* keys remembered for duplicates */
#define SCAN_BYTES_MAX (16u << 20) /* larger files are left to libconfig alone */

typedef struct scan_frame {
  int list;   /* a list or an array: its elements are named by index */
  int index;  /* list: the element being read */
  size_t len; /* the length of the key of the setting that opened it */
} scan_frame_t;

typedef struct scan_seen {
  char *key, *file;
  unsigned line;
} scan_seen_t;

typedef struct scan {
  errs_t *e;
  const char *dir; /* the include dir conf_load gives libconfig */
  char key[256];   /* the current key, as key_path() writes it */
  char name[128];  /* the last name, until its '=' or ':' */
  int has_name;
  scan_frame_t fr[SCAN_NEST];
  int nfr, deep;     /* frames open (fr[0]: the top level); frames beyond SCAN_NEST */
  scan_seen_t *seen; /* keys set so far */
  size_t nseen;
  scan_seen_t dup, dup_first; /* the first key set twice, and where it was set before */
  scan_seen_t inc;            /* the first @include that cannot be opened: file, line, path */
  int inc_err;
  /* control_socket's value as written (conf_control_socket_guess): set while the strings
   * after "control_socket =" at the top level are read (libconfig joins adjacent ones) */
  int ctl_open, ctl_found;
  char ctl[PATH_MAX];
  size_t ctl_len;
} scan_t;

static size_t span_digits(const char *p, const char *end, int hex) {
  size_t n = 0;
  while (p + n < end && (hex ? isxdigit((unsigned char)p[n]) : isdigit((unsigned char)p[n])))
    n++;
  return n;
}

/* The "L" or "LL" of integer64 and hex64. */
static size_t span_suffix(const char *p, const char *end) {
  size_t n = 0;
  while (n < 2 && p + n < end && p[n] == 'L')
    n++;
  return n;
}

/* [eE][-+]?[0-9]+, or 0 */
static size_t span_exponent(const char *p, const char *end) {
  if (p >= end || (*p != 'e' && *p != 'E'))
    return 0;
  size_t s = p + 1 < end && (p[1] == '-' || p[1] == '+') ? 2 : 1;
  size_t d = span_digits(p + s, end, 0);
  return d ? s + d : 0;
}

/* The length of the number token at p, as flex's longest match over libconfig's rules
 * integer [-+]?[0-9]+, integer64 (the same)L(L)?, hex 0[Xx][0-9A-Fa-f]+, hex64 (the same)L(L)?
 * and float ([-+]?[0-9]*\.[0-9]*([eE][-+]?[0-9]+)?)|([-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+)
 * picks it; 0 if none starts here. *is_int: the token is one of the integer kinds, so 1e3, .5
 * and 1.5e-3 are floats and never checked as integers. */
static size_t number_len(const char *p, const char *end, int *is_int) {
  size_t s = *p == '-' || *p == '+', best = 0;
  size_t d = span_digits(p + s, end, 0);
  *is_int = 0;
  if (d) {
    best = s + d + span_suffix(p + s + d, end);
    *is_int = 1;
  }
  if (!s && d == 1 && p[0] == '0' && p + 2 < end && (p[1] == 'x' || p[1] == 'X') &&
      isxdigit((unsigned char)p[2])) {
    size_t x = 2 + span_digits(p + 2, end, 1);
    x += span_suffix(p + x, end);
    if (x > best)
      best = x;
  }
  size_t f = s + d;
  int dot = p + f < end && p[f] == '.';
  if (dot)
    f += 1 + span_digits(p + f + 1, end, 0);
  size_t x = span_exponent(p + f, end);
  if ((dot || (d && x)) && f + x > best) {
    best = f + x;
    *is_int = 0;
  }
  return best;
}

/* 1 if libconfig 1.5 keeps integer token t (n bytes) as written: plain decimal within int,
 * plain hex up to 0x7fffffff (strtoul's 0x80000000 and above turn negative in the int), and
 * with L within long long (atoll saturates, the hex parse wraps). */
static int int_fits(const char *t, size_t n) {
  size_t l = 0, i = 0;
  while (n > 0 && t[n - 1] == 'L') {
    n--;
    l++;
  }
  int neg = t[0] == '-', hex = n > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
  i = hex ? 2 : (size_t)(t[0] == '-' || t[0] == '+');
  while (i + 1 < n && t[i] == '0')
    i++;
  size_t m = n - i;
  if (hex) {
    size_t lim = l ? 16 : 8;
    return m < lim || (m == lim && t[i] <= '7');
  }
  const char *max = l ? (neg ? "9223372036854775808" : "9223372036854775807")
                      : (neg ? "2147483648" : "2147483647");
  size_t ml = strlen(max);
  return m < ml || (m == ml && memcmp(t + i, max, ml) <= 0);
}

/* The key a value at this point belongs to: a list's element gets its "[i]". */
static const char *scan_value_key(scan_t *sc) {
  if (sc->deep)
    return "";
  const scan_frame_t *f = &sc->fr[sc->nfr - 1];
  if (f->list)
    snprintf(sc->key + f->len, sizeof(sc->key) - f->len, "[%d]", f->index);
  return sc->key;
}

static void scan_number(scan_t *sc, const char *file, unsigned line, const char *t, size_t n) {
  if (int_fits(t, n))
    return;
  int l = t[n - 1] == 'L';
  const char *more = n > 40 ? "..." : "";
  int shown = n > 40 ? 40 : (int)n;
  if (l)
    errs_at(sc->e, file, line, scan_value_key(sc),
            "expected a 64-bit integer, got %.*s%s, which does not fit", shown, t, more);
  else
    errs_at(sc->e, file, line, scan_value_key(sc),
            "expected an integer from -2147483648 to 2147483647 (beyond, a 64-bit one with an "
            "L suffix), got %.*s%s, which libconfig would silently change",
            shown, t, more);
}

static void seen_set(scan_seen_t *s, const char *key, const char *file, unsigned line) {
  free(s->key);
  free(s->file);
  s->key = xstrdup(key);
  s->file = xstrdup(file);
  s->line = line;
}

/* "name =" in a group: the key becomes the group's key and the name; remembered, and the
 * first one met twice kept for libconfig's "duplicate setting name". */
static void scan_setting(scan_t *sc, const char *file, unsigned line) {
  if (sc->deep)
    return;
  size_t len = sc->fr[sc->nfr - 1].len;
  snprintf(sc->key + len, sizeof(sc->key) - len, "%s%s", len ? "." : "", sc->name);
  if (strcmp(sc->key, "control_socket") == 0) {
    sc->ctl_open = sc->ctl_found = 1;
    sc->ctl_len = 0;
  }
  for (size_t i = 0; i < sc->nseen; i++) {
    if (strcmp(sc->seen[i].key, sc->key) == 0) {
      if (!sc->dup.key) {
        seen_set(&sc->dup, sc->key, file, line);
        seen_set(&sc->dup_first, sc->key, sc->seen[i].file, sc->seen[i].line);
      }
      return;
    }
  }
  if (sc->nseen == SCAN_SEEN_MAX)
    return;
  if (sc->nseen % 64 == 0)
    sc->seen = xrealloc(sc->seen, (sc->nseen + 64) * sizeof(*sc->seen));
  memset(&sc->seen[sc->nseen], 0, sizeof(sc->seen[0]));
  seen_set(&sc->seen[sc->nseen++], sc->key, file, line);
}

static void scan_punct(scan_t *sc, char ch, const char *file, unsigned line) {
  scan_frame_t *top = &sc->fr[sc->nfr - 1];
  sc->ctl_open = 0; /* the value ended (its '=' opens it again, in scan_setting) */
  if ((ch == '=' || ch == ':') && sc->has_name && !top->list)
    scan_setting(sc, file, line);
  sc->has_name = 0;
  if (ch == '{' || ch == '(' || ch == '[') {
    if (sc->deep || sc->nfr == SCAN_NEST) {
      sc->deep++;
      return;
    }
    scan_value_key(sc);
    sc->fr[sc->nfr++] = (scan_frame_t){ch != '{', 0, strlen(sc->key)};
  } else if (ch == '}' || ch == ')' || ch == ']') {
    if (sc->deep)
      sc->deep--;
    else if (sc->nfr > 1)
      sc->nfr--;
  } else if (ch == ',' && !sc->deep && top->list) {
    top->index++;
  }
}

static void scan_file(scan_t *sc, const char *shown, const char *path, const char *from,
                      unsigned from_line, int depth);

/* At p, after only blanks on its line: `@include "NAME"` (libconfig's include_open rule, with
 * its \\ and \" escapes). Returns 0 if there is none; else scans the file where libconfig 1.5
 * looks for it (the include dir, "/", NAME, whatever NAME is) and moves *pp past the quote. */
static int scan_include(scan_t *sc, const char *file, const char **pp, const char *end,
                        unsigned *line, int depth) {
  static const char kw[] = "@include";
  const char *p = *pp;
  if ((size_t)(end - p) < sizeof(kw) || memcmp(p, kw, sizeof(kw) - 1) != 0)
    return 0;
  p += sizeof(kw) - 1;
  const char *blanks = p;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p == blanks || p >= end || *p != '"')
    return 0;
  char name[PATH_MAX], fbuf[PATH_MAX + 256];
  size_t n = 0;
  for (p++; p < end && *p != '"'; p++) {
    if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == '"'))
      p++;
    *line += *p == '\n';
    if (n + 1 < sizeof(name))
      name[n++] = *p;
  }
  name[n] = '\0';
  *pp = p < end ? p + 1 : end;
  if (depth + 1 >= SCAN_INCLUDES)
    return 1; /* libconfig reports the nesting */
  char *path = xmalloc(strlen(sc->dir) + n + 2);
  sprintf(path, "%s/%s", sc->dir, name);
  scan_file(sc, errs_file(sc->e, name, fbuf, sizeof(fbuf)), path, file, *line, depth + 1);
  free(path);
  return 1;
}

/* Appends a string literal's text (s to e, between its quotes) to the control_socket value,
 * unescaped as libconfig's scanner does: \\ \" \f \n \r \t \xHH. */
static void scan_ctl_append(scan_t *sc, const char *s, const char *e) {
  for (; s < e && sc->ctl_len + 1 < sizeof(sc->ctl); s++) {
    char c = *s;
    if (c == '\\' && s + 1 < e) {
      c = *++s;
      if (c == 'x' && s + 2 < e && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
        char hex[3] = {s[1], s[2], '\0'};
        c = (char)strtol(hex, NULL, 16);
        s += 2;
      } else {
        c = c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
      }
    }
    sc->ctl[sc->ctl_len++] = c;
  }
  sc->ctl[sc->ctl_len] = '\0';
}

static void scan_text(scan_t *sc, const char *file, const char *p, const char *end, int depth) {
  unsigned line = 1;
  int bol = 1; /* only blanks since the line began: where an @include may stand */
  while (p < end) {
    char ch = *p;
    int is_int;
    size_t n;
    if (ch == '\n') {
      line++, bol = 1, p++;
    } else if (ch == ' ' || ch == '\t') {
      p++;
    } else if (bol && ch == '@' && scan_include(sc, file, &p, end, &line, depth)) {
      bol = 0;
    } else if (ch == '#' || (ch == '/' && p + 1 < end && p[1] == '/')) {
      while (p < end && *p != '\n')
        p++;
    } else if (ch == '/' && p + 1 < end && p[1] == '*') {
      for (p += 2; p < end && !(p[0] == '*' && p + 1 < end && p[1] == '/'); p++)
        line += *p == '\n';
      p = p < end ? p + 2 : end;
      bol = 0;
    } else if (ch == '"') {
      /* any escape is a backslash and one byte: \" and \\ included, \x41 read on as text */
      const char *s = p + 1;
      for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end)
          p++;
        line += *p == '\n';
      }
      if (sc->ctl_open)
        scan_ctl_append(sc, s, p);
      p = p < end ? p + 1 : end;
      bol = 0, sc->has_name = 0;
    } else if (isalpha((unsigned char)ch) || ch == '*') {
      const char *s = p;
      while (p < end && (isalnum((unsigned char)*p) || strchr("-_*", *p)))
        p++;
      n = (size_t)(p - s);
      /* true and false are values, not names (flex prefers the earlier rule) */
      sc->has_name = !((n == 4 && strncasecmp(s, "true", 4) == 0) ||
                       (n == 5 && strncasecmp(s, "false", 5) == 0));
      snprintf(sc->name, sizeof(sc->name), "%.*s", (int)n, s);
      bol = 0, sc->ctl_open = 0;
    } else if ((n = number_len(p, end, &is_int)) > 0) {
      if (is_int)
        scan_number(sc, file, line, p, n);
      p += n;
      bol = 0, sc->has_name = 0, sc->ctl_open = 0;
    } else {
      scan_punct(sc, ch, file, line);
      p++;
      bol = 0;
    }
  }
}

/* Reads a regular file whole; anything else (a FIFO, a device) is left to libconfig. */
static char *scan_read(const char *path, size_t *len, int *err) {
  struct stat st;
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  *err = 0;
  char *buf = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= SCAN_BYTES_MAX) {
    buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
      ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      got += (size_t)r;
    }
    *len = got;
  }
  close(fd);
  return buf;
}

/* shown: the file's name in errors; from, from_line: the @include naming it (NULL: none). */
static void scan_file(scan_t *sc, const char *shown, const char *path, const char *from,
                      unsigned from_line, int depth) {
  size_t len = 0;
  int err;
  char *buf = scan_read(path, &len, &err);
  if (err && from && !sc->inc.key) {
    seen_set(&sc->inc, path, from, from_line);
    sc->inc_err = err;
  }
  if (!buf)
    return;
  char *copy = xstrdup(shown); /* shown may be a caller's buffer that an include reuses */
  scan_text(sc, copy, buf, buf + len, depth);
  free(copy);
  free(buf);
}

/* Scans the config file and its includes; errors (out-of-range literals) go to e. */
static void scan_init(scan_t *sc, errs_t *e, const char *dir) {
  memset(sc, 0, sizeof(*sc));
  sc->e = e;
  sc->dir = dir;
  sc->nfr = 1;
}

static void scan_close(scan_t *sc) {
  for (size_t i = 0; i < sc->nseen; i++) {
    free(sc->seen[i].key);
    free(sc->seen[i].file);
  }
  free(sc->seen);
  scan_seen_t *own[] = {&sc->dup, &sc->dup_first, &sc->inc};
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
    free(own[i]->key);
    free(own[i]->file);
  }
}

/* libconfig's parse error at file:line, with what the scan knows about it added. */
static void scan_explain(const scan_t *sc, const char *file, unsigned line, const char *text) {
  char shown[512];
  if (strcmp(text, "duplicate setting name") == 0 && sc->dup.key && sc->dup.line == line &&
      strcmp(sc->dup.file, file) == 0) {
    errs_at(sc->e, file, line, sc->dup.key, "%s (first set at %s:%u)", text, sc->dup_first.file,
            sc->dup_first.line);
  } else if (strcmp(text, "cannot open include file") == 0 && sc->inc.key && sc->inc.line == line &&
             strcmp(sc->inc.file, file) == 0) {
    errs_at(sc->e, file, line, "", "%s %s: %s", text, escape(sc->inc.key, shown, sizeof(shown)),
            strerror(sc->inc_err));
  } else {
    errs_at(sc->e, file, line, "", "%s", text);
  }
}

/* ---- scalar checks: each reports its own error and returns 0 or -1 ---- */

/* Below the range says ">= min", above says "<= max", a wrong type gives the whole range:
 * the message names the bound the operator crossed. */
int get_int(ctx_t *x, const config_setting_t *s, long long min, long long max,
                   const char *alt, int *out) {
  char got[96], want[96];
  int t = config_setting_type(s);
  if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
    long long v = config_setting_get_int64(s);
    if (v >= min && v <= max) {
      *out = (int)v;
      return 0;
    }
    if (v < min)
      snprintf(want, sizeof(want), "an integer >= %lld", min);
    else
      snprintf(want, sizeof(want), "an integer <= %lld", max);
  } else if (max >= INT_MAX) {
    snprintf(want, sizeof(want), "an integer >= %lld", min);
  } else {
    snprintf(want, sizeof(want), "an integer from %lld to %lld", min, max);
  }
  /* 3.0 or 1e3 may well be in range: the message must say that the type is what is wrong */
  errs_add(x->e, s, NULL, "expected %s%s, got %s%s", want, alt ? alt : "",
           t == CONFIG_TYPE_FLOAT ? "the float " : "", describe(s, got, sizeof(got)));
  return -1;
}

int get_string(ctx_t *x, const config_setting_t *s, const char **out) {
  char got[96];
  const char *v =
      config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
  if (v && *v) {
    *out = v;
    return 0;
  }
  errs_add(x->e, s, NULL, "expected a non-empty string, got %s", describe(s, got, sizeof(got)));
  return -1;
}

/* ---- key handlers ---- */

#define OFF(f) offsetof(conf_t, f)
#define FIELD(x, k, type) ((type *)(void *)((char *)(x)->c + (k)->off))

static void key_int(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  get_int(x, s, k->min, k->max, NULL, FIELD(x, k, int));
}

/* Seconds: an integer or a float, > 0 (AUTOCONVERT is on, but the type is checked here so
 * that a string or a bool is an error rather than 0). */
static void key_seconds(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  int t = config_setting_type(s);
  if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT) {
    double v =
        t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int64(s);
    if (isfinite(v) && v >= SECONDS_MIN && v <= SECONDS_MAX) {
      *FIELD(x, k, double) = v;
      return;
    }
    errs_add(x->e, s, NULL, "expected a number of seconds %s, got %s",
             v > SECONDS_MAX ? "<= 86400"
             : v > 0         ? ">= 0.001 (timers count whole milliseconds)"
                             : "> 0",
             describe(s, got, sizeof(got)));
    return;
  }
  errs_add(x->e, s, NULL, "expected a number of seconds > 0, got %s",
           describe(s, got, sizeof(got)));
}

/* A share from 0 to 1 (recycle.jitter): an integer or a float. */
static void key_fraction(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  int t = config_setting_type(s);
  if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT) {
    double v =
        t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int64(s);
    if (isfinite(v) && v >= 0.0 && v <= 1.0) {
      *FIELD(x, k, double) = v;
      return;
    }
  }
  errs_add(x->e, s, NULL, "expected a number from 0 to 1, got %s", describe(s, got, sizeof(got)));
}

/* Seconds where 0 means "none" (drain_delay): 0, or as key_seconds. */
static void key_seconds0(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  int t = config_setting_type(s);
  if ((t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) && config_setting_get_int64(s) == 0) {
    *FIELD(x, k, double) = 0.0;
    return;
  }
  if (t == CONFIG_TYPE_FLOAT && config_setting_get_float(s) == 0.0) {
    *FIELD(x, k, double) = 0.0;
    return;
  }
  key_seconds(x, s, k);
}

void key_bool(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  if (config_setting_type(s) == CONFIG_TYPE_BOOL)
    *FIELD(x, k, int) = config_setting_get_bool(s) != 0;
  else
    errs_add(x->e, s, NULL, "expected true or false, got %s", describe(s, got, sizeof(got)));
}

static void key_workers(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  (void)k;
  if (config_setting_type(s) != CONFIG_TYPE_STRING) {
    if (get_int(x, s, 1, WORKERS_MAX, " or \"auto\"", &x->c->workers) == 0)
      x->c->workers_auto = 0;
    return;
  }
  if (strcmp(config_setting_get_string(s), "auto") != 0) {
    errs_add(x->e, s, NULL, "expected an integer >= 1 or \"auto\", got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  x->c->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
  x->c->workers_auto = 1;
}

/* A file path: resolved against the config's folder, and its folder must exist now, so that
 * `-t` catches a typo instead of the server failing at start. */
static void key_path_value(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const char *v;
  char **field = FIELD(x, k, char *), got[96];
  struct stat st;
  if (get_string(x, s, &v) < 0)
    return;
  if (k->word && strcmp(v, k->word) == 0) {
    free(*field);
    *field = NULL;
    return;
  }
  char *abs = path_join(x->c->dir, v);
  char *slash = strrchr(abs, '/');
  char *parent = slash == abs ? xstrdup("/") : strndup(abs, (size_t)(slash - abs));
  if (!parent) {
    fputs("evcluster: out of memory\n", stderr);
    abort();
  }
  char shown[512]; /* a path in the message, escaped */
  if (stat(parent, &st) < 0) {
    int err = errno;
    errs_add(x->e, s, NULL, "expected a path in an existing folder, got %s (%s: %s)",
             describe(s, got, sizeof(got)), escape(parent, shown, sizeof(shown)), strerror(err));
  } else if (!S_ISDIR(st.st_mode)) {
    errs_add(x->e, s, NULL, "expected a path in an existing folder, got %s (%s: %s)",
             describe(s, got, sizeof(got)), escape(parent, shown, sizeof(shown)),
             strerror(ENOTDIR));
  } else if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
    errs_add(x->e, s, NULL, "expected a file path, got %s (%s is a folder)",
             describe(s, got, sizeof(got)), escape(abs, shown, sizeof(shown)));
  } else if (k->off == offsetof(conf_t, control_socket) && strlen(abs) > SOCKET_PATH_MAX) {
    errs_add(x->e, s, NULL, "expected a path of at most %zu bytes (a Unix socket), got %zu (%s)",
             SOCKET_PATH_MAX, strlen(abs), escape(abs, shown, sizeof(shown)));
  } else {
    free(*field);
    *field = abs;
    abs = NULL;
  }
  free(parent);
  free(abs);
}

void key_root(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const char *v;
  char got[96];
  struct stat st;
  (void)k;
  if (get_string(x, s, &v) < 0)
    return;
  char *abs = path_join(x->c->dir, v);
  char *real = realpath(abs, NULL);
  char shown[512]; /* a path in the message, escaped */
  if (!real) {
    int err = errno;
    errs_add(x->e, s, NULL, "expected an existing folder, got %s (%s: %s)",
             describe(s, got, sizeof(got)), escape(abs, shown, sizeof(shown)), strerror(err));
  } else if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
    errs_add(x->e, s, NULL, "expected a folder, got %s (%s is not a folder)",
             describe(s, got, sizeof(got)), escape(real, shown, sizeof(shown)));
  } else if (access(real, R_OK | X_OK) < 0) {
    int err = errno;
    errs_add(x->e, s, NULL, "expected a readable folder, got %s (%s: %s)",
             describe(s, got, sizeof(got)), escape(real, shown, sizeof(shown)), strerror(err));
  } else {
    free(x->c->root);
    x->c->root = real;
    real = NULL;
  }
  free(real);
  free(abs);
}

void key_index(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const char *v;
  char got[96];
  (void)k;
  if (get_string(x, s, &v) < 0)
    return;
  if (strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
    errs_add(x->e, s, NULL, "expected a file name without '/', got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  /* a longer name cannot exist: every directory request would end in 404 */
  if (strlen(v) > NAME_MAX) {
    errs_add(x->e, s, NULL, "expected a file name of at most %d bytes, got %zu bytes", NAME_MAX,
             strlen(v));
    return;
  }
  free(x->c->index);
  x->c->index = xstrdup(v);
}

/* getpwnam_r/getgrnam_r take a buffer whose size is only a hint: grow it on ERANGE.
 * 0 found, -ENOENT not found, else -errno. */
static int lookup_id(const char *name, int is_user, uid_t *uid, gid_t *gid) {
  size_t n = 4096;
  char *buf = NULL;
  int rc;
  for (;;) {
    buf = xrealloc(buf, n);
    if (is_user) {
      struct passwd pw, *res = NULL;
      rc = getpwnam_r(name, &pw, buf, n, &res);
      if (rc == 0 && res) {
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
      }
      rc = rc == 0 && !res ? ENOENT : rc;
    } else {
      struct group gr, *res = NULL;
      rc = getgrnam_r(name, &gr, buf, n, &res);
      if (rc == 0 && res)
        *gid = gr.gr_gid;
      rc = rc == 0 && !res ? ENOENT : rc;
    }
    if (rc != ERANGE || n >= (1u << 20))
      break;
    n *= 4;
  }
  free(buf);
  return rc == ESRCH ? -ENOENT : -rc;
}

/* user and group are resolved now, so `-t` catches a typo; the supervisor only applies the
 * ids. The user's primary group becomes gid when no group is given (conf_load). */
static void key_user(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const char *v;
  char got[96];
  int is_user = k->off == OFF(user);
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  if (get_string(x, s, &v) < 0)
    return;
  int rc = lookup_id(v, is_user, &uid, &gid);
  if (rc == -ENOENT) {
    errs_add(x->e, s, NULL, "expected an existing %s name, got %s", k->name,
             describe(s, got, sizeof(got)));
    return;
  }
  if (rc < 0) {
    errs_add(x->e, s, NULL, "cannot look up %s %s: %s", k->name, describe(s, got, sizeof(got)),
             strerror(-rc));
    return;
  }
  if (is_user) {
    x->c->uid = uid;
    x->user_gid = gid;
  } else {
    x->c->gid = gid;
  }
  char **field = FIELD(x, k, char *);
  free(*field);
  *field = xstrdup(v);
}

/* "127.0.0.1:8080", "[::1]:8080", "*:8080" and ":8080" (IPv4 any), "[::]:8080". Host names
 * are not resolved: a listener must not depend on DNS at start, and "localhost" may mean
 * either family. Returns 0, or -1 with the reason in why. */
static int listen_parse(const char *text, conf_listen_t *l, char *why, size_t whyn) {
  const char *host, *hend, *port;
  int v6 = 0;
  char h[INET6_ADDRSTRLEN + 1], norm[INET6_ADDRSTRLEN + 16];

  if (text[0] == '[') {
    host = text + 1;
    hend = strchr(host, ']');
    if (!hend)
      return snprintf(why, whyn, "missing ']'"), -1;
    if (hend[1] != ':')
      return snprintf(why, whyn, "missing ':' and a port after ']'"), -1;
    port = hend + 2;
    v6 = 1;
  } else {
    hend = strrchr(text, ':');
    if (!hend)
      return snprintf(why, whyn, "missing ':' and a port"), -1;
    host = text;
    port = hend + 1;
    if (memchr(host, ':', (size_t)(hend - host)))
      return snprintf(why, whyn, "IPv6 addresses go in brackets: \"[::1]:8080\""), -1;
  }
  size_t hl = (size_t)(hend - host), pl = strlen(port);
  if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl || atoi(port) > 65535)
    return snprintf(why, whyn, "the port must be a number from 0 to 65535"), -1;
  if (hl >= sizeof(h))
    return snprintf(why, whyn, "the host is not a numeric address"), -1;
  memcpy(h, host, hl);
  h[hl] = '\0';
  unsigned short pn = (unsigned short)atoi(port);

  memset(&l->addr, 0, sizeof(l->addr));
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(pn);
    if (inet_pton(AF_INET6, h, &a->sin6_addr) != 1)
      return snprintf(why, whyn, "\"%s\" is not an IPv6 address", h), -1;
    /* Listeners set IPV6_V6ONLY (one socket per family), so ::ffff:a.b.c.d cannot be bound. */
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      char v4[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], v4, sizeof(v4));
      return snprintf(why, whyn, "a v4-mapped address cannot be bound: use %s:%u", v4, pn), -1;
    }
    l->addrlen = sizeof(*a);
    inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
    snprintf(norm, sizeof(norm), "[%s]:%u", h, pn);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;
    a->sin_family = AF_INET;
    a->sin_port = htons(pn);
    if (strcmp(h, "") == 0 || strcmp(h, "*") == 0)
      a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, h, &a->sin_addr) != 1) {
      int name = strspn(h, "0123456789.") != hl;
      return snprintf(why, whyn,
                      name ? "host names are not resolved"
                           : "\"%s\" is not an IPv4 "
                             "address",
                      h),
             -1;
    }
    l->addrlen = sizeof(*a);
    inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
    snprintf(norm, sizeof(norm), "%s:%u", h, pn);
  }
  l->text = xstrdup(norm);
  return 0;
}

/* A listener's options: { address = "..."; tls = true; redirect_https = true;
 * proxy_protocol = true; }. Returns the address setting, or NULL (reported). */
static const config_setting_t *listen_group(ctx_t *x, const config_setting_t *s, conf_listen_t *l) {
  char got[96];
  const config_setting_t *addr = NULL;
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
    const char *name = config_setting_name(m);
    int *flag = strcmp(name, "tls") == 0              ? &l->tls
                : strcmp(name, "redirect_https") == 0 ? &l->redirect_https
                : strcmp(name, "proxy_protocol") == 0 ? &l->proxy_protocol
                                                      : NULL;
    if (strcmp(name, "address") == 0) {
      addr = m;
    } else if (!flag) {
      errs_add(x->e, m, NULL,
               "unknown key (a listener takes address, tls, redirect_https, proxy_protocol)");
    } else if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
      errs_add(x->e, m, NULL, "expected true or false, got %s", describe(m, got, sizeof(got)));
    } else {
      *flag = config_setting_get_bool(m) != 0;
    }
  }
  if (!addr)
    errs_add(x->e, s, NULL, "expected address = \"IP:PORT\" in the listener's group");
  else if (l->tls && l->redirect_https)
    errs_add(x->e, s, NULL, "redirect_https is for plain listeners: this one has tls = true");
  return addr;
}

static void listen_one(ctx_t *x, const config_setting_t *s) {
  const char *v;
  char why[128], got[96];
  conf_t *c = x->c;
  conf_listen_t l = {0};
  const config_setting_t *where = s;
  if (config_setting_is_group(s) && !(s = listen_group(x, s, &l)))
    return;
  if (get_string(x, s, &v) < 0)
    return;
  if (listen_parse(v, &l, why, sizeof(why)) < 0) {
    errs_add(x->e, s, NULL,
             "expected \"IPV4:PORT\", \"[IPV6]:PORT\" or \"*:PORT\" with a numeric address, got "
             "%s (%s)",
             describe(s, got, sizeof(got)), why);
    return;
  }
  /* Port 0 included: the supervisor keys its listeners by this text, so "127.0.0.1:0" twice
   * would be one socket, not two kernel-chosen ports. */
  for (size_t i = 0; i < c->n_listen; i++) {
    if (strcmp(c->listen[i].text, l.text) == 0) {
      errs_add(x->e, s, NULL, "expected each address once, got \"%s\" again", l.text);
      free(l.text);
      return;
    }
  }
  c->listen = xrealloc(c->listen, (c->n_listen + 1) * sizeof(*c->listen));
  x->listen_s = xrealloc(x->listen_s, (c->n_listen + 1) * sizeof(*x->listen_s));
  x->listen_s[c->n_listen] = where;
  c->listen[c->n_listen++] = l;
}

/* admin.listen: one address, served by the supervisor (never by workers). */
static void key_admin_listen(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  const char *v;
  char why[128], got[96];
  (void)k;
  if (get_string(x, s, &v) < 0)
    return;
  conf_listen_t l = {0};
  if (listen_parse(v, &l, why, sizeof(why)) < 0) {
    errs_add(x->e, s, NULL,
             "expected \"IPV4:PORT\" or \"[IPV6]:PORT\" with a numeric address, got %s (%s)",
             describe(s, got, sizeof(got)), why);
    return;
  }
  free(x->c->admin.text);
  x->c->admin = l;
}

static void key_listen(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  (void)k;
  if (config_setting_type(s) == CONFIG_TYPE_STRING) {
    listen_one(x, s);
    return;
  }
  if (config_setting_type(s) != CONFIG_TYPE_LIST && config_setting_type(s) != CONFIG_TYPE_ARRAY) {
    errs_add(x->e, s, NULL, "expected an address string or a list of them (strings or "
             "{ address = ...; tls = true; } groups), got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  if (n == 0)
    errs_add(x->e, s, NULL, "expected at least one address, got an empty list");
  for (int i = 0; i < n; i++)
    listen_one(x, config_setting_get_elem(s, (unsigned)i));
}

/* mime_types = { md = "text/markdown"; }: the value goes into a response header as is, so
 * it must be printable ASCII (a CR or LF would let the config inject headers). */
static void key_mime(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_t *c = x->c;
  (void)k;
  if (!config_setting_is_group(s)) {
    errs_add(x->e, s, NULL, "expected a group { ext = \"type\"; ... }, got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
    const char *type;
    char ext[64];
    const char *name = config_setting_name(m);
    size_t nl = strlen(name);
    if (nl >= sizeof(ext) || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != nl) {
      errs_add(x->e, m, NULL, "expected an extension of letters, digits, '-' or '_'");
      continue;
    }
    for (size_t j = 0; j <= nl; j++)
      ext[j] = (char)tolower((unsigned char)name[j]);
    if (get_string(x, m, &type) < 0)
      continue;
    size_t tl = strlen(type), bad = 0;
    for (size_t j = 0; j < tl; j++)
      bad += (unsigned char)type[j] < 0x20 || (unsigned char)type[j] > 0x7e;
    if (bad || !strchr(type, '/')) {
      errs_add(x->e, m, NULL, "expected a media type such as \"text/markdown\", got %s",
               describe(m, got, sizeof(got)));
      continue;
    }
    size_t j;
    for (j = 0; j < c->n_mime && strcmp(c->mime[j].ext, ext) != 0; j++)
      ;
    if (j < c->n_mime) {
      errs_add(x->e, m, NULL, "expected each extension once, got \"%s\" again", ext);
      continue;
    }
    c->mime = xrealloc(c->mime, (c->n_mime + 1) * sizeof(*c->mime));
    c->mime[c->n_mime].ext = xstrdup(ext);
    c->mime[c->n_mime].type = xstrdup(type);
    c->n_mime++;
  }
}

/* tls.certificates = ( { cert = "site.pem"; key = "site.key"; }, ... ): the paths here, the
 * files once every key is read (check_tls). */
void key_certs(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  conf_t *c = x->c;
  (void)k;
  if (config_setting_type(s) != CONFIG_TYPE_LIST) {
    errs_add(x->e, s, NULL, "expected a list ( { cert = \"...\"; key = \"...\"; }, ... ), got %s",
             describe(s, got, sizeof(got)));
    return;
  }
  int n = config_setting_length(s);
  if (n == 0)
    errs_add(x->e, s, NULL, "expected at least one { cert = ...; key = ...; }, got an empty list");
  for (int i = 0; i < n; i++) {
    const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
    const char *v[2] = {NULL, NULL};
    if (!config_setting_is_group(g)) {
      errs_add(x->e, g, NULL, "expected { cert = \"...\"; key = \"...\"; }, got %s",
               describe(g, got, sizeof(got)));
      continue;
    }
    int bad = 0, m = config_setting_length(g);
    for (int j = 0; j < m; j++) {
      const config_setting_t *f = config_setting_get_elem(g, (unsigned)j);
      const char *name = config_setting_name(f);
      int which = strcmp(name, "cert") == 0 ? 0 : strcmp(name, "key") == 0 ? 1 : -1;
      if (which < 0) {
        errs_add(x->e, f, NULL, "unknown key (a certificate takes cert and key)");
        bad = 1;
      } else if (get_string(x, f, &v[which]) < 0) {
        bad = 1;
      }
    }
    for (int which = 0; which < 2; which++)
      if (!v[which] && !bad) {
        errs_add(x->e, g, NULL, "expected %s = \"FILE\" in the certificate's group",
                 which ? "key" : "cert");
        bad = 1;
      }
    if (bad)
      continue;
    c->tls.certs = xrealloc(c->tls.certs, (c->tls.n_certs + 1) * sizeof(*c->tls.certs));
    x->cert_s = xrealloc(x->cert_s, (c->tls.n_certs + 1) * sizeof(*x->cert_s));
    x->cert_s[c->tls.n_certs] = g;
    c->tls.certs[c->tls.n_certs].cert = path_join(c->dir, v[0]);
    c->tls.certs[c->tls.n_certs].key = path_join(c->dir, v[1]);
    c->tls.n_certs++;
  }
}

static void key_tls_version(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : "";
  (void)k;
  if (strcmp(v, "TLSv1.2") == 0)
    x->c->tls.min_version = 0x0303;
  else if (strcmp(v, "TLSv1.3") == 0)
    x->c->tls.min_version = 0x0304;
  else
    errs_add(x->e, s, NULL, "expected \"TLSv1.2\" or \"TLSv1.3\", got %s",
             describe(s, got, sizeof(got)));
}

static void key_group(ctx_t *x, const config_setting_t *s, const key_spec_t *k) {
  char got[96];
  if (!config_setting_is_group(s)) {
    errs_add(x->e, s, NULL, "expected a group { ... }, got %s", describe(s, got, sizeof(got)));
    return;
  }
  walk_keys(x, s, k->sub, NULL);
}

/* ---- the schema ---- */

static const key_spec_t timeout_keys[] = {
    {"graceful", key_seconds, OFF(timeouts.graceful), 0, 0, NULL, NULL, "timeouts"},
    {"keepalive", key_seconds, OFF(timeouts.keepalive), 0, 0, NULL, NULL, "timeouts"},
    {"header", key_seconds, OFF(timeouts.header), 0, 0, NULL, NULL, "timeouts"},
    {"send", key_seconds, OFF(timeouts.send), 0, 0, NULL, NULL, "timeouts"},
    {"drain_delay", key_seconds0, OFF(timeouts.drain_delay), 0, 0, NULL, NULL, "timeouts"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const key_spec_t health_keys[] = {
    {"interval", key_seconds, OFF(health.interval), 0, 0, NULL, NULL, "health"},
    {"misses", key_int, OFF(health.misses), 1, INT_MAX, NULL, NULL, "health"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* max_rss_mb tops at 1 TiB; max_requests at INT_MAX. 0 turns each off. */
static const key_spec_t recycle_keys[] = {
    {"max_rss_mb", key_int, OFF(recycle.max_rss_mb), 0, 1048576, NULL, NULL, "recycle"},
    {"max_requests", key_int, OFF(recycle.max_requests), 0, INT_MAX, NULL, NULL, "recycle"},
    {"jitter", key_fraction, OFF(recycle.jitter), 0, 0, NULL, NULL, "recycle"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const key_spec_t limit_keys[] = {
    {"max_connections", key_int, OFF(limits.max_connections), 1, INT_MAX, NULL, NULL, "limits"},
    {"max_header_bytes", key_int, OFF(limits.max_header_bytes), 1024, 1048576, NULL, NULL,
     "limits"},
    {"keepalive_requests", key_int, OFF(limits.keepalive_requests), 1, INT_MAX, NULL, NULL,
     "limits"},
    {"h2_max_concurrent_streams", key_int, OFF(limits.h2_max_concurrent_streams), 1, 65536,
     NULL, NULL, "limits"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const key_spec_t admin_keys[] = {
    {"listen", key_admin_listen, OFF(admin), 0, 0, NULL, NULL, "admin"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const key_spec_t tls_keys[] = {
    {"certificates", key_certs, 0, 0, 0, NULL, NULL, "tls"},
    {"min_version", key_tls_version, 0, 0, 0, NULL, NULL, "tls"},
    {"session_tickets", key_bool, OFF(tls.session_tickets), 0, 0, NULL, NULL, "tls"},
    {"ticket_key_rotation", key_seconds, OFF(tls.ticket_key_rotation), 0, 0, NULL, NULL, "tls"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const key_spec_t top_keys[] = {
    {"workers", key_workers, OFF(workers), 0, 0, NULL, NULL, NULL},
    {"listen", key_listen, OFF(listen), 0, 0, NULL, NULL, NULL},
    {"root", key_root, OFF(root), 0, 0, NULL, NULL, NULL},
    {"index", key_index, OFF(index), 0, 0, NULL, NULL, NULL},
    {"pool_threads", key_int, OFF(pool_threads), 1, THREADS_MAX, NULL, NULL, NULL},
    {"idle_poll_us", key_int, OFF(idle_poll_us), 0, 1000, NULL, NULL, NULL},
    {"pid_file", key_path_value, OFF(pid_file), 0, 0, NULL, NULL, NULL},
    {"control_socket", key_path_value, OFF(control_socket), 0, 0, NULL, NULL, NULL},
    {"access_log", key_path_value, OFF(access_log), 0, 0, "off", NULL, NULL},
    {"error_log", key_path_value, OFF(error_log), 0, 0, "stderr", NULL, NULL},
    {"user", key_user, OFF(user), 0, 0, NULL, NULL, NULL},
    {"group", key_user, OFF(group), 0, 0, NULL, NULL, NULL},
    {"allow_symlinks_outside_root", key_bool, OFF(allow_symlinks_outside_root), 0, 0, NULL, NULL,
     NULL},
    {"http2", key_bool, OFF(http2), 0, 0, NULL, NULL, NULL},
    {"timeouts", key_group, 0, 0, 0, NULL, timeout_keys, NULL},
    {"health", key_group, 0, 0, 0, NULL, health_keys, NULL},
    {"limits", key_group, 0, 0, 0, NULL, limit_keys, NULL},
    {"recycle", key_group, 0, 0, 0, NULL, recycle_keys, NULL},
    {"mime_types", key_mime, 0, 0, 0, NULL, NULL, NULL},
    {"admin", key_group, 0, 0, 0, NULL, admin_keys, NULL},
    {"tls", key_group, 0, 0, 0, NULL, tls_keys, NULL},
    {"sites", key_sites, 0, 0, 0, NULL, NULL, NULL},
    {"headers", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {"error_pages", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {"autoindex", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {"fallback", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {"fallback_extensions", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {"compression", key_site_top, 0, 0, 0, NULL, NULL, NULL},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* ---- unknown keys ---- */

/* Levenshtein distance, case-insensitive; names longer than 63 bytes are never close. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[64], prev;
  if (la > 63 || lb > 63)
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      size_t best = prev + cost;
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      prev = row[j];
      row[j] = best;
    }
  }
  return row[lb];
}

static void consider(const char *name, const key_spec_t *k, const key_spec_t **best, size_t *dist) {
  size_t d = edit_distance(name, k->name);
  if (d < *dist && d <= 3 && d * 2 <= strlen(k->name)) {
    *best = k;
    *dist = d;
  }
}

/* The nearest known key: first among the same group's keys, then anywhere, so that
 * `keepalive = 5;` at the top suggests timeouts.keepalive. */
static void unknown_key(ctx_t *x, const config_setting_t *s, const key_spec_t *keys) {
  const char *name = config_setting_name(s);
  const key_spec_t *best = NULL;
  size_t dist = SIZE_MAX;
  for (const key_spec_t *k = keys; k->name; k++)
    consider(name, k, &best, &dist);
  for (const key_spec_t *k = top_keys; k->name; k++) {
    if (keys != top_keys)
      consider(name, k, &best, &dist);
    if (k->sub && k->sub != keys)
      for (const key_spec_t *sk = k->sub; sk->name; sk++)
        consider(name, sk, &best, &dist);
  }
  if (!best)
    errs_add(x->e, s, NULL, "unknown key");
  else
    errs_add(x->e, s, NULL, "unknown key; did you mean \"%s%s%s\"?", best->group ? best->group : "",
             best->group ? "." : "", best->name);
}

void walk_keys(ctx_t *x, const config_setting_t *g, const key_spec_t *keys,
               const char *unknown) {
  int n = config_setting_length(g);
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    const key_spec_t *k;
    for (k = keys; k->name && strcmp(k->name, config_setting_name(s)) != 0; k++)
      ;
    if (k->name)
      k->fn(x, s, k);
    else if (unknown)
      errs_add(x->e, s, NULL, "%s", unknown);
    else
      unknown_key(x, s, keys);
  }
}

/* ---- loading ---- */

/* Rules between keys, once every key is read. */
static void check_cross(ctx_t *x, const config_setting_t *top) {
  char shown[512];
  const config_setting_t *g = config_setting_get_member(top, "group");
  /* Workers change their group only as part of dropping root to the user: a group alone
   * would leave them root, silently. */
  if (g && x->c->group && !config_setting_get_member(top, "user"))
    errs_add(x->e, g, NULL, "needs user (a group alone would not drop root)");
  /* The admin listener is the supervisor's: a worker listener on the same address would
   * fail to bind, and a wildcard port 0 cannot collide. */
  const config_setting_t *adm = config_setting_get_member(top, "admin");
  if (adm && !x->c->admin.text && !config_setting_get_member(adm, "listen"))
    errs_add(x->e, adm, NULL, "needs listen = \"ADDRESS:PORT\"");
  for (size_t i = 0; x->c->admin.text && i < x->c->n_listen; i++)
    if (strcmp(x->c->listen[i].text, x->c->admin.text) == 0 &&
        strcmp(strrchr(x->c->admin.text, ':'), ":0") != 0)
      errs_add(x->e, config_setting_get_member(adm, "listen"), NULL,
               "expected an address no listener uses, got \"%s\" (listen has it)",
               x->c->admin.text);
  /* An explicit control_socket is checked with its value; the default, next to the config,
   * is too long as well when the config's folder is deep enough. */
  if (!config_setting_get_member(top, "control_socket") &&
      strlen(x->c->control_socket) > SOCKET_PATH_MAX)
    errs_add(x->e, NULL, "control_socket",
             "the default path %s is %zu bytes, more than a Unix socket takes (%zu): set "
             "control_socket to a shorter path",
             escape(x->c->control_socket, shown, sizeof(shown)), strlen(x->c->control_socket),
             SOCKET_PATH_MAX);
}

/* TLS across keys: listeners against certificates, then every certificate and key read and
 * checked here, in the supervisor, before it drops privileges (a root-only key works). */
static void check_tls(ctx_t *x) {
  conf_t *c = x->c;
  int any_tls = 0, any_redirect = 0;
  for (size_t i = 0; i < c->n_listen; i++) {
    if (c->listen[i].tls && c->https_listener < 0)
      c->https_listener = (int)i;
    any_tls |= c->listen[i].tls;
    any_redirect |= c->listen[i].redirect_https;
  }
  for (size_t i = 0; i < c->n_listen; i++) {
    if (c->listen[i].tls && c->tls.n_certs == 0)
      errs_add(x->e, x->listen_s[i], NULL, "tls = true needs tls.certificates: none is given");
    if (c->listen[i].redirect_https && !any_tls)
      errs_add(x->e, x->listen_s[i], NULL,
               "redirect_https = true needs a listener with tls = true to send clients to");
  }
  (void)any_redirect;
  if (c->tls.n_certs == 0 || x->e->n)
    return;
  if (conf_tls_new(c->tls.min_version, c->tls.session_tickets, &c->tls.ctx) < 0) {
    errs_add(x->e, NULL, "tls", "out of memory");
    return;
  }
  for (size_t i = 0; i < c->tls.n_certs; i++) {
    char why[PATH_MAX + 256], warn[PATH_MAX + 128];
    int which;
    const config_setting_t *g = x->cert_s[i];
    const config_setting_t *f = config_setting_get_member(g, "cert");
    if (conf_tls_add(c->tls.ctx, c->tls.certs[i].cert, c->tls.certs[i].key, &which, why,
                     sizeof(why), warn, sizeof(warn)) < 0)
      errs_add(x->e, which ? config_setting_get_member(g, "key") : f, NULL, "%s", why);
    else if (warn[0])
      errs_add(&x->warn, f, NULL, "warning: %s", warn);
  }
}

/* Defaults (design.md's example values). workers defaults to 1, as nginx's
 * worker_processes does: a server that silently takes every core is a surprise on a shared
 * machine; production configs say "auto". */
static conf_t *conf_new(void) {
  conf_t *c = xmalloc(sizeof(*c));
  memset(c, 0, sizeof(*c));
  c->workers = 1;
  c->pool_threads = 4;
  c->idle_poll_us = 200; /* Linux's guest halt-polling default, the same algorithm */
  c->uid = (uid_t)-1;
  c->gid = (gid_t)-1;
  c->timeouts.graceful = 30.0;
  c->timeouts.keepalive = 5.0;
  c->timeouts.header = 10.0;
  c->timeouts.send = 30.0;
  c->health.interval = 1.0;
  c->health.misses = 3;
  c->limits.max_connections = 10000;
  c->limits.max_header_bytes = 8192;
  c->limits.keepalive_requests = 1000;
  c->recycle.jitter = 0.1;
  c->limits.h2_max_concurrent_streams = 128;
  c->http2 = 1;
  c->tls.min_version = 0x0303;
  c->tls.session_tickets = 1;
  c->tls.ticket_key_rotation = 3600.0;
  c->https_listener = -1;
  return c;
}

/* The folder part of a path as given ("." for none), not resolved; the caller frees it. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
  if (!dir) {
    fputs("evcluster: out of memory\n", stderr);
    abort();
  }
  return dir;
}

/* Sets c->path and c->dir: the folder is resolved (realpath) but the file name is kept, so a
 * symlinked config file still resolves relative paths next to the name the operator gave. */
static int conf_locate(conf_t *c, const char *path, errs_t *e) {
  struct stat st;
  int fd, rc;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    rc = -errno;
    errs_add(e, NULL, "", "cannot open: %s", strerror(errno));
    return rc;
  }
  rc = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
  close(fd);
  if (rc < 0) {
    errs_add(e, NULL, "", "cannot open: %s", strerror(-rc));
    return rc;
  }
  char *dir = dir_of(path);
  c->dir = realpath(dir, NULL);
  if (!c->dir) {
    rc = -errno;
    errs_add(e, NULL, "", "cannot resolve its folder %s: %s", dir, strerror(errno));
    free(dir);
    return rc;
  }
  free(dir);
  const char *slash = strrchr(path, '/');
  c->path = path_join(c->dir, slash ? slash + 1 : path);
  return 0;
}

char *conf_control_socket_guess(const char *path) {
  errs_t e = {.file = path}; /* no buffer: the scan's findings are not wanted here */
  scan_t sc;
  config_t cfg;
  const char *slash = strrchr(path, '/'), *value = NULL;
  char *dir = dir_of(path), *real = realpath(dir, NULL);
  if (real) {
    free(dir);
    dir = real;
  }
  char *file = path_join(dir, slash ? slash + 1 : path);
  scan_init(&sc, &e, dir);
  config_init(&cfg);
  config_set_include_dir(&cfg, dir);
  if (config_read_file(&cfg, file) == CONFIG_TRUE) {
    config_lookup_string(&cfg, "control_socket", &value);
  } else if (config_error_type(&cfg) == CONFIG_ERR_PARSE) {
    scan_file(&sc, file, file, NULL, 0, 0);
    if (sc.ctl_found)
      value = sc.ctl;
  }
  char *out = path_join(dir, value ? value : "evcluster.sock");
  config_destroy(&cfg);
  scan_close(&sc);
  free(file);
  free(dir);
  return out;
}

int conf_load(const char *path, conf_t **out, char *err, size_t errlen) {
  errs_t e = {.buf = err, .cap = errlen, .file = path};
  ctx_t x = {.e = &e, .user_gid = (gid_t)-1};
  x.warn = (errs_t){.buf = xmalloc(4096), .cap = 4096, .file = path};
  x.warn.buf[0] = '\0';
  config_t cfg;
  scan_t sc;
  int cfg_ready = 0, rc;
  conf_t *c = conf_new();

  scan_init(&sc, &e, NULL);
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  x.c = c;
  rc = conf_locate(c, path, &e);
  if (rc < 0)
    goto fail;
  e.file = c->path;
  e.dir = c->dir;
  x.warn.file = c->path;
  x.warn.dir = c->dir;

  /* Literals libconfig would change stop the load here, as a syntax error does: the values it
   * would read are not the ones written. */
  sc.dir = c->dir;
  scan_file(&sc, c->path, c->path, NULL, 0, 0);
  if (e.n) {
    rc = -EINVAL;
    goto fail;
  }

  config_init(&cfg);
  cfg_ready = 1;
  config_set_options(&cfg, config_get_options(&cfg) | CONFIG_OPTION_AUTOCONVERT);
  config_set_include_dir(&cfg, c->dir);
  if (config_read_file(&cfg, c->path) != CONFIG_TRUE) {
    /* A syntax error has no key: "FILE:LINE: syntax error". */
    char fbuf[PATH_MAX + 256];
    const char *file = errs_file(&e, config_error_file(&cfg), fbuf, sizeof(fbuf));
    if (config_error_type(&cfg) == CONFIG_ERR_PARSE)
      scan_explain(&sc, file, (unsigned)config_error_line(&cfg), config_error_text(&cfg));
    else
      errs_at(&e, file, 0, "", "cannot read: %s", config_error_text(&cfg));
    rc = -EINVAL;
    goto fail;
  }

  /* Defaults that are paths resolve against the folder, like the values would. */
  c->index = xstrdup("index.html");
  c->pid_file = path_join(c->dir, "evcluster.pid");
  c->control_socket = path_join(c->dir, "evcluster.sock");
  c->access_log = path_join(c->dir, "access.log");
  c->error_log = NULL;

  walk_keys(&x, config_root_setting(&cfg), top_keys, NULL);

  const config_setting_t *top = config_root_setting(&cfg);
  if (!config_setting_get_member(top, "listen"))
    errs_add(&e, NULL, "listen", "required key missing");
  if (!config_setting_get_member(top, "root") && !x.sites_s)
    errs_add(&e, NULL, "root", "required key missing");
  conf_sites_finish(&x);
  check_cross(&x, top);
  check_tls(&x);
  if (c->gid == (gid_t)-1)
    c->gid = x.user_gid;

  if (e.n) {
    rc = -EINVAL;
    goto fail;
  }
  if (x.warn.len)
    c->warnings = xstrdup(x.warn.buf);
  *out = c;
  c = NULL;
  rc = 0;
fail:
  free(x.cert_s);
  free(x.listen_s);
  free(x.warn.buf);
  if (cfg_ready)
    config_destroy(&cfg);
  scan_close(&sc);
  conf_free(c);
  return rc;
}

void conf_free(conf_t *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->n_listen; i++)
    free(c->listen[i].text);
  free(c->listen);
  free(c->admin.text);
  for (size_t i = 0; i < c->n_mime; i++) {
    free(c->mime[i].ext);
    free(c->mime[i].type);
  }
  free(c->mime);
  for (size_t i = 0; i < c->tls.n_certs; i++) {
    free(c->tls.certs[i].cert);
    free(c->tls.certs[i].key);
  }
  free(c->tls.certs);
  conf_sites_free(c);
  conf_tls_free(c->tls.ctx);
  free(c->warnings);
  free(c->path);
  free(c->dir);
  free(c->root);
  free(c->index);
  free(c->pid_file);
  free(c->control_socket);
  free(c->access_log);
  free(c->error_log);
  free(c->user);
  free(c->group);
  free(c);
}
