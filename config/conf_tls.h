/* The TLS side of a configuration: every certificate and key loaded, checked and made into
 * one OpenSSL server context per certificate (TLS 1.2 and 1.3 only, Mozilla's "intermediate"
 * ciphers). Built by conf_load in the supervisor, before any privilege is dropped, so that a
 * key only root can read works; workers inherit the contexts across fork and add what is
 * theirs (SNI, ALPN, ticket keys: worker/tls.c). A reload builds new ones, so renewed
 * certificates reach the new workers. Nothing here logs: errors go into the caller's buffer. */
#ifndef EVC_CONF_TLS_H
#define EVC_CONF_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

typedef struct conf_tls conf_tls_t;

/* min_version: TLS1_2_VERSION or TLS1_3_VERSION. 0 or -ENOMEM. */
int conf_tls_new(int min_version, int session_tickets, conf_tls_t **out);
/* Loads one certificate file (PEM, the leaf first, then its chain) and its key; one for the
 * same names as an earlier one but another key type (ECDSA beside RSA) joins the earlier one's
 * context, and the client's signature algorithms choose. 0; or -1 with
 * *which = 0 (the certificate is at fault) or 1 (the key) and the reason in why. A
 * certificate outside its validity is loaded, with a warning in warn ("" when none). */
int conf_tls_add(conf_tls_t *t, const char *cert, const char *key, int *which, char *why,
                 size_t whyn, char *warn, size_t warnn);
size_t conf_tls_count(const conf_tls_t *t);
/* The context of certificate i (0: the default). */
SSL_CTX *conf_tls_ctx(const conf_tls_t *t, size_t i);
/* The first certificate whose names (SAN, else CN) match host, or -1. */
int conf_tls_match(const conf_tls_t *t, const char *host);
/* NULL: no-op. */
void conf_tls_free(conf_tls_t *t);

#endif
