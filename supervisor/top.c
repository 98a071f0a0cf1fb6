/* evcluster top (see top.h): the CLI's live view. One "status json" call per interval over
 * the control socket (sup_ctl_call, as `status` makes it), parsed with json-c. On a terminal
 * it draws with plain ANSI sequences in the alternate screen and reads keys in non-canonical
 * mode; every way out (q, SIGINT, SIGTERM, SIGHUP, an error) goes through one restore, and
 * Ctrl-Z restores the terminal before it stops and takes it again on fg. */
#define _GNU_SOURCE
#include "top.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define FETCH_TIMEOUT_S 2.0
#define MIN_COLS 40
#define MIN_ROWS 5

/* ---- parsing ------------------------------------------------------------------------- */

static json_object *get(json_object *o, const char *key) {
  json_object *v = NULL;
  return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static double num(json_object *o, const char *key, double dflt) {
  json_object *v = get(o, key);
  if (!v || json_object_get_type(v) == json_type_null)
    return dflt;
  return json_object_get_double(v);
}

static uint64_t u64(json_object *o, const char *key) {
  json_object *v = get(o, key);
  return v ? (uint64_t)json_object_get_int64(v) : 0;
}

static void str(json_object *o, const char *key, char *buf, size_t n) {
  json_object *v = get(o, key);
  snprintf(buf, n, "%s",
           v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "?");
}

int top_parse(const char *json, double at_s, struct top_snap *out) {
  memset(out, 0, sizeof(*out));
  out->at_s = at_s;
  json_object *root = json_tokener_parse(json);
  json_object *sup = get(root, "supervisor"), *ws = get(root, "workers");
  int rc = 0;
  if (!sup || !ws || !json_object_is_type(ws, json_type_array)) {
    rc = -EPROTO;
    goto out;
  }
  out->pid = (long)u64(sup, "pid");
  out->generation = (unsigned)u64(sup, "generation");
  str(sup, "state", out->state, sizeof(out->state));
  out->uptime_s = num(sup, "uptime_s", 0);
  out->cpu_pct = num(sup, "cpu_pct", -1);
  out->rss_kb = u64(sup, "rss_kb");
  json_object *rec = get(sup, "recycled");
  out->recycled_rss = u64(rec, "rss");
  out->recycled_requests = u64(rec, "requests");
  json_object *ip = get(rec, "in_progress");
  out->recycle_in_progress = ip && json_object_get_boolean(ip);
  json_object *l = get(sup, "listening");
  for (size_t i = 0;
       l && json_object_is_type(l, json_type_array) && i < json_object_array_length(l); i++) {
    size_t len = strlen(out->listening);
    const char *a = json_object_get_string(json_object_array_get_idx(l, i));
    snprintf(out->listening + len, sizeof(out->listening) - len, "%s%s", i ? ", " : "",
             a ? a : "?");
  }
  out->n_workers = json_object_array_length(ws);
  out->workers = sup_xcalloc(out->n_workers ? out->n_workers : 1, sizeof(struct top_worker));
  for (size_t i = 0; i < out->n_workers; i++) {
    json_object *w = json_object_array_get_idx(ws, i);
    struct top_worker *t = &out->workers[i];
    json_object *refs = get(w, "refs"), *rp = get(w, "replacing");
    t->pid = (long)u64(w, "pid");
    t->generation = (unsigned)u64(w, "generation");
    t->slot = (unsigned)u64(w, "slot");
    str(w, "state", t->state, sizeof(t->state));
    t->replacing = rp && json_object_get_boolean(rp);
    t->uptime_s = num(w, "uptime_s", 0);
    t->connections = u64(w, "connections");
    t->requests = u64(w, "requests");
    t->cpu_pct = num(w, "cpu_pct", -1);
    t->rss_kb = u64(w, "rss_kb");
    t->lag_p99_ms = num(get(w, "loop_lag_ms"), "p99", 0);
    t->pool_queued = (unsigned)u64(get(w, "pool"), "queued");
    t->refs_listeners = (unsigned)u64(refs, "listeners");
    t->refs_connections = (unsigned)u64(refs, "connections");
    t->refs_pool_jobs = (unsigned)u64(refs, "pool_jobs");
    t->refs_timers = (unsigned)u64(refs, "timers");
    t->refs_immediates = (unsigned)u64(refs, "immediates");
    t->refs_other = (unsigned)u64(refs, "other");
    t->req_rate = -1;
  }
out:
  json_object_put(root);
  return rc;
}

void top_snap_free(struct top_snap *s) {
  free(s->workers);
  s->workers = NULL;
  s->n_workers = 0;
}

void top_rates(const struct top_snap *prev, struct top_snap *cur) {
  double dt = prev ? cur->at_s - prev->at_s : 0;
  for (size_t i = 0; i < cur->n_workers; i++) {
    struct top_worker *w = &cur->workers[i];
    w->req_rate = -1;
    int seen = 0;
    for (size_t j = 0; prev && dt > 0 && j < prev->n_workers; j++) {
      if (prev->workers[j].pid != w->pid)
        continue;
      seen = 1;
      if (w->requests >= prev->workers[j].requests)
        w->req_rate = (double)(w->requests - prev->workers[j].requests) / dt;
    }
    /* started since prev (a recycle's replacement, a respawn): it began at 0, so all its
     * requests fall in this interval, and the total keeps counting them */
    if (!seen && prev && dt > 0 && w->uptime_s <= dt)
      w->req_rate = (double)w->requests / dt;
  }
}

/* ---- layout -------------------------------------------------------------------------- */

static void duration(double s, char *buf, size_t n) {
  unsigned long t = s > 0 ? (unsigned long)s : 0;
  if (t >= 86400)
    snprintf(buf, n, "%lud%02luh", t / 86400, t % 86400 / 3600);
  else
    snprintf(buf, n, "%lu:%02lu:%02lu", t / 3600, t % 3600 / 60, t % 60);
}

/* What keeps a draining worker alive: its loop's references by kind, without the IPC channel
 * and signal watchers every worker has. "-" for a worker that is not draining. */
static void holds(const struct top_worker *w, char *buf, size_t n) {
  if (strcmp(w->state, "draining") != 0) {
    snprintf(buf, n, "-");
    return;
  }
  struct {
    const char *name;
    unsigned v;
  } k[] = {{"conn", w->refs_connections},   {"pool", w->refs_pool_jobs},
           {"timer", w->refs_timers},       {"immediate", w->refs_immediates},
           {"listener", w->refs_listeners}, {"other", w->refs_other}};
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof(k) / sizeof(k[0]) && o < n; i++)
    if (k[i].v)
      o += (size_t)snprintf(buf + o, n - o, "%s%s=%u", o ? "," : "", k[i].name, k[i].v);
  if (!buf[0])
    snprintf(buf, n, "nothing");
}

static void cpu_text(double pct, char *buf, size_t n) {
  if (pct < 0)
    snprintf(buf, n, "-");
  else
    snprintf(buf, n, "%.1f", pct);
}

/* One line, cut at cols bytes (all of it ASCII). */
static void line(struct sup_buf *out, unsigned cols, unsigned *left, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void line(struct sup_buf *out, unsigned cols, unsigned *left, const char *fmt, ...) {
  if (*left == 0)
    return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  if (cols && strlen(text) > cols)
    text[cols] = '\0';
  sup_buf_printf(out, "%s\n", text);
  (*left)--;
}

void top_render(const struct top_snap *s, const char *err, unsigned cols, unsigned rows,
                struct sup_buf *out) {
  unsigned left = rows ? rows : (unsigned)-1;
  char up[32], cpu[16], clock[16];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  if (!s) {
    line(out, cols, &left, "evcluster top  %s", clock);
    line(out, cols, &left, "%s", err ? err : "waiting for the supervisor");
    return;
  }
  duration(s->uptime_s, up, sizeof(up));
  line(out, cols, &left, "evcluster top  %s  supervisor %ld %s  generation %u  up %s  on %s", clock,
       s->pid, s->state, s->generation, up, s->listening[0] ? s->listening : "-");
  unsigned running = 0, draining = 0, starting = 0;
  uint64_t conns = 0, rss = 0;
  double rate = 0, cpu_sum = 0;
  int rate_known = 0;
  for (size_t i = 0; i < s->n_workers; i++) {
    const struct top_worker *w = &s->workers[i];
    running += strcmp(w->state, "running") == 0;
    draining += strcmp(w->state, "draining") == 0;
    starting += strcmp(w->state, "starting") == 0;
    conns += w->connections;
    rss += w->rss_kb;
    cpu_sum += w->cpu_pct > 0 ? w->cpu_pct : 0;
    if (w->req_rate >= 0) {
      rate += w->req_rate;
      rate_known = 1;
    }
  }
  char total[24] = "-";
  if (rate_known)
    snprintf(total, sizeof(total), "%.0f", rate);
  cpu_text(s->cpu_pct, cpu, sizeof(cpu));
  line(out, cols, &left,
       "workers %u running, %u draining, %u starting  req/s %s  conns %llu  cpu %.1f%%  "
       "rss %.1f MiB",
       running, draining, starting, total, (unsigned long long)conns, cpu_sum,
       (double)rss / 1024.0);
  line(out, cols, &left,
       "supervisor cpu %s%%  rss %.1f MiB  recycled %llu by memory, %llu by requests%s", cpu,
       (double)s->rss_kb / 1024.0, (unsigned long long)s->recycled_rss,
       (unsigned long long)s->recycled_requests,
       s->recycle_in_progress ? " (one in progress)" : "");
  if (err)
    line(out, cols, &left, "! %s", err);
  line(out, cols, &left, "%-8s %4s %4s %-9s %8s %6s %6s %8s %8s %6s %s", "PID", "GEN", "SLOT",
       "STATE", "REQ/S", "CONNS", "CPU%", "RSS_MiB", "LAG99ms", "QUEUED", "HOLDS");
  for (size_t i = 0; i < s->n_workers; i++) {
    const struct top_worker *w = &s->workers[i];
    if (rows && left == 1 && i + 1 < s->n_workers) {
      line(out, cols, &left, "... %zu more workers", s->n_workers - i);
      break;
    }
    char r[16], h[96];
    if (w->req_rate >= 0)
      snprintf(r, sizeof(r), "%.0f", w->req_rate);
    else
      snprintf(r, sizeof(r), "-");
    cpu_text(w->cpu_pct, cpu, sizeof(cpu));
    holds(w, h, sizeof(h));
    line(out, cols, &left, "%-8ld %4u %4u %-9s %8s %6llu %6s %8.1f %8.2f %6u %s", w->pid,
         w->generation, w->slot, w->replacing ? "replacing" : w->state, r,
         (unsigned long long)w->connections, cpu, (double)w->rss_kb / 1024.0, w->lag_p99_ms,
         w->pool_queued, h);
  }
}

/* ---- the command --------------------------------------------------------------------- */

static volatile sig_atomic_t got_stop, got_winch, got_tstp;

static void on_stop(int sig) {
  (void)sig;
  got_stop = 1;
}

static void on_winch(int sig) {
  (void)sig;
  got_winch = 1;
}

static void on_tstp(int sig) {
  (void)sig;
  got_tstp = 1;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return -errno;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

struct term {
  int active; /* alternate screen entered */
  int raw;    /* termios changed: saved holds the original */
  struct termios saved;
};

static void term_enter(struct term *t) {
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
    struct termios raw = t->saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* ISIG stays: Ctrl-C is SIGINT, handled */
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
      t->raw = 1;
  }
  static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
  (void)write_all(STDOUT_FILENO, enter, sizeof(enter) - 1);
  t->active = 1;
}

/* The one way back: cursor shown, main screen restored, input as it was. */
static void term_leave(struct term *t) {
  if (t->active) {
    static const char leave[] = "\033[?25h\033[?1049l";
    (void)write_all(STDOUT_FILENO, leave, sizeof(leave) - 1);
    t->active = 0;
  }
  if (t->raw) {
    tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    t->raw = 0;
  }
}

static void term_size(unsigned *cols, unsigned *rows) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    *cols = ws.ws_col;
    *rows = ws.ws_row;
  } else {
    *cols = 80;
    *rows = 24;
  }
}

/* One frame on the terminal: home, each line cleared to its end, the rest of the screen
 * cleared; a terminal too small for the table says so instead. */
static void draw(const struct top_snap *s, const char *err) {
  unsigned cols, rows;
  term_size(&cols, &rows);
  struct sup_buf text = {0}, frame = {0};
  if (cols < MIN_COLS || rows < MIN_ROWS)
    sup_buf_printf(&text, "terminal too small\n%ux%u, need %ux%u\nq quits\n", cols, rows, MIN_COLS,
                   MIN_ROWS);
  else
    top_render(s, err, cols, rows - 1, &text);
  int big = cols >= MIN_COLS && rows >= MIN_ROWS;
  unsigned limit = big ? rows - 1 : rows, n = 0;
  sup_buf_printf(&frame, "\033[H");
  for (char *p = text.p, *nl; p && *p && (nl = strchr(p, '\n')) && n < limit; p = nl + 1, n++) {
    size_t len = (size_t)(nl - p);
    sup_buf_printf(&frame, "%s%.*s\033[K", n ? "\r\n" : "", (int)(len > cols ? cols : len), p);
  }
  sup_buf_printf(&frame, "\r\n\033[J");
  if (big)
    sup_buf_printf(&frame, "\033[%u;1H\033[7m q quit \033[0m\033[K", rows);
  (void)write_all(STDOUT_FILENO, frame.p, frame.len);
  sup_buf_free(&text);
  sup_buf_free(&frame);
}

static int usage_error(const char *msg, const char *arg) {
  fprintf(stderr,
          "evcluster: top: %s%s%s\nusage: evcluster -c FILE top [-d SECONDS] "
          "[-n COUNT]\n",
          msg, arg ? " " : "", arg ? arg : "");
  return 2;
}

int top_main(const char *ctl_path, int argc, char **argv) {
  double interval = 1.0;
  long count = 0;
  for (int i = 0; i < argc; i++) {
    char *end;
    if ((strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "-d") == 0) && i + 1 < argc) {
      errno = 0;
      if (argv[i][1] == 'n') {
        count = strtol(argv[i + 1], &end, 10);
        if (errno || *end || end == argv[i + 1] || count < 1)
          return usage_error("-n takes a count >= 1, not", argv[i + 1]);
      } else {
        interval = strtod(argv[i + 1], &end);
        if (errno || *end || end == argv[i + 1] || !(interval >= 0.1 && interval <= 3600))
          return usage_error("-d takes seconds from 0.1 to 3600, not", argv[i + 1]);
      }
      i++;
    } else {
      return usage_error("unknown argument", argv[i]);
    }
  }
  int tty = isatty(STDOUT_FILENO);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop; /* no SA_RESTART: the wait in poll() ends at once */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_winch;
  sigaction(SIGWINCH, &sa, NULL);
  sa.sa_handler = on_tstp;
  sigaction(SIGTSTP, &sa, NULL);
  struct term term = {0};
  if (tty)
    term_enter(&term);

  struct top_snap prev = {0}, cur = {0};
  int have_prev = 0, status = 0;
  char err[512] = "";
  long shown = 0;
  while (!got_stop) {
    double t0 = mono_s();
    int ok = 0;
    char *body = NULL;
    int rc = sup_ctl_call(ctl_path, "status json", FETCH_TIMEOUT_S, &ok, &body);
    err[0] = '\0';
    if (rc < 0)
      sup_ctl_describe_error(rc, ctl_path, FETCH_TIMEOUT_S, err, sizeof(err));
    else if (!ok)
      snprintf(err, sizeof(err), "the supervisor refused: %s", body);
    else if (top_parse(body, mono_s(), &cur) < 0)
      snprintf(err, sizeof(err), "the status from %s does not parse", ctl_path);
    free(body);
    if (err[0] && !tty) {
      fprintf(stderr, "evcluster: top: %s\n", err);
      status = 1;
      break;
    }
    if (!err[0]) {
      top_rates(have_prev ? &prev : NULL, &cur);
      top_snap_free(&prev);
      prev = cur;
      memset(&cur, 0, sizeof(cur));
      have_prev = 1;
    }
    if (tty) {
      draw(have_prev ? &prev : NULL, err[0] ? err : NULL);
    } else {
      struct sup_buf b = {0};
      top_render(&prev, NULL, 0, 0, &b);
      sup_buf_printf(&b, "\n");
      int wr = write_all(STDOUT_FILENO, b.p, b.len);
      sup_buf_free(&b);
      if (wr < 0) /* the reader went away: done */
        break;
    }
    if (count && ++shown >= count)
      break;
    /* wait out the interval; keys and a resize are handled meanwhile */
    for (;;) {
      double left = t0 + interval - mono_s();
      if (left <= 0 || got_stop)
        break;
      struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
      int n = poll(&p, term.raw ? 1 : 0, (int)(left * 1000) + 1);
      if (n > 0 && (p.revents & POLLIN)) {
        char keys[64];
        ssize_t k = read(STDIN_FILENO, keys, sizeof(keys));
        if (k > 0 && (memchr(keys, 'q', (size_t)k) || memchr(keys, 'Q', (size_t)k)))
          got_stop = 1;
      } else if (n > 0 && (p.revents & (POLLHUP | POLLERR))) {
        got_stop = 1; /* the terminal is gone */
      }
      if (got_tstp) {
        /* Ctrl-Z: the shell gets its screen and modes back while we are stopped, and we
         * take them again on fg */
        got_tstp = 0;
        term_leave(&term);
        signal(SIGTSTP, SIG_DFL);
        raise(SIGTSTP); /* stops here until SIGCONT */
        sa.sa_handler = on_tstp;
        sigaction(SIGTSTP, &sa, NULL);
        if (tty)
          term_enter(&term);
        got_winch = 1; /* redraw, at the size it may have now */
      }
      if (got_winch && tty) {
        got_winch = 0;
        draw(have_prev ? &prev : NULL, err[0] ? err : NULL);
      }
    }
  }
  term_leave(&term);
  top_snap_free(&prev);
  top_snap_free(&cur);
  return status;
}
