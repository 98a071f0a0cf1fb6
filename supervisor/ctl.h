/* The control socket: an AF_UNIX stream socket (mode 0600, peers checked with SO_PEERCRED)
 * through which the CLI talks to a running supervisor. Protocol, one request per connection:
 *   request:  one line of printable ASCII, at most SUP_CTL_MAX_LINE bytes, ending in "\n"
 *             ("reload", "quit", "stop", "reopen", "status", "status json")
 *   reply:    "ok\n" or "error\n", then a free-form body; the server closes after it.
 * The server side runs on the supervisor's loop, non-blocking; the client side (the CLI) is
 * one call bounded by a deadline, connect() included. A client the server does not serve (too
 * many clients, a peer of another user) gets "error" and the reason, then the close. */
#ifndef EVC_SUP_CTL_H
#define EVC_SUP_CTL_H

#include <stddef.h>

#include "log.h"
#include "loop.h"

#define SUP_CTL_MAX_LINE 255

typedef struct sup_ctl sup_ctl_t;
typedef struct sup_ctl_req sup_ctl_req_t;

/* Called once per well-formed request line (without its newline). The handler must answer
 * with sup_ctl_reply(), now or later (reload answers once the outcome is known). */
typedef void (*sup_ctl_handler)(sup_ctl_req_t *req, const char *line, void *data);

/* 1 if a live server listens on path (accepting, or stopped with its backlog full), 0 if not
 * (absent or stale). Never blocks. */
int sup_ctl_probe(const char *path);
/* Binds path (replacing a stale socket; anything else there is left alone: -EEXIST), mode
 * 0600, and serves it. 0 or -errno (logged). */
int sup_ctl_new(loop_t *loop, log_t *log, const char *path, sup_ctl_handler handler, void *data,
                sup_ctl_t **out);
/* Serves fd, a control socket already bound to path and listening (an upgrade hands it
 * over): as sup_ctl_new, without binding. */
int sup_ctl_adopt(loop_t *loop, log_t *log, const char *path, int fd, sup_ctl_handler handler,
                  void *data, sup_ctl_t **out);
/* A client whose request the previous image read and that waits for its reply (the CLI of
 * an upgrade): answered with sup_ctl_reply like any other. */
sup_ctl_req_t *sup_ctl_adopt_req(sup_ctl_t *ctl, int fd);
int sup_ctl_fd(const sup_ctl_t *ctl);
int sup_ctl_req_fd(const sup_ctl_req_t *req);
/* Answers a request exactly once; body may be NULL. The connection closes after it. */
void sup_ctl_reply(sup_ctl_req_t *req, int ok, const char *body);
/* Stops serving: closes the listener and unanswered clients, unlinks the socket file. Memory
 * is released in close callbacks (the loop must run once more). NULL: no-op. */
void sup_ctl_close(sup_ctl_t *ctl);

/* Client: connects, sends line and reads the whole reply, all within timeout_s (a server
 * that does not accept gives -ETIMEDOUT). Returns 0 with *ok (1/0) and *body (malloc'd, the
 * caller frees), or -errno (-ETIMEDOUT, -ECONNREFUSED, -ENOENT...). */
int sup_ctl_call(const char *path, const char *line, double timeout_s, int *ok, char **body);
/* The CLI's words for a failed sup_ctl_call on path (timeout_s as given to it), into buf. */
void sup_ctl_describe_error(int rc, const char *path, double timeout_s, char *buf, size_t n);

#endif
