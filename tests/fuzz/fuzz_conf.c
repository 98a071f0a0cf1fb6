/* Fuzz harness: the config loader. The input is written to a file in a temporary folder
 * made once per process and conf_load reads it: it must not crash or leak, and every error
 * line must start with the file's path (absolute, as conf_load reports it). Inputs with an
 * @include are skipped: they could name any file (a FIFO, /dev/zero), and their errors
 * rightly name the included file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

/* Known bug (crash-conf-raw-path-*): conf.c writes the resolved path of root, pid_file,
 * control_socket, access_log and error_log raw inside the "(...)" of its messages, so a value
 * with a newline splits the error line, and can forge one that starts with the file's name.
 * While the bug stands, the errors of an input with a newline inside a string (raw, "\n" or
 * "\x0a") are checked on their first line only. Set this to 0 once conf.c escapes those
 * paths. */
#define TOLERATE_RAW_PATHS 0

static char dir[PATH_MAX], file[PATH_MAX + 16];

static void cleanup(void) {
  if (file[0])
    unlink(file);
  if (dir[0])
    rmdir(dir);
}

static void setup(void) {
  char tmpl[] = "/tmp/evc-fuzz-conf-XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl) != NULL);
  /* conf_load reports the folder resolved (realpath) and the file name as given */
  FUZZ_CHECK(realpath(tmpl, dir) != NULL);
  snprintf(file, sizeof(file), "%s/fuzz.conf", dir);
  atexit(cleanup);
}

static void write_file(const uint8_t *data, size_t size) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  while (size > 0) {
    ssize_t w = write(fd, data, size);
    if (w < 0 && errno == EINTR)
      continue;
    FUZZ_CHECK(w > 0);
    data += w;
    size -= (size_t)w;
  }
  FUZZ_CHECK(close(fd) == 0);
}

static int has_include(const uint8_t *data, size_t size) {
  static const char inc[] = "include";
  for (size_t i = 0; i + sizeof(inc) - 1 < size; i++)
    if (data[i] == '@' && memcmp(data + i + 1, inc, sizeof(inc) - 1) == 0)
      return 1;
  return 0;
}

/* 1 if a string of the input (libconfig's "..." with \ escapes) holds a newline. */
static int newline_in_string(const uint8_t *d, size_t n) {
  int in = 0;
  for (size_t i = 0; i < n; i++) {
    if (!in) {
      in = d[i] == '"';
    } else if (d[i] == '"') {
      in = 0;
    } else if (d[i] == '\n') {
      return 1;
    } else if (d[i] == '\\' && i + 1 < n) {
      if (d[i + 1] == 'n' ||
          (d[i + 1] == 'x' && i + 3 < n && d[i + 2] == '0' && (d[i + 3] | 0x20) == 'a'))
        return 1;
      i++;
    }
  }
  return 0;
}

static void check_errors(const char *err, int raw) {
  size_t flen = strlen(file);
  FUZZ_CHECK(err[0] != '\0');
  /* every line names the file; a full buffer ends with "...\n" */
  for (const char *line = err; *line;) {
    const char *nl = strchr(line, '\n');
    FUZZ_CHECK(nl != NULL);
    if ((strncmp(line, file, flen) != 0 || line[flen] != ':') && strcmp(line, "...\n") != 0) {
      fprintf(stderr, "fuzz_conf: error line does not start with %s: %.*s\n", file,
              (int)(nl - line), line);
      FUZZ_CHECK(!"error line without the file's path");
    }
    if (raw)
      break;
    line = nl + 1;
  }
}

static char err[64 * 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0])
    setup();
  if (has_include(data, size))
    return 0;
  write_file(data, size);

  conf_t *c = (conf_t *)0x1;
  memset(err, 'x', sizeof(err));
  int rc = conf_load(file, &c, err, sizeof(err));
  FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
  if (rc == 0) {
    FUZZ_CHECK(c != NULL && err[0] == '\0');
    FUZZ_CHECK(c->path && strcmp(c->path, file) == 0);
    FUZZ_CHECK(c->workers >= 1 && c->pool_threads >= 1 && c->n_listen >= 1);
    FUZZ_CHECK(c->root && c->root[0] == '/' && c->index && c->index[0]);
    FUZZ_CHECK(c->limits.max_header_bytes >= 1024);
    /* the worker truncates seconds to milliseconds: below 0.001 would be a 0 ms timer */
    FUZZ_CHECK(c->timeouts.graceful >= 0.001 && c->timeouts.keepalive >= 0.001 &&
               c->timeouts.header >= 0.001 && c->timeouts.send >= 0.001 &&
               c->health.interval >= 0.001);
    FUZZ_CHECK(!c->group || c->user); /* a group alone would not drop root */
    FUZZ_CHECK(strlen(c->index) <= NAME_MAX);
    for (size_t i = 0; i < c->n_mime; i++)
      FUZZ_CHECK(c->mime[i].ext && c->mime[i].type);
    conf_free(c);
  } else {
    FUZZ_CHECK(rc < 0 && c == NULL);
    check_errors(err, TOLERATE_RAW_PATHS && newline_in_string(data, size));
  }
  return 0;
}
