/* The supervisor process: owns the listeners, forks generations of workers and watches them
 * (health pings, respawn with back-off), reloads the config into a new generation and drains
 * the old one, shuts down gracefully or fast, and serves the control socket. Everything runs
 * on its own loop; signals arrive only through the loop's signal watchers. */
#ifndef EVC_SUP_H
#define EVC_SUP_H

#include "conf.h"
#include "log.h"

typedef struct sup sup_t;

/* Takes ownership of conf; log stays the caller's and must outlive the supervisor.
 * 0 or -errno. */
int sup_new(conf_t *conf, log_t *log, sup_t **out);
/* The binary's name as the process was started (argv[0]): upgrades execute what is
 * installed under it. Without it, /proc/self/exe's target at start. */
void sup_set_binary(sup_t *sup, const char *argv0);
/* Opens the listeners, writes the pid file, binds the control socket, starts the first
 * generation and runs until shut down. Warnings and errors go to stderr too until the first
 * generation is ready. Returns the process exit status (0 after QUIT, TERM
 * or INT; 1 when start-up failed, cause logged). */
int sup_run(sup_t *sup);
/* Blocks the signals the supervisor acts on, until sup_run has its handlers in place (their
 * default actions would end it silently while it loads the config). Call first thing. */
void sup_block_signals(void);
/* NULL: no-op. Removes the pid file and control socket if this supervisor created them. */
void sup_free(sup_t *sup);

#endif
