/* TLS in a worker: the transport of `tls = true` listeners (see transport.h) and what the
 * worker adds to the contexts it inherited from the supervisor (config/conf_tls.h): SNI
 * among the certificates, ALPN, the session ticket keys every worker shares, kernel TLS when
 * the kernel has it. Loop thread only. */
#ifndef EVC_TLS_H
#define EVC_TLS_H

#include <stdint.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "transport.h"

typedef struct wtls wtls_t;

struct wtls_stats {
  uint64_t handshakes; /* completed */
  uint64_t resumed;    /* of them, resumed from a ticket */
  uint64_t failed;     /* ended by an error (not by a timeout) */
  int ktls;            /* kernel TLS sends files (sendfile); 0: pool-read buffers */
};

/* For a conf with certificates. keys: the supervisor's ticket keys, inherited across fork
 * (NULL: none yet; no tickets are issued until they come). 0 or -errno (logged). */
int wtls_new(const conf_t *conf, const struct ipc_ticket_keys *keys, log_t *log, wtls_t **out);
/* New keys from the supervisor (a rotation). */
void wtls_set_keys(wtls_t *w, const struct ipc_ticket_keys *keys);
/* struct conn_listener's transport_init: arg is the wtls_t. */
int wtls_transport_init(void *arg, struct transport *t);
void wtls_stats(const wtls_t *w, struct wtls_stats *out);
/* NULL: no-op. */
void wtls_free(wtls_t *w);

#endif
