/* TLS contexts of a configuration (see conf_tls.h). Runs in the supervisor (conf_load) and
 * in the CLI's -t; the contexts it makes are used, read-only but for what worker/tls.c adds
 * after fork, by the workers. */
#include "conf_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Mozilla's "intermediate" TLS 1.2 suites (ssl-config.mozilla.org, version 5.7); TLS 1.3
 * keeps OpenSSL's default suites, which are the same three. */
#define CIPHERS_INTERMEDIATE                                                                    \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"    \
  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"      \
  "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define GROUPS_INTERMEDIATE "X25519:prime256v1:secp384r1"

struct conf_tls {
  int min_version;
  int session_tickets;
  SSL_CTX **ctx;
  size_t n;
};

int conf_tls_new(int min_version, int session_tickets, conf_tls_t **out) {
  conf_tls_t *t = calloc(1, sizeof(*t));
  if (!t)
    return -ENOMEM;
  t->min_version = min_version;
  t->session_tickets = session_tickets;
  *out = t;
  return 0;
}

/* The last OpenSSL error as text, or dflt; the queue is emptied. */
static const char *ssl_reason(const char *dflt, char *buf, size_t n) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e)
    return dflt;
  const char *r = ERR_reason_error_string(e);
  snprintf(buf, n, "%s", r ? r : dflt);
  return buf;
}

/* A passphrase request means the key is encrypted: refuse rather than prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(int *)u = 1;
  return -1;
}

static SSL_CTX *ctx_new(const conf_tls_t *t) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx)
    return NULL;
  SSL_CTX_set_min_proto_version(ctx, t->min_version);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  /* Mozilla intermediate: the client's cipher preference (it knows whether it has AES in
   * hardware); no renegotiation (a client-driven CPU sink and a 1.2-only want-write trap);
   * a client that closes without close_notify has ended its requests, not been attacked. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_set_cipher_list(ctx, CIPHERS_INTERMEDIATE) != 1 ||
      SSL_CTX_set1_groups_list(ctx, GROUPS_INTERMEDIATE) != 1) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_dh_auto(ctx, 1);
  /* RELEASE_BUFFERS: an idle keep-alive connection gives its 2 x 16 KiB record buffers back
   * (nginx does the same). PARTIAL_WRITE: SSL_write returns after each record, as a send
   * returns what fit. MOVING_WRITE_BUFFER: a retry may come from another buffer (a copy of
   * the same bytes). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* Resumption is by tickets only, with keys every worker shares (worker/tls.c): a
   * per-process session cache would resume only on the worker that made the session. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  /* Read ahead: a record's header and body in one read, not two (a syscall per request on
   * keep-alive); the worker looks for buffered records with SSL_has_pending. */
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"evcluster", 9);
  if (t->session_tickets) {
    SSL_CTX_set_num_tickets(ctx, 1); /* TLS 1.3: one ticket, not OpenSSL's two */
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return ctx;
}

static void when(const ASN1_TIME *a, char *buf, size_t n) {
  struct tm tm;
  if (ASN1_TIME_to_tm(a, &tm) == 1)
    strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
  else
    snprintf(buf, n, "?");
}

/* The context already holding a certificate for exactly the same names (SAN) with another
 * key type, or NULL: an ECDSA and an RSA certificate for one site share a context, and OpenSSL
 * picks the one the client's signature algorithms allow (nginx's two ssl_certificate lines). */
static SSL_CTX *same_names_other_key(const conf_tls_t *t, X509 *x) {
  int i = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
  if (i < 0)
    return NULL;
  const ASN1_OCTET_STRING *san = X509_EXTENSION_get_data(X509_get_ext(x, i));
  int type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
  for (size_t k = 0; k < t->n; k++) {
    X509 *y = SSL_CTX_get0_certificate(t->ctx[k]);
    int j = X509_get_ext_by_NID(y, NID_subject_alt_name, -1);
    if (j < 0 || EVP_PKEY_get_base_id(X509_get0_pubkey(y)) == type)
      continue;
    if (ASN1_STRING_cmp(san, X509_EXTENSION_get_data(X509_get_ext(y, j))) == 0)
      return t->ctx[k];
  }
  return NULL;
}

int conf_tls_add(conf_tls_t *t, const char *cert, const char *key, int *which, char *why,
                 size_t whyn, char *warn, size_t warnn) {
  char rb[256], tb[64];
  int rc = -1, asked = 0;
  EVP_PKEY *pk = NULL;
  FILE *f = NULL;
  SSL_CTX *ctx = NULL;
  warn[0] = '\0';
  ERR_clear_error();
  *which = 0;
  if (!(f = fopen(cert, "r"))) {
    snprintf(why, whyn, "cannot read %s: %s", cert, strerror(errno));
    goto out;
  }
  fclose(f);
  f = NULL;
  if (!(ctx = ctx_new(t))) {
    snprintf(why, whyn, "cannot make a TLS context: %s", ssl_reason("out of memory", rb, sizeof(rb)));
    goto out;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(why, whyn, "%s holds no usable PEM certificate: %s", cert,
             ssl_reason("unknown error", rb, sizeof(rb)));
    goto out;
  }
  X509 *x = SSL_CTX_get0_certificate(ctx);
  if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
    when(X509_get0_notAfter(x), tb, sizeof(tb));
    snprintf(warn, warnn, "the certificate in %s expired on %s", cert, tb);
  } else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
    when(X509_get0_notBefore(x), tb, sizeof(tb));
    snprintf(warn, warnn, "the certificate in %s is not valid before %s", cert, tb);
  }
  *which = 1;
  if (!(f = fopen(key, "r"))) {
    snprintf(why, whyn, "cannot read %s: %s", key, strerror(errno));
    goto out;
  }
  pk = PEM_read_PrivateKey(f, NULL, no_passphrase, &asked);
  if (!pk) {
    if (asked)
      snprintf(why, whyn, "%s is encrypted: a server cannot ask for its passphrase (decrypt it "
               "with \"openssl pkey -in KEY -out KEY.plain\" and keep it readable by root only)",
               key);
    else
      snprintf(why, whyn, "%s holds no PEM private key: %s", key,
               ssl_reason("unknown error", rb, sizeof(rb)));
    goto out;
  }
  if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(why, whyn, "the key in %s does not match the certificate in %s", key, cert);
    ERR_clear_error();
    goto out;
  }
  SSL_CTX *pair = same_names_other_key(t, x);
  if (pair) {
    /* checked above on a context of its own: the pair's cannot be left half-changed */
    if (SSL_CTX_use_certificate_chain_file(pair, cert) != 1 || SSL_CTX_use_PrivateKey(pair, pk) != 1 ||
        SSL_CTX_check_private_key(pair) != 1) {
      *which = 0;
      snprintf(why, whyn, "cannot add %s beside the certificate for the same names: %s", cert,
               ssl_reason("unknown error", rb, sizeof(rb)));
      goto out;
    }
    rc = 0;
    goto out;
  }
  SSL_CTX **grown = realloc(t->ctx, (t->n + 1) * sizeof(*grown));
  if (!grown) {
    snprintf(why, whyn, "out of memory");
    goto out;
  }
  t->ctx = grown;
  t->ctx[t->n++] = ctx;
  ctx = NULL;
  rc = 0;
out:
  if (f)
    fclose(f);
  EVP_PKEY_free(pk);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return rc;
}

size_t conf_tls_count(const conf_tls_t *t) {
  return t ? t->n : 0;
}

SSL_CTX *conf_tls_ctx(const conf_tls_t *t, size_t i) {
  return i < t->n ? t->ctx[i] : NULL;
}

int conf_tls_match(const conf_tls_t *t, const char *host) {
  for (size_t i = 0; i < t->n; i++)
    if (X509_check_host(SSL_CTX_get0_certificate(t->ctx[i]), host, 0, 0, NULL) == 1)
      return (int)i;
  return -1;
}

void conf_tls_free(conf_tls_t *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++)
    SSL_CTX_free(t->ctx[i]);
  free(t->ctx);
  free(t);
}
