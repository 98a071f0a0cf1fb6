/* Unit tests of the config module (config/conf.c), run as one cmocka process: each test writes
 * its config files into a fresh mkdtemp folder, loads them with conf_load() and checks the
 * snapshot, or the exact "FILE:LINE: key: ..." lines of the error report. Also loads the
 * committed config/example.conf, so the example cannot rot. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "conf.h"

typedef struct fx {
  char dir[PATH_MAX];       /* realpath of the mkdtemp folder; holds www/ */
  char conf[PATH_MAX + 16]; /* dir/ev.conf */
  char err[8192];
  conf_t *c;
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  char tmpl[] = "/tmp/evc-conf-XXXXXX";
  assert_non_null(f);
  assert_non_null(mkdtemp(tmpl));
  assert_non_null(realpath(tmpl, f->dir));
  snprintf(f->conf, sizeof(f->conf), "%s/ev.conf", f->dir);
  char www[PATH_MAX + 8];
  snprintf(www, sizeof(www), "%s/www", f->dir);
  assert_int_equal(mkdir(www, 0755), 0);
  *state = f;
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int teardown(void **state) {
  fx_t *f = *state;
  conf_free(f->c);
  nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static void write_file(const fx_t *f, const char *name, const char *text) {
  char path[PATH_MAX + 256];
  snprintf(path, sizeof(path), "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

static void make_dir(const fx_t *f, const char *name) {
  char path[PATH_MAX + 256];
  snprintf(path, sizeof(path), "%s/%s", f->dir, name);
  assert_int_equal(mkdir(path, 0755), 0);
}

/* Writes ev.conf and loads it; f->c is freed by teardown. */
static int load(fx_t *f, const char *text) {
  write_file(f, "ev.conf", text);
  conf_free(f->c);
  f->c = NULL;
  return conf_load(f->conf, &f->c, f->err, sizeof(f->err));
}

/* dir-relative path, for comparing resolved paths */
static const char *in_dir(const fx_t *f, const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", f->dir, name);
  return buf;
}

/* The report holds a line starting with the needle, where '@' stands for the config's path. */
static void has(const fx_t *f, const char *needle) {
  char want[PATH_MAX + 1024];
  size_t o = 0;
  for (const char *p = needle; *p && o + PATH_MAX < sizeof(want); p++) {
    if (*p == '@')
      o += (size_t)snprintf(want + o, sizeof(want) - o, "%s", f->conf);
    else
      want[o++] = *p;
  }
  want[o] = '\0';
  for (const char *line = f->err; *line; line = strchr(line, '\n') + 1) {
    if (strncmp(line, want, o) == 0)
      return;
    if (!strchr(line, '\n'))
      break;
  }
  fail_msg("no line starting with\n  %s\nin the report:\n%s", want, f->err);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

#define BASE "listen = \"127.0.0.1:0\";\nroot = \"www\";\n"

static void test_full(void **state) {
  fx_t *f = *state;
  char buf[PATH_MAX + 64];
  make_dir(f, "logs");
  int rc = load(f, "workers = 3;\n"
                   "listen = [\"127.0.0.1:8080\", \"[::1]:8081\"];\n"
                   "root = \"www\";\n"
                   "index = \"home.html\";\n"
                   "pool_threads = 8;\n"
                   "idle_poll_us = 0;\n"
                   "pid_file = \"run.pid\";\n"
                   "control_socket = \"ctl.sock\";\n"
                   "access_log = \"logs/access.log\";\n"
                   "error_log = \"logs/error.log\";\n"
                   "user = \"daemon\";\n"
                   "group = \"nogroup\";\n"
                   "allow_symlinks_outside_root = true;\n"
                   "timeouts = { graceful = 60.0; keepalive = 7; header = 2.5; send = 45.0; };\n"
                   "health = { interval = 0.5; misses = 5; };\n"
                   "limits = { max_connections = 512; max_header_bytes = 16384;\n"
                   "           keepalive_requests = 50; };\n"
                   "mime_types = { md = \"text/markdown; charset=utf-8\";\n"
                   "               WASM = \"application/wasm\"; };\n");
  assert_int_equal(rc, 0);
  assert_string_equal(f->err, "");
  conf_t *c = f->c;
  assert_string_equal(c->path, f->conf);
  assert_string_equal(c->dir, f->dir);
  assert_int_equal(c->workers, 3);
  assert_int_equal(c->workers_auto, 0);
  assert_int_equal(c->n_listen, 2);
  assert_string_equal(c->listen[0].text, "127.0.0.1:8080");
  assert_string_equal(c->listen[1].text, "[::1]:8081");
  assert_string_equal(c->root, in_dir(f, "www", buf, sizeof(buf)));
  assert_string_equal(c->index, "home.html");
  assert_int_equal(c->pool_threads, 8);
  assert_int_equal(c->idle_poll_us, 0);
  assert_string_equal(c->pid_file, in_dir(f, "run.pid", buf, sizeof(buf)));
  assert_string_equal(c->control_socket, in_dir(f, "ctl.sock", buf, sizeof(buf)));
  assert_string_equal(c->access_log, in_dir(f, "logs/access.log", buf, sizeof(buf)));
  assert_string_equal(c->error_log, in_dir(f, "logs/error.log", buf, sizeof(buf)));
  assert_string_equal(c->user, "daemon");
  assert_string_equal(c->group, "nogroup");
  assert_int_equal(c->uid, 1);
  assert_int_equal(c->gid, 65534);
  assert_int_equal(c->allow_symlinks_outside_root, 1);
  assert_true(c->timeouts.graceful == 60.0);
  assert_true(c->timeouts.keepalive == 7.0); /* an integer where seconds are expected */
  assert_true(c->timeouts.header == 2.5);
  assert_true(c->timeouts.send == 45.0);
  assert_true(c->health.interval == 0.5);
  assert_int_equal(c->health.misses, 5);
  assert_int_equal(c->limits.max_connections, 512);
  assert_int_equal(c->limits.max_header_bytes, 16384);
  assert_int_equal(c->limits.keepalive_requests, 50);
  assert_int_equal(c->n_mime, 2);
  assert_string_equal(c->mime[0].ext, "md");
  assert_string_equal(c->mime[0].type, "text/markdown; charset=utf-8");
  assert_string_equal(c->mime[1].ext, "wasm"); /* lower-cased */
  assert_string_equal(c->mime[1].type, "application/wasm");
}

static void test_defaults(void **state) {
  fx_t *f = *state;
  char buf[PATH_MAX + 64];
  assert_int_equal(load(f, BASE), 0);
  conf_t *c = f->c;
  assert_int_equal(c->workers, 1);
  assert_int_equal(c->workers_auto, 0);
  assert_int_equal(c->n_listen, 1);
  assert_string_equal(c->index, "index.html");
  assert_int_equal(c->pool_threads, 4);
  assert_int_equal(c->idle_poll_us, 200);
  assert_string_equal(c->pid_file, in_dir(f, "evcluster.pid", buf, sizeof(buf)));
  assert_string_equal(c->control_socket, in_dir(f, "evcluster.sock", buf, sizeof(buf)));
  assert_string_equal(c->access_log, in_dir(f, "access.log", buf, sizeof(buf)));
  assert_null(c->error_log);
  assert_null(c->user);
  assert_null(c->group);
  assert_int_equal(c->uid, (uid_t)-1);
  assert_int_equal(c->gid, (gid_t)-1);
  assert_int_equal(c->allow_symlinks_outside_root, 0);
  assert_true(c->timeouts.graceful == 30.0);
  assert_true(c->timeouts.keepalive == 5.0);
  assert_true(c->timeouts.header == 10.0);
  assert_true(c->timeouts.send == 30.0);
  assert_true(c->health.interval == 1.0);
  assert_int_equal(c->health.misses, 3);
  assert_int_equal(c->limits.max_connections, 10000);
  assert_int_equal(c->limits.max_header_bytes, 8192);
  assert_int_equal(c->limits.keepalive_requests, 1000);
  assert_int_equal(c->limits.h2_max_concurrent_streams, 128);
  assert_int_equal(c->http2, 1);
  assert_int_equal(c->n_mime, 0);
}

/* http2 and limits.h2_max_concurrent_streams: values, ranges, types named with FILE:LINE. */
static void test_http2_keys(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE "http2 = false;\nlimits = { h2_max_concurrent_streams = 7; };\n"), 0);
  assert_int_equal(f->c->http2, 0);
  assert_int_equal(f->c->limits.h2_max_concurrent_streams, 7);
  assert_int_equal(load(f, BASE "http2 = 1;\nlimits = { h2_max_concurrent_streams = 0; };\n"),
                   -EINVAL);
  has(f, "@:3: http2: expected true or false, got 1\n");
  has(f, "@:4: limits.h2_max_concurrent_streams:");
  assert_int_equal(load(f, BASE "limits = { h2_max_concurrent_streams = 65537; };\n"), -EINVAL);
  has(f, "@:3: limits.h2_max_concurrent_streams:");
}

/* Sites: without a sites list the top-level root, index and site keys are sites[0]; with
 * one, each site has its names (lower case), its root (or the top-level one) and its keys,
 * and the top-level root defaults to the first site's. */
static void test_sites(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE "index = \"home.html\";\nautoindex = true;\n"
                                "headers = ( { match = \"*.CSS\"; set = { X-A = \"1\"; }; } );\n"),
                   0);
  assert_int_equal(f->c->n_sites, 1);
  assert_string_equal(f->c->sites[0].root, f->c->root);
  assert_string_equal(f->c->sites[0].index, "home.html");
  assert_int_equal(f->c->sites[0].autoindex, 1);
  assert_int_equal(f->c->sites[0].n_names, 0);
  assert_string_equal(f->c->sites[0].headers[0].match, "*.css");
  assert_string_equal(f->c->sites[0].headers[0].set[0].name, "X-A");
  assert_int_equal(f->c->sites[0].zip.min_size, 256);
  make_dir(f, "b");
  assert_int_equal(load(f, "listen = \"127.0.0.1:0\";\n"
                           "sites = ( { names = [\"A.Test\", \"*.a.test\"]; root = \"www\";\n"
                           "            compression = { on_the_fly = true; cache_mb = 2; }; },\n"
                           "          { names = [\"b.test\"]; root = \"b\"; index = \"i.htm\";\n"
                           "            error_pages = ( { codes = [404, 503]; page = \"/e.html\"; } );\n"
                           "            fallback = \"/app.html\"; } );\n"),
                   0);
  assert_int_equal(f->c->n_sites, 2);
  assert_string_equal(f->c->sites[0].names[0], "a.test");
  assert_string_equal(f->c->sites[0].names[1], "*.a.test");
  assert_string_equal(f->c->root, f->c->sites[0].root);
  assert_int_equal(f->c->sites[0].precompressed, 1);
  assert_int_equal(f->c->sites[0].zip.on_the_fly, 1);
  assert_int_equal(f->c->sites[0].zip.cache_mb, 2);
  assert_string_equal(f->c->sites[1].index, "i.htm");
  assert_int_equal(f->c->sites[1].n_error_pages, 2);
  assert_int_equal(f->c->sites[1].error_pages[1].code, 503);
  assert_string_equal(f->c->sites[1].error_pages[1].page, "e.html");
  assert_string_equal(f->c->sites[1].fallback, "app.html");
  assert_int_equal(load(f, BASE "compression = { types = [\"text/html\"]; cache_mb = 0; };\n"),
                   -EINVAL);
  has(f, "@:3: compression.cache_mb:");
  has(f, "@:3: compression.types: types are compressed on the fly");
}

/* Relative paths resolve against the config's folder, not the working directory; the config
 * path itself may be relative or contain "..". root is stored as its realpath. */
static void test_relative_paths(void **state) {
  fx_t *f = *state;
  char buf[PATH_MAX + 64], path[PATH_MAX + 64], link[PATH_MAX + 64];
  make_dir(f, "run");
  snprintf(link, sizeof(link), "%s/docroot", f->dir);
  assert_int_equal(symlink("www", link), 0);
  write_file(f, "ev.conf",
             "listen = \":0\";\n"
             "root = \"run/../docroot\";\n"
             "pid_file = \"run/ev.pid\";\n"
             "control_socket = \"/tmp/evc-abs.sock\";\n"
             "access_log = \"off\";\n"
             "error_log = \"stderr\";\n");

  /* through "www/..", and from another working directory with a relative path */
  snprintf(path, sizeof(path), "%s/www/../ev.conf", f->dir);
  assert_int_equal(conf_load(path, &f->c, f->err, sizeof(f->err)), 0);
  assert_string_equal(f->c->path, f->conf);
  conf_free(f->c);
  f->c = NULL;

  int cwd = open(".", O_RDONLY | O_DIRECTORY);
  assert_true(cwd >= 0);
  assert_int_equal(chdir("/tmp"), 0);
  const char *rel = f->dir + strlen("/tmp/");
  snprintf(path, sizeof(path), "%s/ev.conf", rel);
  int rc = conf_load(path, &f->c, f->err, sizeof(f->err));
  assert_int_equal(fchdir(cwd), 0);
  close(cwd);
  assert_int_equal(rc, 0);

  conf_t *c = f->c;
  assert_string_equal(c->path, f->conf);
  assert_string_equal(c->dir, f->dir);
  assert_string_equal(c->root, in_dir(f, "www", buf, sizeof(buf)));
  assert_string_equal(c->pid_file, in_dir(f, "run/ev.pid", buf, sizeof(buf)));
  assert_string_equal(c->control_socket, "/tmp/evc-abs.sock");
  assert_null(c->access_log);
  assert_null(c->error_log);
  assert_string_equal(c->listen[0].text, "0.0.0.0:0");
}

static void test_workers_auto(void **state) {
  fx_t *f = *state;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  assert_int_equal(load(f, BASE "workers = \"auto\";\n"), 0);
  assert_int_equal(f->c->workers, n < 1 ? 1 : n);
  assert_int_equal(f->c->workers_auto, 1);

  assert_int_equal(load(f, BASE "workers = \"many\";\n"), -EINVAL);
  has(f, "@:3: workers: expected an integer >= 1 or \"auto\", got \"many\"\n");
}

static int port_of(const conf_listen_t *l) {
  if (l->addr.ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

static void test_listen_list_ipv6(void **state) {
  fx_t *f = *state;
  static const struct {
    const char *text;
    int family, port;
  } want[] = {
      {"127.0.0.1:0", AF_INET, 0}, {"[::1]:8080", AF_INET6, 8080}, {"0.0.0.0:81", AF_INET, 81},
      {"0.0.0.0:82", AF_INET, 82}, {"[::]:83", AF_INET6, 83},      {"[::1]:84", AF_INET6, 84},
      {"[::]:0", AF_INET6, 0},
  };
  int rc = load(f, "root = \"www\";\n"
                   "listen = ( \"127.0.0.1:0\", \"[::1]:8080\", \"*:81\", \":82\", \"[::]:83\",\n"
                   "           \"[0:0::1]:84\", \"[::]:0\" );\n");
  assert_int_equal(rc, 0);
  assert_int_equal(f->c->n_listen, sizeof(want) / sizeof(want[0]));
  for (size_t i = 0; i < f->c->n_listen; i++) {
    const conf_listen_t *l = &f->c->listen[i];
    assert_string_equal(l->text, want[i].text);
    assert_int_equal(l->addr.ss_family, want[i].family);
    assert_int_equal(port_of(l), want[i].port);
    assert_int_equal(l->addrlen, want[i].family == AF_INET ? sizeof(struct sockaddr_in)
                                                           : sizeof(struct sockaddr_in6));
  }
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&f->c->listen[1].addr;
  assert_memory_equal(&a6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
  const struct sockaddr_in *a4 = (const struct sockaddr_in *)&f->c->listen[0].addr;
  assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

static void test_syntax_error(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, "workers = 2;\nroot = \"www\";\nlisten = ;\n"), -EINVAL);
  has(f, "@:3: syntax error");
  assert_int_equal(count_lines(f->err), 1);
  assert_null(f->c);
}

static void test_unknown_key_top(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE "worker = 2;\nkeepalive = 5;\nzzzz = 1;\n"), -EINVAL);
  has(f, "@:3: worker: unknown key; did you mean \"workers\"?\n");
  has(f, "@:4: keepalive: unknown key; did you mean \"timeouts.keepalive\"?\n");
  has(f, "@:5: zzzz: unknown key\n");
  assert_int_equal(count_lines(f->err), 3);
}

static void test_unknown_key_nested(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "timeouts = {\n  graceful = 1;\n  keepalve = 2;\n};\n"
                        "limits = { max_conections = 1; };\n"
                        "health = { bogus_thing_here = 1; };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:5: timeouts.keepalve: unknown key; did you mean \"timeouts.keepalive\"?\n");
  has(f, "@:7: limits.max_conections: unknown key; did you mean \"limits.max_connections\"?\n");
  has(f, "@:8: health.bogus_thing_here: unknown key\n");
  assert_int_equal(count_lines(f->err), 3);
}

static void test_wrong_type(void **state) {
  fx_t *f = *state;
  int rc = load(f, "listen = 8080;\n"
                   "root = \"www\";\n"
                   "pool_threads = \"4\";\n"
                   "allow_symlinks_outside_root = 1;\n"
                   "timeouts = 5;\n"
                   "health = { interval = \"1s\"; misses = 2.5; };\n"
                   "index = 3;\n"
                   "workers = true;\n"
                   "mime_types = [\"md\"];\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:1: listen: expected an address string or a list of them (strings or { address = "
         "...; tls = true; } groups), got 8080\n");
  has(f, "@:3: pool_threads: expected an integer from 1 to 1024, got \"4\"\n");
  has(f, "@:4: allow_symlinks_outside_root: expected true or false, got 1\n");
  has(f, "@:5: timeouts: expected a group { ... }, got 5\n");
  has(f, "@:6: health.interval: expected a number of seconds > 0, got \"1s\"\n");
  has(f, "@:6: health.misses: expected an integer >= 1, got the float 2.5\n");
  has(f, "@:7: index: expected a non-empty string, got 3\n");
  has(f, "@:8: workers: expected an integer from 1 to 1024 or \"auto\", got true\n");
  has(f, "@:9: mime_types: expected a group { ext = \"type\"; ... }, got an array\n");
  assert_int_equal(count_lines(f->err), 9);
}

/* The 64-bit value carries an L: libconfig 1.5 silently wraps a plain 10000000000 into an int
 * before we see it (a libconfig limitation, not checkable here). */
static void test_out_of_range(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "workers = -2;\n"
                        "pool_threads = 2000;\n"
                        "limits = { max_header_bytes = 100; max_connections = 10000000000L; };\n"
                        "timeouts = { header = 0; send = -1.5; graceful = 1e9; };\n"
                        "health = { misses = 0; };\n"
                        "idle_poll_us = 5000;\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:8: idle_poll_us: expected an integer <= 1000, got 5000\n");
  has(f, "@:3: workers: expected an integer >= 1 or \"auto\", got -2\n");
  has(f, "@:4: pool_threads: expected an integer <= 1024, got 2000\n");
  has(f, "@:5: limits.max_header_bytes: expected an integer >= 1024, got 100\n");
  has(f, "@:5: limits.max_connections: expected an integer <= 2147483647, got 10000000000\n");
  has(f, "@:6: timeouts.header: expected a number of seconds > 0, got 0\n");
  has(f, "@:6: timeouts.send: expected a number of seconds > 0, got -1.5\n");
  has(f, "@:6: timeouts.graceful: expected a number of seconds <= 86400, got 1e+09\n");
  has(f, "@:7: health.misses: expected an integer >= 1, got 0\n");
  assert_int_equal(count_lines(f->err), 9);
}

static void test_bad_listen(void **state) {
  fx_t *f = *state;
  int rc = load(f, "root = \"www\";\n"
                   "listen = (\n"
                   "  \"127.0.0.1\",\n"
                   "  \"127.0.0.1:99999\",\n"
                   "  \"localhost:8080\",\n"
                   "  \"::1:80\",\n"
                   "  \"[::1]80\",\n"
                   "  \"300.1.1.1:80\",\n"
                   "  \"[127.0.0.1]:80\",\n"
                   "  \"127.0.0.1:8o\",\n"
                   "  \"\");\n");
  assert_int_equal(rc, -EINVAL);
#define BAD(line, i, text, why)                                                                    \
  has(f, "@:" #line ": listen[" #i "]: expected \"IPV4:PORT\", \"[IPV6]:PORT\" or \"*:PORT\" "     \
         "with a numeric address, got \"" text "\" (" why ")\n")
  BAD(3, 0, "127.0.0.1", "missing ':' and a port");
  BAD(4, 1, "127.0.0.1:99999", "the port must be a number from 0 to 65535");
  BAD(5, 2, "localhost:8080", "host names are not resolved");
  BAD(6, 3, "::1:80", "IPv6 addresses go in brackets: \"[::1]:8080\"");
  BAD(7, 4, "[::1]80", "missing ':' and a port after ']'");
  BAD(8, 5, "300.1.1.1:80", "\"300.1.1.1\" is not an IPv4 address");
  BAD(9, 6, "[127.0.0.1]:80", "\"127.0.0.1\" is not an IPv6 address");
  BAD(10, 7, "127.0.0.1:8o", "the port must be a number from 0 to 65535");
#undef BAD
  /* libconfig 1.5 dates the last element of a list by the token after it: keep the ")" on
   * its line. */
  has(f, "@:11: listen[8]: expected a non-empty string, got \"\"\n");
  assert_int_equal(count_lines(f->err), 9);

  assert_int_equal(load(f, "root = \"www\";\nlisten = ();\n"), -EINVAL);
  has(f, "@:2: listen: expected at least one address, got an empty list\n");
}

/* F9: the supervisor keys its listeners by the normalised text, so "127.0.0.1:0" twice would
 * be one socket: port 0 is a duplicate like any other port. */
static void test_duplicate_listen_port0(void **state) {
  fx_t *f = *state;
  int rc = load(f, "root = \"www\";\n"
                   "listen = [\"127.0.0.1:0\", \"[::1]:0\", \"127.0.0.1:0\",\n"
                   "          \"*:0\", \"0.0.0.0:0\"];\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:2: listen[2]: expected each address once, got \"127.0.0.1:0\" again\n");
  has(f, "@:3: listen[4]: expected each address once, got \"0.0.0.0:0\" again\n");
  assert_int_equal(count_lines(f->err), 2);
}

/* F14: listeners set IPV6_V6ONLY, so a v4-mapped address passed -t and then failed to bind. */
static void test_listen_v4_mapped(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, "root = \"www\";\nlisten = \"[::ffff:127.0.0.1]:8080\";\n"), -EINVAL);
  has(f, "@:2: listen: expected \"IPV4:PORT\", \"[IPV6]:PORT\" or \"*:PORT\" with a numeric "
         "address, got \"[::ffff:127.0.0.1]:8080\" (a v4-mapped address cannot be bound: use "
         "127.0.0.1:8080)\n");
  assert_int_equal(count_lines(f->err), 1);
}

static void test_duplicate_listen(void **state) {
  fx_t *f = *state;
  int rc = load(f, "root = \"www\";\n"
                   "listen = [\"127.0.0.1:8080\",\n"
                   "          \"*:81\",\n"
                   "          \"0.0.0.0:81\",\n"
                   "          \"[::1]:82\", \"[0::1]:82\"];\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:4: listen[2]: expected each address once, got \"0.0.0.0:81\" again\n");
  has(f, "@:5: listen[4]: expected each address once, got \"[::1]:82\" again\n");
  assert_int_equal(count_lines(f->err), 2);
}

static void test_missing_root_dir(void **state) {
  fx_t *f = *state;
  char msg[PATH_MAX * 2];
  assert_int_equal(load(f, "listen = \"127.0.0.1:0\";\nroot = \"nope\";\n"), -EINVAL);
  snprintf(msg, sizeof(msg),
           "@:2: root: expected an existing folder, got \"nope\" (%s/nope: No such file or "
           "directory)\n",
           f->dir);
  has(f, msg);

  write_file(f, "afile", "x");
  assert_int_equal(load(f, "listen = \"127.0.0.1:0\";\nroot = \"afile\";\n"), -EINVAL);
  snprintf(msg, sizeof(msg),
           "@:2: root: expected a folder, got \"afile\" (%s/afile is not a "
           "folder)\n",
           f->dir);
  has(f, msg);
}

static void test_missing_required(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, "root = \"www\";\n"), -EINVAL);
  has(f, "@: listen: required key missing\n");
  assert_int_equal(count_lines(f->err), 1);

  assert_int_equal(load(f, "# nothing\n"), -EINVAL);
  has(f, "@: listen: required key missing\n");
  has(f, "@: root: required key missing\n");
  assert_int_equal(count_lines(f->err), 2);
}

static void test_missing_file(void **state) {
  fx_t *f = *state;
  char path[PATH_MAX + 16], want[PATH_MAX + 128];
  snprintf(path, sizeof(path), "%s/none.conf", f->dir);
  assert_int_equal(conf_load(path, &f->c, f->err, sizeof(f->err)), -ENOENT);
  assert_null(f->c);
  snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n", path);
  assert_string_equal(f->err, want);

  assert_int_equal(conf_load(f->dir, &f->c, f->err, sizeof(f->err)), -EISDIR);
  snprintf(want, sizeof(want), "%s: cannot open: Is a directory\n", f->dir);
  assert_string_equal(f->err, want);
}

/* One run shows everything to fix: errors of every class in one file, in file order. */
static void test_many_errors(void **state) {
  fx_t *f = *state;
  int rc = load(f, "workers = 0;\n"
                   "listen = \"localhost:80\";\n"
                   "root = \"missing\";\n"
                   "pid_file = \"nodir/ev.pid\";\n"
                   "access_log = \"www\";\n"
                   "user = \"no_such_user_evc\";\n"
                   "mime_types = { md = \"text/markdown\\r\\nX-Evil: 1\"; txt = \"plain\";\n"
                   "               Md = \"text/x-markdown\"; };\n"
                   "index = \"a/b.html\";\n"
                   "colour = \"blue\";\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:1: workers: expected an integer >= 1 or \"auto\", got 0\n");
  has(f, "@:2: listen: expected");
  has(f, "@:3: root: expected an existing folder, got \"missing\"");
  has(f, "@:4: pid_file: expected a path in an existing folder, got \"nodir/ev.pid\"");
  has(f, "@:5: access_log: expected a file path, got \"www\"");
  has(f, "@:6: user: expected an existing user name, got \"no_such_user_evc\"\n");
  has(f, "@:7: mime_types.md: expected a media type such as \"text/markdown\", got "
         "\"text/markdown\\x0d\\x0aX-Evil: 1\"\n");
  has(f, "@:7: mime_types.txt: expected a media type such as \"text/markdown\", got \"plain\"\n");
  /* md was rejected, so Md is the first md: no duplicate error for it */
  has(f, "@:9: index: expected a file name without '/', got \"a/b.html\"\n");
  has(f, "@:10: colour: unknown key\n");
  assert_int_equal(count_lines(f->err), 10);
}

static void test_mime_duplicate_and_user(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "mime_types = { md = \"text/markdown\"; MD = \"text/x-markdown\"; };\n"
                        "user = \"daemon\";\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: mime_types.MD: expected each extension once, got \"md\" again\n");
  assert_int_equal(count_lines(f->err), 1);

  assert_int_equal(load(f, BASE "user = \"daemon\";\n"), 0);
  assert_int_equal(f->c->uid, 1);
  assert_int_equal(f->c->gid, 1); /* the user's primary group */
  assert_null(f->c->group);
}

static void test_control_socket_too_long(void **state) {
  fx_t *f = *state;
  char text[512], name[160];
  memset(name, 'x', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  snprintf(text, sizeof(text), BASE "control_socket = \"%s\";\n", name);
  assert_int_equal(load(f, text), -EINVAL);
  has(f, "@:3: control_socket: expected a path of at most 107 bytes (a Unix socket), got ");
}

/* An @include resolves against the config's folder; its errors name the included file. */
static void test_include(void **state) {
  fx_t *f = *state;
  char want[PATH_MAX + 128];
  write_file(f, "extra.conf", "# limits\nworkers = 0;\n");
  assert_int_equal(load(f, BASE "@include \"extra.conf\"\n"), -EINVAL);
  snprintf(want, sizeof(want), "%s/extra.conf:2: workers: expected an integer >= 1", f->dir);
  has(f, want);

  write_file(f, "extra.conf", "workers = 2;\n");
  assert_int_equal(load(f, BASE "@include \"extra.conf\"\n"), 0);
  assert_int_equal(f->c->workers, 2);
}

/* A small buffer gets whole lines and a "...\n" mark, never a cut line or an overflow; a NULL
 * buffer still gets the error code. */
static void test_err_truncation(void **state) {
  fx_t *f = *state;
  char small[512];
  const char *text = "a = 1;\nb = 2;\nc = 3;\nd = 4;\nlisten = \":0\";\nroot = \"www\";\n";
  write_file(f, "ev.conf", text);
  memset(small, 'Z', sizeof(small));
  assert_int_equal(conf_load(f->conf, &f->c, small, 60), -EINVAL);
  assert_true(strlen(small) < 60);
  assert_int_equal(small[60], 'Z');
  size_t n = strlen(small);
  if (n > 0)
    assert_int_equal(small[n - 1], '\n');

  size_t full_len;
  assert_int_equal(conf_load(f->conf, &f->c, f->err, sizeof(f->err)), -EINVAL);
  full_len = strlen(f->err);
  assert_int_equal(count_lines(f->err), 4);
  assert_int_equal(conf_load(f->conf, &f->c, small, full_len - 1), -EINVAL);
  assert_true(strlen(small) < full_len - 1);
  assert_int_equal(strcmp(small + strlen(small) - 4, "...\n"), 0);

  assert_int_equal(conf_load(f->conf, &f->c, NULL, 0), -EINVAL);
  assert_int_equal(conf_load(f->conf, &f->c, small, 1), -EINVAL);
  assert_string_equal(small, "");
  assert_null(f->c);
}

/* F1: libconfig 1.5 wraps an integer without L into 32 bits (4294967298 became 2 workers) and
 * says nothing; the pre-scan rejects such literals, in included files too, with the key. */
static void test_int_overflow(void **state) {
  fx_t *f = *state;
  char want[PATH_MAX + 256];
  write_file(f, "big.conf",
             "# 4294967298 in a comment is fine\n"
             "extra = {\n"
             "  a = -2147483649;\n"
             "};\n");
  int rc = load(f, BASE "workers = 4294967298;\n"
                        "limits = { max_connections = 0x100000001; };\n"
                        "idle_poll_us = 0x1000000C8;\n"
                        "timeouts = { send = 18446744073709551617; };\n"
                        "x = [1, 4294967296, 0xFFFFFFFF];\n"
                        "health = { misses = 99999999999999999999L; };\n"
                        "@include \"big.conf\"\n");
  assert_int_equal(rc, -EINVAL);
#define WRAPS(where, lit)                                                                          \
  where "expected an integer from -2147483648 to 2147483647 (beyond, a 64-bit one with an L "      \
        "suffix), got " lit ", which libconfig would silently change\n"
  has(f, WRAPS("@:3: workers: ", "4294967298"));
  has(f, WRAPS("@:4: limits.max_connections: ", "0x100000001"));
  has(f, WRAPS("@:5: idle_poll_us: ", "0x1000000C8"));
  has(f, WRAPS("@:6: timeouts.send: ", "18446744073709551617"));
  has(f, WRAPS("@:7: x[1]: ", "4294967296"));
  has(f, WRAPS("@:7: x[2]: ", "0xFFFFFFFF")); /* strtoul then int: -1 */
  has(f, "@:8: health.misses: expected a 64-bit integer, got 99999999999999999999L, which does "
         "not fit\n");
  snprintf(want, sizeof(want), WRAPS("%s/big.conf:3: extra.a: ", "-2147483649"), f->dir);
  has(f, want);
#undef WRAPS
  assert_int_equal(count_lines(f->err), 8);
}

/* F1: what the pre-scan must not take for a wide integer: floats (1e3, .5, 1.5e-3), the
 * limits themselves, leading zeros, L literals (range-checked per key), and digits in names,
 * strings (with escapes) and every kind of comment. */
static void test_int_overflow_lookalikes(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "# workers = 4294967298;\n"
                        "// 0x100000001\n"
                        "/* 99999999999999999999\n"
                        "   4294967297 */ pool_threads = 2;\n"
                        "index = \"i\\\"4294967298\\\\\"; # \"0x100000001\n"
                        "mime_types = { x4294967298 = \"text/x-4294967298\"; };\n"
                        "timeouts = { keepalive = 1e3; header = .5; send = 1.5e-3;\n"
                        "             graceful = 1E2; };\n"
                        "health = { interval = 5.; misses = 2147483647; };\n"
                        "limits = { max_connections = 0x7FFFFFFF; max_header_bytes = 2048L;\n"
                        "           keepalive_requests = 00000000000000000000001; };\n"
                        "idle_poll_us = 0x10;\n");
  assert_int_equal(rc, 0);
  assert_string_equal(f->err, "");
  conf_t *c = f->c;
  assert_int_equal(c->pool_threads, 2);
  assert_string_equal(c->index, "i\"4294967298\\");
  assert_true(c->timeouts.keepalive == 1000.0);
  assert_true(c->timeouts.header == 0.5);
  assert_true(c->timeouts.send == 0.0015);
  assert_true(c->timeouts.graceful == 100.0);
  assert_true(c->health.interval == 5.0);
  assert_int_equal(c->health.misses, 2147483647);
  assert_int_equal(c->limits.max_connections, 2147483647);
  assert_int_equal(c->limits.max_header_bytes, 2048);
  assert_int_equal(c->limits.keepalive_requests, 1);
  assert_int_equal(c->idle_poll_us, 16);
}

/* F7: workers change group only when they drop root to the user; a group alone did nothing. */
static void test_group_without_user(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE "group = \"nogroup\";\n"), -EINVAL);
  has(f, "@:3: group: needs user (a group alone would not drop root)\n");
  assert_int_equal(count_lines(f->err), 1);

  /* an unknown user is its own error, not a second one about the group */
  assert_int_equal(load(f, BASE "user = \"no_such_user_evc\";\ngroup = \"nogroup\";\n"), -EINVAL);
  has(f, "@:3: user: expected an existing user name");
  assert_int_equal(count_lines(f->err), 1);
}

/* F10: the worker truncates seconds to whole milliseconds: below 0.001 became a 0 ms timer. */
static void test_seconds_below_1ms(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "timeouts = { keepalive = 0.0009; header = 1e-320; send = 0.001;\n"
                        "             graceful = 0.0005; };\n"
                        "health = { interval = 0.00099; };\n");
  assert_int_equal(rc, -EINVAL);
#define MS(where, got)                                                                             \
  where "expected a number of seconds >= 0.001 (timers count whole milliseconds), got " got "\n"
  has(f, MS("@:3: timeouts.keepalive: ", "0.0009"));
  has(f, MS("@:3: timeouts.header: ", "1e-320"));
  has(f, MS("@:4: timeouts.graceful: ", "0.0005"));
  has(f, MS("@:5: health.interval: ", "0.00099"));
#undef MS
  assert_int_equal(count_lines(f->err), 4);

  assert_int_equal(load(f, BASE "timeouts = { keepalive = 0.001; header = 0.001; send = 0.001;\n"
                                "             graceful = 0.001; };\n"
                                "health = { interval = 0.001; };\n"),
                   0);
  assert_true(f->c->timeouts.keepalive == 0.001 && f->c->health.interval == 0.001);
}

/* admin.listen and timeouts.drain_delay (wave 2): the admin address parses like a listener,
 * must not be one, and drain_delay takes 0 (its default) where other timeouts do not. */
static void test_admin_and_drain_delay(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE "admin = { listen = \"127.0.0.1:9090\"; };\n"
                                "timeouts = { drain_delay = 0; };\n"),
                   0);
  assert_string_equal(f->c->admin.text, "127.0.0.1:9090");
  assert_true(f->c->timeouts.drain_delay == 0.0);
  conf_free(f->c);
  f->c = NULL;
  assert_int_equal(load(f, BASE "timeouts = { drain_delay = 2.5; };\n"), 0);
  assert_null(f->c->admin.text);
  assert_true(f->c->timeouts.drain_delay == 2.5);
  conf_free(f->c);
  f->c = NULL;
  int rc = load(f, BASE "admin = { listen = \"localhost:9090\"; port = 1; };\n"
                        "timeouts = { drain_delay = -1.0; };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: admin.listen: expected \"IPV4:PORT\" or \"[IPV6]:PORT\"");
  has(f, "@:3: admin.port: ");
  has(f, "@:4: timeouts.drain_delay: expected a number of seconds > 0, got -1.0");
  rc = load(f, BASE "admin = { };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: admin: needs listen = \"ADDRESS:PORT\"");
  rc = load(f, "listen = \"127.0.0.1:8080\";\nroot = \"www\";\n"
               "admin = { listen = \"127.0.0.1:8080\"; };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: admin.listen: expected an address no listener uses, got \"127.0.0.1:8080\"");
}

/* F11: the default control socket (evcluster.sock next to the config) is a Unix socket path
 * too; in a deep folder it was accepted by -t and then failed at start. */
static void test_control_socket_default_too_long(void **state) {
  fx_t *f = *state;
  char deep[128], sub[160], conf[PATH_MAX + 256], want[2 * PATH_MAX + 1024];
  memset(deep, 'd', 100);
  deep[100] = '\0';
  make_dir(f, deep);
  snprintf(sub, sizeof(sub), "%s/www", deep);
  make_dir(f, sub);
  snprintf(sub, sizeof(sub), "%s/ev.conf", deep);
  write_file(f, sub, BASE);
  snprintf(conf, sizeof(conf), "%s/%s", f->dir, sub);
  assert_int_equal(conf_load(conf, &f->c, f->err, sizeof(f->err)), -EINVAL);
  snprintf(want, sizeof(want),
           "%s: control_socket: the default path %s/%s/evcluster.sock is %zu bytes, more than a "
           "Unix socket takes (107): set control_socket to a shorter path\n",
           conf, f->dir, deep, strlen(f->dir) + 1 + 100 + strlen("/evcluster.sock"));
  assert_string_equal(f->err, want);

  /* an explicit, short one makes the same folder fine */
  write_file(f, sub, BASE "control_socket = \"/tmp/evc-short.sock\";\n");
  assert_int_equal(conf_load(conf, &f->c, f->err, sizeof(f->err)), 0);
}

/* F12a: libconfig says "duplicate setting name" and nothing more; the key, and where it was
 * first set, are named, also inside a group and across an @include. */
static void test_duplicate_key(void **state) {
  fx_t *f = *state;
  char want[2 * PATH_MAX + 256];
  assert_int_equal(load(f, "workers = 1;\n" BASE "workers = 2;\n"), -EINVAL);
  has(f, "@:4: workers: duplicate setting name (first set at @:1)\n");
  assert_int_equal(count_lines(f->err), 1);

  assert_int_equal(load(f, BASE "timeouts = { keepalive = 1; header = 2; keepalive = 3; };\n"),
                   -EINVAL);
  has(f, "@:3: timeouts.keepalive: duplicate setting name (first set at @:3)\n");

  write_file(f, "extra.conf", "# more\nlimits = {\n  max_connections = 5;\n};\n");
  assert_int_equal(load(f, BASE "limits = { max_connections = 4; };\n@include \"extra.conf\"\n"),
                   -EINVAL);
  snprintf(want, sizeof(want),
           "%s/extra.conf:2: limits: duplicate setting name (first set at %s:3)\n", f->dir,
           f->conf);
  assert_string_equal(f->err, want);
}

/* F12b, F12c: a float where an integer is expected says so, and a float is shown with the
 * digits that make it out of range. */
static void test_float_messages(void **state) {
  fx_t *f = *state;
  int rc = load(f, BASE "limits = { max_connections = 1e3; };\n"
                        "health = { misses = 3.0; };\n"
                        "workers = 2.0;\n"
                        "timeouts = { keepalive = 86400.0001; };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: limits.max_connections: expected an integer >= 1, got the float 1e+03\n");
  has(f, "@:4: health.misses: expected an integer >= 1, got the float 3.0\n");
  has(f, "@:5: workers: expected an integer from 1 to 1024 or \"auto\", got the float 2.0\n");
  has(f, "@:6: timeouts.keepalive: expected a number of seconds <= 86400, got 86400.0001\n");
  assert_int_equal(count_lines(f->err), 4);
}

/* F12d: a missing @include names the file libconfig looked for (in the config's folder). */
static void test_missing_include(void **state) {
  fx_t *f = *state;
  char want[2 * PATH_MAX + 256];
  assert_int_equal(load(f, BASE "@include \"inc/missing.conf\"\n"), -EINVAL);
  snprintf(want, sizeof(want),
           "%s:3: cannot open include file %s/inc/missing.conf: No such file or directory\n",
           f->conf, f->dir);
  assert_string_equal(f->err, want);
}

/* F15: an index longer than NAME_MAX cannot name a file: every directory would give 404. */
static void test_index_name_max(void **state) {
  fx_t *f = *state;
  char name[NAME_MAX + 2], text[NAME_MAX + 128];
  memset(name, 'i', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  snprintf(text, sizeof(text), BASE "index = \"%s\";\n", name);
  assert_int_equal(load(f, text), -EINVAL);
  has(f, "@:3: index: expected a file name of at most 255 bytes, got 256 bytes\n");

  name[NAME_MAX] = '\0';
  snprintf(text, sizeof(text), BASE "index = \"%s\";\n", name);
  assert_int_equal(load(f, text), 0);
  assert_int_equal(strlen(f->c->index), NAME_MAX);
}

static void test_example_conf(void **state) {
  fx_t *f = *state;
  char path[PATH_MAX];
  /* CMake compiles with the absolute source path: the repository is three levels up. */
  snprintf(path, sizeof(path), "%s", __FILE__);
  char *cut = strstr(path, "tests/unit/test_conf.c");
  assert_non_null(cut);
  snprintf(cut, sizeof(path) - (size_t)(cut - path), "config/example.conf");
  assert_int_equal(conf_load(path, &f->c, f->err, sizeof(f->err)), 0);
  assert_int_equal(f->c->workers, 2);
  assert_int_equal(f->c->n_listen, 1);
  assert_string_equal(f->c->listen[0].text, "127.0.0.1:8080");
  assert_non_null(strstr(f->c->root, "/config/example-site"));
  assert_null(f->c->error_log);
}

/* The control socket of a config that does not load, as the CLI needs it to reach the
 * server: the top-level value even past a syntax error (adjacent strings joined, escapes
 * read), never a group's key of the same name; the default beside a file that parses
 * without one, or that is missing. */
static void expect_guess(const fx_t *f, const char *conf, const char *want) {
  char *got = conf_control_socket_guess(conf), path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", f->dir, want);
  assert_string_equal(got, path);
  free(got);
}

static void test_control_socket_guess(void **state) {
  fx_t *f = *state;
  write_file(f, "ev.conf", "g = { control_socket = \"no.sock\"; };\n"
                           "control_socket = \"c\" \"t\\x6c.sock\";\nroot = ;\n");
  expect_guess(f, f->conf, "ctl.sock");
  write_file(f, "ev.conf", "listen = \"127.0.0.1:0\";\n");
  expect_guess(f, f->conf, "evcluster.sock");
  make_dir(f, "inc");
  write_file(f, "inc/ctl.conf", "control_socket = \"from-include.sock\";\n");
  write_file(f, "ev.conf", "@include \"inc/ctl.conf\"\nworkers = 0;\n");
  expect_guess(f, f->conf, "from-include.sock"); /* parses, though it does not validate */
  char missing[PATH_MAX + 32];
  snprintf(missing, sizeof(missing), "%s/missing.conf", f->dir);
  expect_guess(f, missing, "evcluster.sock");
}

/* recycle: the defaults (off, jitter 0.1), the values read, and each bound named with its key
 * at FILE:LINE; a misspelt key inside the group is suggested. */
static void test_recycle(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE), 0);
  assert_int_equal(f->c->recycle.max_rss_mb, 0);
  assert_int_equal(f->c->recycle.max_requests, 0);
  assert_true(f->c->recycle.jitter == 0.1);
  assert_int_equal(load(f, BASE "recycle = { max_rss_mb = 256; max_requests = 1000;\n"
                                "  jitter = 0.25; };\n"),
                   0);
  assert_int_equal(f->c->recycle.max_rss_mb, 256);
  assert_int_equal(f->c->recycle.max_requests, 1000);
  assert_true(f->c->recycle.jitter == 0.25);
  assert_int_equal(load(f, BASE "recycle = { jitter = 1; };\n"), 0);
  assert_true(f->c->recycle.jitter == 1.0);
  int rc = load(f, BASE "recycle = {\n  max_rss_mb = -1;\n  max_requests = 1.5;\n"
                        "  jitter = 1.5;\n  max_request = 3;\n};\n"
                        );
  assert_int_equal(rc, -EINVAL);
  has(f, "@:4: recycle.max_rss_mb: expected an integer >= 0, got -1\n");
  has(f, "@:5: recycle.max_requests: expected an integer >= 0, got the float 1.5\n");
  has(f, "@:6: recycle.jitter: expected a number from 0 to 1, got 1.5\n");
  has(f, "@:7: recycle.max_request: unknown key; did you mean \"recycle.max_requests\"?\n");
  rc = load(f, BASE "recycle = { max_rss_mb = 2000000; jitter = -0.1; };\n");
  assert_int_equal(rc, -EINVAL);
  has(f, "@:3: recycle.max_rss_mb: expected an integer <= 1048576, got 2000000\n");
  has(f, "@:3: recycle.jitter: expected a number from 0 to 1, got -0.1\n");
  assert_int_equal(load(f, BASE "recycle = 5;\n"), -EINVAL);
  has(f, "@:3: recycle: expected a group { ... }, got 5\n");
}

/* listen mixes strings and groups; a group's flags; its errors name the key. */
static void test_listen_groups(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, "root = \"www\";\n"
                           "listen = ( \"127.0.0.1:0\", { address = \"[::1]:0\"; redirect_https = true; },\n"
                           "  { address = \"127.0.0.1:8443\"; tls = true; } );\n"),
                   -EINVAL); /* a TLS listener without certificates */
  has(f, "@:3: listen[2]: tls = true needs tls.certificates: none is given\n");
  assert_int_equal(load(f, "root = \"www\";\n"
                           "listen = ( \"127.0.0.1:0\", { address = \"[::1]:0\"; redirect_https = true; } );\n"),
                   -EINVAL);
  has(f, "@:2: listen[1]: redirect_https = true needs a listener with tls = true");
  assert_int_equal(load(f, "root = \"www\";\n"
                           "listen = ( { address = \"127.0.0.1:0\"; tls = 1; proxy_protocl = true; },\n"
                           "  { tls = false; }, { address = \"127.0.0.1:1\"; tls = true; redirect_https = true; } );\n"),
                   -EINVAL);
  has(f, "@:2: listen[0].tls: expected true or false, got 1\n");
  has(f, "@:2: listen[0].proxy_protocl: unknown key (a listener takes address, tls, "
         "redirect_https, proxy_protocol)");
  has(f, "@:3: listen[1]: expected address = \"IP:PORT\"");
  has(f, "@:3: listen[2]: redirect_https is for plain listeners");
  assert_int_equal(load(f, "root = \"www\";\nlisten = ( { address = \"127.0.0.1:0\"; tls = false; } );\n"), 0);
  assert_int_equal(f->c->n_listen, 1);
  assert_int_equal(f->c->listen[0].tls, 0);
  assert_int_equal(f->c->https_listener, -1);
  assert_null(f->c->tls.ctx);
  assert_int_equal(f->c->listen[0].proxy_protocol, 0);
  /* proxy_protocol: per listener, a boolean */
  assert_int_equal(load(f, "root = \"www\";\nlisten = ( \"127.0.0.1:0\",\n"
                           "  { address = \"127.0.0.1:1\"; proxy_protocol = true; } );\n"),
                   0);
  assert_int_equal(f->c->listen[0].proxy_protocol, 0);
  assert_int_equal(f->c->listen[1].proxy_protocol, 1);
  assert_int_equal(load(f, "root = \"www\";\n"
                           "listen = ( { address = \"127.0.0.1:1\"; proxy_protocol = \"v2\"; } );\n"),
                   -EINVAL);
  has(f, "@:2: listen[0].proxy_protocol: expected true or false, got \"v2\"");
}

/* The tls group: defaults, values, and the errors that need no certificate file. */
static void test_tls_keys(void **state) {
  fx_t *f = *state;
  assert_int_equal(load(f, BASE), 0);
  assert_int_equal(f->c->tls.min_version, 0x0303);
  assert_int_equal(f->c->tls.session_tickets, 1);
  assert_true(f->c->tls.ticket_key_rotation == 3600.0);
  assert_int_equal(load(f, BASE "tls = { min_version = \"TLSv1.3\"; session_tickets = false;\n"
                                "  ticket_key_rotation = 60.0; };\n"),
                   0);
  assert_int_equal(f->c->tls.min_version, 0x0304);
  assert_int_equal(f->c->tls.session_tickets, 0);
  assert_true(f->c->tls.ticket_key_rotation == 60.0);
  assert_int_equal(load(f, BASE "tls = { min_version = \"TLSv1.0\"; ticket_key_rotation = 0.0;\n"
                                "  certificates = ( { cert = \"a.pem\"; }, { key = 1; cert = \"b\"; },\n"
                                "    { cert = \"c\"; key = \"d\"; chain = \"e\"; } ); sni = 1; };\n"),
                   -EINVAL);
  has(f, "@:3: tls.min_version: expected \"TLSv1.2\" or \"TLSv1.3\", got \"TLSv1.0\"\n");
  has(f, "@:3: tls.ticket_key_rotation: ");
  has(f, "@:4: tls.certificates[0]: expected key = \"FILE\"");
  has(f, "@:4: tls.certificates[1].key: expected a non-empty string, got 1\n");
  has(f, "@:5: tls.certificates[2].chain: unknown key");
  has(f, "@:5: tls.sni: unknown key");
  assert_int_equal(load(f, BASE "tls = { certificates = (); };\n"), -EINVAL);
  has(f, "@:3: tls.certificates: expected at least one");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_workers_auto, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_list_ipv6, setup, teardown),
      cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_top, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_nested, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_listen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_listen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_root_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_required, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mime_duplicate_and_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_control_socket_too_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_include, setup, teardown),
      cmocka_unit_test_setup_teardown(test_err_truncation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_example_conf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int_overflow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int_overflow_lookalikes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_without_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seconds_below_1ms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_control_socket_default_too_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_control_socket_guess, setup, teardown),
      cmocka_unit_test_setup_teardown(test_float_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_include, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_name_max, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicate_listen_port0, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_v4_mapped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_admin_and_drain_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listen_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http2_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sites, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
