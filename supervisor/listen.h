/* The supervisor's listening sockets, shared by generations: each address the config names
 * is opened once and kept while any generation uses it, so a reload that still names an
 * address reuses its descriptor (zero gap: the socket is never closed and reopened). Opened
 * by the supervisor only; workers inherit the descriptors across fork. */
#ifndef EVC_SUP_LISTEN_H
#define EVC_SUP_LISTEN_H

#include <stddef.h>

#include "conf.h"
#include "log.h"

typedef struct sup_lset sup_lset_t;

/* Opens one listener: socket, SO_REUSEADDR (never SO_REUSEPORT: one socket, one queue),
 * IPV6_V6ONLY for v6, non-blocking, close-on-exec, bound, listening with the largest backlog
 * the kernel allows. Returns the fd or -errno; the failed call is logged. */
int sup_listen_open(const conf_listen_t *l, log_t *log);
/* Formats the address fd is bound to ("127.0.0.1:39123", "[::1]:8080"). 0 or -errno. */
int sup_listen_name(int fd, char *buf, size_t len);

sup_lset_t *sup_lset_new(log_t *log);
/* Takes a reference on a listener for every address of conf, opening those not open yet;
 * fds[i] receives conf->listen[i]'s descriptor. All or nothing: 0, or -errno with nothing
 * taken (and the cause logged). */
int sup_lset_acquire(sup_lset_t *set, const conf_t *conf, int *fds);
/* Drops the references sup_lset_acquire(conf) took; closes listeners no one uses any more. */
void sup_lset_release(sup_lset_t *set, const conf_t *conf);
/* Closes every descriptor now (graceful shutdown: the workers hold their own copies);
 * references stay counted so release still balances. */
void sup_lset_close_all(sup_lset_t *set);
/* "ADDR, ADDR" as bound, for the addresses conf names. */
void sup_lset_describe(sup_lset_t *set, const conf_t *conf, char *buf, size_t len);
/* Listening sockets handed to us: systemd's (text NULL: claimed by the configured address
 * they are bound to) or an upgrade's (claimed by the config text they were opened for). A
 * configured address takes its spare instead of binding: nothing is re-bound. */
void sup_lset_add_spare(sup_lset_t *set, int fd, const char *text);
/* The spare for l, now the caller's (tuned as ours are), or -1. */
int sup_lset_take_spare(sup_lset_t *set, const conf_listen_t *l);
/* Closes the spares nobody claimed, each logged. */
void sup_lset_drop_spares(sup_lset_t *set);
/* The open listeners (config text and fd), at most cap; returns how many. */
int sup_lset_fds(sup_lset_t *set, const char **texts, int *fds, size_t cap);
/* NULL: no-op. Closes whatever is still open. */
void sup_lset_free(sup_lset_t *set);

#endif
