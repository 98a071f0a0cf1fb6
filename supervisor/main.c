/* evcluster's command line: run the supervisor in the foreground (-c FILE), check a config
 * (-t), signal a running supervisor through its control socket (-s reload|quit|stop|reopen),
 * print its status (status [--json]). The CLI side runs in a short-lived process of its own;
 * only `-c FILE` alone becomes the supervisor. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "spawn.h"
#include "sup.h"
#include "top.h"
#include "trial.h"
#include "util.h"
#include "version.h"

#define EXIT_USAGE 2
#define CONF_ERR_MAX 8192
#define RELOAD_WAIT_S 60.0 /* the supervisor answers within its reload timeout */
#define CALL_WAIT_S 10.0
#define UPGRADE_WAIT_S 90.0 /* the check, the execve and the new generation's start */

static void usage(FILE *f) {
  fprintf(f,
          "usage: evcluster -c FILE                 run in the foreground\n"
          "       evcluster -c FILE -t              check the configuration\n"
          "       evcluster -c FILE -s reload       reload; exit status says whether it worked\n"
          "       evcluster -c FILE -s upgrade      run the binary now installed, in the same pid\n"
          "       evcluster -c FILE -s quit|stop|reopen\n"
          "                                         graceful | fast shutdown | reopen logs\n"
          "       evcluster -c FILE status [--json] the running cluster\n"
          "       evcluster -c FILE top [-d SECONDS] [-n COUNT]\n"
          "                                         live view (q quits); piped: a snapshot\n"
          "                                         per interval\n"
          "       evcluster -h | -v\n");
}

/* The running supervisor's control socket, from its config. 0: the config loads and the
 * path is certain; 1: it does not (its errors are in err) and the path is a best guess. */
static int control_path(const char *file, char **out, char *err, size_t errlen) {
  conf_t *conf = NULL;
  if (conf_load(file, &conf, err, errlen) == 0) {
    *out = sup_xstrdup(conf->control_socket);
    conf_free(conf);
    return 0;
  }
  *out = conf_control_socket_guess(file);
  return 1;
}

/* One request to the running supervisor: prints the body (stdout if ok, else stderr). */
static int call(const char *file, const char *line, double timeout, int quiet_ok) {
  char err[CONF_ERR_MAX] = "";
  char *path = NULL;
  int guessed = control_path(file, &path, err, sizeof(err));
  int ok = 0;
  char *body = NULL;
  int rc = sup_ctl_call(path, line, timeout, &ok, &body);
  int status = 1;
  if ((rc == -ENOENT || rc == -ECONNREFUSED) && guessed) {
    /* nothing there: with a config that does not load, the server may run with the socket
     * of the config it loaded last, so "not running" would be a guess stated as a fact */
    fprintf(stderr,
            "evcluster: cannot tell which control socket the running server uses (none "
            "answers on %s): the config does not load:\n%s%s",
            path, err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
  } else if (rc < 0) {
    char why[512];
    sup_ctl_describe_error(rc, path, timeout, why, sizeof(why));
    fprintf(stderr, "evcluster: %s\n", why);
  } else {
    if (!ok || !quiet_ok)
      fputs(body, ok ? stdout : stderr);
    status = ok ? 0 : 1;
  }
  free(body);
  free(path);
  return status;
}

/* top: the control socket as for status (a config that does not load: its best guess, said
 * once, since top keeps trying and shows what it finds). */
static int run_top(const char *file, int argc, char **argv) {
  char err[CONF_ERR_MAX] = "";
  char *path = NULL;
  if (control_path(file, &path, err, sizeof(err)) && isatty(STDOUT_FILENO) == 0)
    fprintf(stderr, "evcluster: top: the config does not load; trying %s\n", path);
  int status = top_main(path, argc, argv);
  free(path);
  return status;
}

/* What -t checks beyond the file, as `nginx -t` does: that the logs can be opened (they are
 * created, as a start would) and, when workers drop to `user`, that the user can open the
 * root. Each failure printed; 0 if none. */
static int check_runtime(const conf_t *conf) {
  int bad = 0;
  const char *key, *path;
  int rc = sup_logs_prepare(conf, NULL, &key, &path);
  if (rc < 0) {
    fprintf(stderr, "%s: %s: cannot open %s: %s\n", conf->path, key, path, strerror(-rc));
    bad = 1;
  }
  if (!conf->user || geteuid() != 0)
    return bad;
  pid_t pid = fork();
  if (pid == 0) { /* as the workers will be */
    if (sup_privileges_drop(conf) < 0)
      _exit(255);
    int fd = open(conf->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _exit(fd < 0 ? (errno & 0x7f) : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
    fprintf(stderr, "%s: cannot check the root as %s\n", conf->path, conf->user);
    return 1;
  }
  int code = WEXITSTATUS(status);
  if (code != 0) {
    fprintf(stderr, "%s: root %s: user %s cannot open it: %s\n", conf->path, conf->root,
            conf->user, code == 255 ? "cannot become that user" : strerror(code));
    bad = 1;
  }
  return bad;
}

static int check_config(const char *file) {
  char err[CONF_ERR_MAX] = "";
  conf_t *conf = NULL;
  int rc = conf_load(file, &conf, err, sizeof(err));
  if (rc < 0) {
    if (err[0])
      fprintf(stderr, "%s%s", err, err[strlen(err) - 1] == '\n' ? "" : "\n");
    else
      fprintf(stderr, "%s: %s\n", file, strerror(-rc));
    return 1;
  }
  if (conf->warnings)
    fputs(conf->warnings, stderr);
  int bad = check_runtime(conf);
  char why[512] = "";
  /* an upgrade's rehearsal: one worker of this binary must start (see trial.h) */
  const char *held = getenv(SUP_TRIAL_ENV);
  if (!bad && held && sup_trial_run(conf, held, why, sizeof(why)) < 0) {
    fprintf(stderr, "%s: %s\n", conf->path, why);
    bad = 1;
  }
  conf_free(conf);
  if (bad)
    return 1;
  printf("configuration ok\n");
  return 0;
}

static int run(const char *file, const char *argv0) {
  sup_block_signals();
  char err[CONF_ERR_MAX] = "";
  conf_t *conf = NULL;
  int rc = conf_load(file, &conf, err, sizeof(err));
  if (rc < 0) {
    if (err[0])
      fprintf(stderr, "%s%s", err, err[strlen(err) - 1] == '\n' ? "" : "\n");
    else
      fprintf(stderr, "%s: %s\n", file, strerror(-rc));
    return 1;
  }
  log_t *log = NULL;
  rc = log_new("supervisor", conf->error_log, &log);
  if (rc < 0) {
    fprintf(stderr, "evcluster: cannot open the error log %s: %s\n", conf->error_log,
            strerror(-rc));
    conf_free(conf);
    return 1;
  }
  log_set_echo(log, 1);
  if (conf->warnings) {
    char *save = NULL;
    for (char *line = strtok_r(conf->warnings, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
      log_msg(log, LOG_WARN, "%s", line);
  }
  sup_t *sup = NULL;
  int status = 1;
  if (sup_new(conf, log, &sup) == 0) { /* takes conf */
    sup_set_binary(sup, argv0);
    status = sup_run(sup);
    sup_free(sup);
  }
  log_free(log);
  return status;
}

int main(int argc, char **argv) {
  const char *file = NULL, *signal_name = NULL;
  int test = 0, opt;
  opterr = 0;
  /* "+": stop at the first operand, so "status --json" reaches us whole */
  while ((opt = getopt(argc, argv, "+c:ts:hv")) != -1) {
    switch (opt) {
    case 'c':
      file = optarg;
      break;
    case 't':
      test = 1;
      break;
    case 's':
      signal_name = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'v':
      printf("evcluster %s\n", EVC_VERSION);
      return 0;
    default:
      fprintf(stderr, "evcluster: %s -%c\n",
              optopt && strchr("cs", optopt) ? "missing argument for" : "unknown option",
              optopt ? optopt : '?');
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  const char *command = optind < argc ? argv[optind] : NULL;
  int json = 0;
  if (command && strcmp(command, "top") == 0) {
    if (!file) {
      fprintf(stderr, "evcluster: -c FILE is required\n");
      return EXIT_USAGE;
    }
    if (test || signal_name) {
      fprintf(stderr, "evcluster: -t, -s and top do not combine\n");
      return EXIT_USAGE;
    }
    return run_top(file, argc - optind - 1, argv + optind + 1);
  }
  if (command) {
    if (strcmp(command, "status") != 0) {
      fprintf(stderr, "evcluster: unknown command '%s'\n", command);
      usage(stderr);
      return EXIT_USAGE;
    }
    for (int i = optind + 1; i < argc; i++) {
      if (strcmp(argv[i], "--json") == 0) {
        json = 1;
      } else {
        fprintf(stderr, "evcluster: status: unknown argument '%s'\n", argv[i]);
        return EXIT_USAGE;
      }
    }
  }
  if (!file) {
    fprintf(stderr, "evcluster: -c FILE is required\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  if ((test != 0) + (signal_name != NULL) + (command != NULL) > 1) {
    fprintf(stderr, "evcluster: -t, -s and status do not combine\n");
    return EXIT_USAGE;
  }
  if (test)
    return check_config(file);
  if (command)
    return call(file, json ? "status json" : "status", CALL_WAIT_S, 0);
  if (signal_name) {
    static const char *const names[] = {"reload", "quit", "stop", "reopen", "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (strcmp(signal_name, names[i]) == 0)
        return call(file, names[i],
                    i == 0 ? RELOAD_WAIT_S : i == 4 ? UPGRADE_WAIT_S : CALL_WAIT_S, 0);
    fprintf(stderr, "evcluster: -s takes reload, quit, stop, reopen or upgrade, not '%s'\n",
            signal_name);
    return EXIT_USAGE;
  }
  return run(file, argv[0]);
}
