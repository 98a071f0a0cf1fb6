/* The admin listener (admin.listen): a tiny HTTP/1.1 server on the supervisor's own loop for
 * operators and their tools: GET /healthz, /metrics (Prometheus text), /status (JSON). It is
 * not the workers' server: one request per connection, GET and HEAD only (405 otherwise, 400
 * for what does not parse), at most ADMIN_MAX_CLIENTS at once and a deadline for each, every
 * socket non-blocking, so a slow or hostile client never stalls the supervisor. */
#ifndef EVC_SUP_ADMIN_H
#define EVC_SUP_ADMIN_H

#include "conf.h"
#include "log.h"
#include "loop.h"
#include "util.h"

typedef struct sup_admin sup_admin_t;

/* What the owner (the supervisor) answers with; each appends to b. */
struct sup_admin_ops {
  /* 200 (serving) or 503; reason becomes the body ("ok", "draining", "starting") */
  int (*health)(void *data, const char **reason);
  void (*status_json)(void *data, struct sup_buf *b);
  void (*metrics)(void *data, struct sup_buf *b);
};

/* Serves addr on loop: with fd >= 0 that already listening socket (handed over by an
 * upgrade or systemd; ours from now on), else a new one bound to addr. 0 or -errno (logged). */
int sup_admin_new(loop_t *loop, log_t *log, const conf_listen_t *addr, int fd,
                  const struct sup_admin_ops *ops, void *data, sup_admin_t **out);
/* The listening descriptor (an upgrade hands it to the next binary). */
int sup_admin_fd(const sup_admin_t *a);
/* The address as bound ("127.0.0.1:9090"), or as configured. */
const char *sup_admin_name(const sup_admin_t *a);
/* Stops serving: the listener and every client close; memory goes in close callbacks.
 * NULL: no-op. keep_fd: leave the listening descriptor open (an upgrade still needs it). */
void sup_admin_close(sup_admin_t *a, int keep_fd);

#endif
