/* TLS in a worker (see tls.h): the TLS transport over OpenSSL with a non-blocking socket,
 * and the callbacks the worker puts on the contexts it inherited. */
#define _GNU_SOURCE
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "conf_tls.h"
#include "loop.h"

/* The largest write offered to SSL_write: one full record. Smaller pieces (headers and a
 * small body) are copied together first, so an answer of a few KiB is one record, not one
 * per piece. */
#define RECORD_MAX 16384
/* Records are made in memory (out_bio) and written together: up to BATCH bytes of plaintext
 * per sendv in one send. OpenSSL's socket BIO writes each 16 KiB record by itself: 64 sends,
 * and as many wake-ups of the client, per MiB. 128 KiB lost to 64 KiB at 1 MiB over TLS (wrk,
 * 9 interleaved rounds: mean 840 against 909 req/s), and so did 64 KiB to 96: four full
 * records are 65,624 bytes, 141 past loopback's 65,483-byte TCP segment, a tiny segment (a
 * packet and a wake-up of the client) every send; six (98,436) sit halfway between multiples
 * (see h2.c's OUT_FILL, which gathers as much). 96 KiB against 64, interleaved rounds on the
 * 2-core EPYC host: h2 1 MiB 979 against 864 req/s (29 segments per answer against 46), h2
 * 64 KiB 16.2k against 14.1k, h1 (wrk) 1 MiB 1,011 against 982. RECORD_ROOM bounds what one
 * SSL_write of a record can add (header, tag, content type, and room for a message of the
 * session's own). */
#define BATCH (96 * 1024)
/* A rest of at most TAIL bytes after a full batch goes in the same send. h2 gathers frames
 * to a batch and one beyond: with 64 KiB, four 16 KiB DATA frames were 65,572 bytes with
 * their headers, and their last 36 bytes made a send (and a wake-up of the client) of their
 * own, one in two of the sends at 1 MiB (strace). */
#define TAIL 4096
#define RECORD_ROOM (RECORD_MAX + 2048)
#define OBUF_CAP (BATCH + RECORD_ROOM + TAIL)

/* What an HTTPS port says to a client speaking plain HTTP to it (nginx answers the same
 * way), instead of a silent close the operator would have to guess at. */
static const char plain_http_answer[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 50\r\n"
    "Connection: close\r\n"
    "\r\n"
    "400 Bad Request: this port speaks HTTPS (TLS).\r\n\r\n";

struct wtls {
  const conf_t *conf;
  log_t *log;
  struct ipc_ticket_keys keys;
  unsigned n_keys; /* 0 until the supervisor's keys are there */
  struct wtls_stats st;
  int ktls_asked; /* SSL_OP_ENABLE_KTLS set: the kernel has the tls ULP */
  unsigned char alpn[32]; /* the protocols we offer, in wire format, ours first */
  unsigned alpn_len;
  /* Shared by every connection's SSL after its handshake (kernel TLS aside): its records
   * land in obuf, which is empty again when the call that filled it returns (sent, or moved
   * to the connection's held bytes). */
  BIO *out_bio;
  char *obuf; /* OBUF_CAP bytes */
  size_t olen;
  /* obuf's of OBUF_CAP bytes that connections held and gave back: a socket that took part
   * of a batch gets obuf itself (no copy) and obuf is replaced from here, so busy downloads
   * neither copy their rest nor make malloc grow and trim the heap each time */
  char *spare[16];
  unsigned n_spare;
  char scratch[RECORD_MAX];
};

static int ex_index = -1; /* SSL_CTX ex_data slot of the wtls_t: set once per process */

static wtls_t *of_ssl(SSL *s) {
  return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), ex_index);
}

/* ---- callbacks on the contexts ----------------------------------------------------------- */

/* SNI: the first certificate whose names match, else the default (the first). */
static int on_servername(SSL *s, int *alert, void *arg) {
  wtls_t *w = arg;
  (void)alert;
  const char *host = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
  if (host) {
    int i = conf_tls_match(w->conf->tls.ctx, host);
    if (i > 0)
      SSL_set_SSL_CTX(s, conf_tls_ctx(w->conf->tls.ctx, (size_t)i));
  }
  return SSL_TLSEXT_ERR_OK;
}

/* ALPN: h2 (with http2 = true) before http/1.1, in our order. A client that offers neither
 * gets no ALPN answer and speaks HTTP/1.1, as curl without ALPN does. */
static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
  wtls_t *w = arg;
  (void)s;
  if (SSL_select_next_proto((unsigned char **)out, outlen, w->alpn, w->alpn_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  return SSL_TLSEXT_ERR_OK;
}

/* Session tickets with the supervisor's keys: AES-256-CBC and HMAC-SHA256, as OpenSSL's own
 * tickets. A ticket under the previous key still resumes, and is renewed under the current
 * one (return 2). Used by TLS 1.2 and 1.3 alike. */
static int on_ticket_key(SSL *s, unsigned char name[16], unsigned char iv[16],
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
  wtls_t *w = of_ssl(s);
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
      OSSL_PARAM_construct_end()};
  if (!w || w->n_keys == 0)
    return 0; /* no keys yet: no ticket, a full handshake next time */
  if (enc) {
    const uint8_t *k = w->keys.cur;
    memcpy(name, k, 16);
    if (RAND_bytes(iv, 16) != 1 ||
        EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 16, iv) != 1 ||
        EVP_MAC_init(hctx, k + 48, 32, params) != 1)
      return -1;
    return 1;
  }
  for (unsigned i = 0; i < w->n_keys; i++) {
    const uint8_t *k = i == 0 ? w->keys.cur : w->keys.prev;
    if (memcmp(name, k, 16) != 0)
      continue;
    if (EVP_MAC_init(hctx, k + 48, 32, params) != 1 ||
        EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 16, iv) != 1)
      return -1;
    /* TLS 1.3 clients use a ticket once (RFC 8446, C.4; wrk too): a resumption must bring
     * a new one, or every other reconnection is a full handshake (measured: half of wrk's).
     * TLS 1.2 keeps its ticket, renewed only when the previous key decrypted it. */
    return SSL_version(s) >= TLS1_3_VERSION || i > 0 ? 2 : 1;
  }
  return 0; /* a key older than the previous one, or another server's: full handshake */
}

/* ---- the transport ----------------------------------------------------------------------- */

/* Maps a failed SSL call: -EAGAIN with the interest that lets it go on, or -EPROTO. */
static int ssl_fail(SSL *s, int r, int *want) {
  switch (SSL_get_error(s, r)) {
  case SSL_ERROR_WANT_READ:
    *want = LOOP_READ;
    return -EAGAIN;
  case SSL_ERROR_WANT_WRITE:
    *want = LOOP_WRITE;
    return -EAGAIN;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  default:
    ERR_clear_error();
    return -EPROTO;
  }
}

/* ---- records out ------------------------------------------------------------------------ */

static int obio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int obio_write(BIO *b, const char *p, size_t n, size_t *written) {
  wtls_t *w = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!w)
    return 0; /* the worker's TLS state is gone (exit) */
  if (n > OBUF_CAP - w->olen) { /* not reached: a record is made only with room for it */
    BIO_set_retry_write(b);
    return 0;
  }
  memcpy(w->obuf + w->olen, p, n);
  w->olen += n;
  *written = n;
  return 1;
}

static long obio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH; /* every other control: "not supported", as a mem BIO */
}

static char *buf_get(wtls_t *w) {
  char *p = w->n_spare ? w->spare[--w->n_spare] : malloc(OBUF_CAP);
  if (!p)
    abort(); /* out of memory: nothing sensible left to do for a server */
  return p;
}

/* Held bytes live in an OBUF_CAP buffer unless there are more of them (see out_flush). */
static void held_drop(struct transport *t, wtls_t *w) {
  if (t->held && t->held_len <= OBUF_CAP && w && w->n_spare < sizeof(w->spare) / sizeof(w->spare[0]))
    w->spare[w->n_spare++] = t->held;
  else
    free(t->held);
  t->held = NULL;
  t->held_len = t->held_off = 0;
}

/* Writes t's held records, then what obuf has, in one send. What the socket does not take is
 * held by t. 0: all out; -EAGAIN: some is held; -errno: the connection is gone (nothing
 * held). */
static int out_flush(struct transport *t, wtls_t *w) {
  struct iovec iov[2];
  int n = 0;
  size_t total = 0;
  if (t->held) {
    iov[n].iov_base = t->held + t->held_off;
    iov[n++].iov_len = t->held_len - t->held_off;
  }
  if (w->olen) {
    iov[n].iov_base = w->obuf;
    iov[n++].iov_len = w->olen;
  }
  for (int i = 0; i < n; i++)
    total += iov[i].iov_len;
  if (total == 0)
    return 0;
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
  ssize_t sent;
  do {
    sent = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (sent < 0 && errno == EINTR);
  if ((sent < 0 && errno != EAGAIN) || (size_t)sent == total) {
    int rc = sent < 0 ? -errno : 0;
    held_drop(t, w);
    w->olen = 0;
    return rc;
  }
  size_t done = sent < 0 ? 0 : (size_t)sent;
  if (!t->held) { /* the common case: the socket took part of a batch; t keeps obuf */
    t->held = w->obuf;
    t->held_len = w->olen;
    t->held_off = done;
    w->obuf = buf_get(w);
  } else if (!w->olen) {
    t->held_off += done;
  } else { /* held bytes and new records (a read's or a shutdown's): both kept, in order */
    size_t rest = total - done;
    char *keep = rest <= OBUF_CAP ? buf_get(w) : malloc(rest);
    if (!keep)
      abort();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
      size_t len = iov[i].iov_len;
      if (done >= len) {
        done -= len;
        continue;
      }
      memcpy(keep + off, (const char *)iov[i].iov_base + done, len - done);
      off += len - done;
      done = 0;
    }
    held_drop(t, w);
    t->held = keep;
    t->held_len = rest;
  }
  w->olen = 0;
  return -EAGAIN;
}

/* A client that spoke plain HTTP: drain what it sent (so that our close is a FIN, not a
 * reset that would destroy the answer), answer 400 in plain text, end our side. */
static void answer_plain_http(int fd) {
  char sink[4096];
  for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
    ;
  ssize_t n = send(fd, plain_http_answer, sizeof(plain_http_answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n; /* best effort: the connection closes either way */
  shutdown(fd, SHUT_WR);
}

static int tls_handshake(struct transport *t, int *want) {
  SSL *s = t->state;
  ERR_clear_error();
  int r = SSL_do_handshake(s);
  wtls_t *w = of_ssl(s);
  if (r == 1) {
    w->st.handshakes++;
    if (SSL_session_reused(s))
      w->st.resumed++;
    if (BIO_get_ktls_send(SSL_get_wbio(s))) {
      w->st.ktls = 1; /* the kernel makes the records: sendfile needs the socket BIO */
    } else if (BIO_up_ref(w->out_bio)) {
      SSL_set0_wbio(s, w->out_bio); /* drops the socket BIO's write reference */
    }
    return 0;
  }
  int e = SSL_get_error(s, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    *want = e == SSL_ERROR_WANT_READ ? LOOP_READ : LOOP_WRITE;
    return -EAGAIN;
  }
  /* a protocol error (garbage, plain HTTP, no common version or cipher) is a failure; a
   * client that left mid-handshake (EOF, reset) is not, or every benchmark's end would be */
  if (e == SSL_ERROR_SSL)
    w->st.failed++;
  unsigned long err = ERR_peek_error();
  if (ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST)
    answer_plain_http(t->fd);
  ERR_clear_error();
  return -EPROTO;
}

static ssize_t tls_recv(struct transport *t, void *buf, size_t len, int *want) {
  SSL *s = t->state;
  size_t n = 0;
  ERR_clear_error();
  int r = SSL_read_ex(s, buf, len, &n);
  wtls_t *w = of_ssl(s);
  if (w->olen) /* the read answered the peer (a KeyUpdate, an alert): best effort, held */
    (void)out_flush(t, w);
  if (r == 1)
    return (ssize_t)n;
  return ssl_fail(s, r, want);
}

/* After the handshake: records of up to BATCH bytes made into obuf, then one send. */
static ssize_t tls_sendv_batch(struct transport *t, wtls_t *w, const struct iovec *iov, int n,
                               int *want) {
  SSL *s = t->state;
  if (t->held) { /* records made earlier wait: they go first, alone */
    int rc = out_flush(t, w);
    if (rc < 0) {
      *want = LOOP_WRITE;
      return rc;
    }
    size_t owed = t->owed;
    t->owed = 0;
    if (owed) /* the bytes the last call was offered are out */
      return (ssize_t)owed;
  }
  size_t taken = 0, left = 0;
  for (int k = 0; k < n; k++)
    left += iov[k].iov_len;
  int i = 0;
  size_t off = 0; /* into iov[i] */
  while (i < n && (taken < BATCH || left <= TAIL) && OBUF_CAP - w->olen >= RECORD_ROOM) {
    if (off == iov[i].iov_len) {
      i++;
      off = 0;
      continue;
    }
    const char *p = (const char *)iov[i].iov_base + off;
    size_t len = iov[i].iov_len - off;
    if (len >= RECORD_MAX) {
      len = RECORD_MAX;
      off += len;
    } else if (i + 1 == n) { /* the last piece: nothing to gather it with */
      i++;
      off = 0;
    } else { /* gather the pieces of one record */
      memcpy(w->scratch, p, len);
      i++;
      off = 0;
      while (i < n && len < RECORD_MAX) {
        size_t take = iov[i].iov_len - off < RECORD_MAX - len ? iov[i].iov_len - off : RECORD_MAX - len;
        memcpy(w->scratch + len, (const char *)iov[i].iov_base + off, take);
        len += take;
        off += take;
        if (off == iov[i].iov_len) {
          i++;
          off = 0;
        }
      }
      p = w->scratch;
    }
    size_t sent = 0;
    ERR_clear_error();
    int r = SSL_write_ex(s, p, len, &sent);
    if (r != 1 || sent != len) { /* not for lack of room (there is room): a broken session */
      ERR_clear_error();
      w->olen = 0;
      return -EPROTO;
    }
    taken += len;
    left -= len;
  }
  int rc = out_flush(t, w);
  if (rc == -EAGAIN) {
    t->owed = taken;
    *want = LOOP_WRITE;
  }
  return rc < 0 ? rc : (ssize_t)taken;
}

static ssize_t tls_sendv(struct transport *t, const struct iovec *iov, int n, int more,
                         int *want) {
  SSL *s = t->state;
  wtls_t *w = of_ssl(s);
  (void)more; /* records are whole: there is nothing to cork */
  if (SSL_get_wbio(s) == w->out_bio)
    return tls_sendv_batch(t, w, iov, n, want);
  size_t total = 0;
  for (int i = 0; i < n; i++)
    total += iov[i].iov_len;
  /* Always the same length for the same pending bytes (or more, never fewer): a retry after
   * WANT_WRITE must offer at least what the failed write did. */
  size_t len = total < RECORD_MAX ? total : RECORD_MAX;
  const void *p = iov[0].iov_base;
  if (iov[0].iov_len < len) {
    size_t off = 0;
    for (int i = 0; i < n && off < len; i++) {
      size_t take = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
      memcpy(w->scratch + off, iov[i].iov_base, take);
      off += take;
    }
    p = w->scratch;
  }
  size_t sent = 0;
  ERR_clear_error();
  int r = SSL_write_ex(s, p, len, &sent);
  if (r == 1)
    return (ssize_t)sent;
  int rc = ssl_fail(s, r, want);
  if (rc == -EAGAIN)
    *want = LOOP_WRITE; /* after the handshake a write waits for room only */
  return rc == 0 ? -EPIPE : rc;
}

static int tls_pending(const struct transport *t) {
  /* read ahead: whole records may wait undecrypted in OpenSSL's buffer too (a partial one
   * makes the next recv say -EAGAIN, which is harmless) */
  return SSL_has_pending(t->state);
}

static void tls_shutdown(struct transport *t) {
  ERR_clear_error();
  SSL_shutdown(t->state); /* our close_notify; the peer's is not waited for */
  ERR_clear_error();
  wtls_t *w = of_ssl(t->state);
  if (w->olen || t->held)
    (void)out_flush(t, w); /* best effort: the FIN follows whatever the socket took */
  shutdown(t->fd, SHUT_WR);
}

static int tls_zero_copy(const struct transport *t) {
  return BIO_get_ktls_send(SSL_get_wbio(t->state)) != 0;
}

static const char *tls_servername(const struct transport *t) {
  return SSL_get_servername(t->state, TLSEXT_NAMETYPE_host_name);
}

static const char *tls_alpn(const struct transport *t, unsigned *len) {
  const unsigned char *p = NULL;
  SSL_get0_alpn_selected(t->state, &p, len);
  return *len ? (const char *)p : NULL;
}

static const char *tls_describe(const struct transport *t, char *buf, size_t len) {
  snprintf(buf, len, "%s %c", SSL_get_version(t->state), SSL_session_reused(t->state) ? 'r' : '.');
  return buf;
}

static void tls_release(struct transport *t) {
  held_drop(t, of_ssl(t->state));
  t->owed = 0;
  SSL_free(t->state);
  t->state = NULL;
}

static const struct transport_ops transport_tls = {
    .name = "tls",
    .handshake = tls_handshake,
    .recv = tls_recv,
    .sendv = tls_sendv,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .zero_copy = tls_zero_copy,
    .alpn = tls_alpn,
    .servername = tls_servername,
    .describe = tls_describe,
    .release = tls_release,
};

int wtls_transport_init(void *arg, struct transport *t) {
  wtls_t *w = arg;
  SSL *s = SSL_new(conf_tls_ctx(w->conf->tls.ctx, 0));
  if (!s || SSL_set_fd(s, t->fd) != 1) {
    SSL_free(s);
    ERR_clear_error();
    return -ENOMEM;
  }
  SSL_set_accept_state(s);
  /* TLS 1.3 sends the session ticket as a write of its own after the handshake: with Nagle,
   * the answer that follows waits for the client's delayed ACK of it (40 ms, measured). */
  int one = 1;
  setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  t->nodelay = 1;
  t->ops = &transport_tls;
  t->state = s;
  return 0;
}

/* ---- the worker's TLS state -------------------------------------------------------------- */

/* Kernel TLS only where the kernel has the tls ULP loaded; elsewhere OpenSSL would try it on
 * every connection and fall back each time. */
static int kernel_has_tls(void) {
  char buf[256] = "";
  FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
    if (strcmp(tok, "tls") == 0)
      return 1;
  return 0;
}

int wtls_new(const conf_t *conf, const struct ipc_ticket_keys *keys, log_t *log, wtls_t **out) {
  wtls_t *w = calloc(1, sizeof(*w));
  if (!w)
    return -ENOMEM;
  w->conf = conf;
  w->log = log;
  /* Ours first: a client that offers both gets h2 (http2 = true). */
  static const unsigned char h1[] = "\x08http/1.1", both[] = "\x02h2\x08http/1.1";
  if (conf->http2) {
    memcpy(w->alpn, both, sizeof(both) - 1);
    w->alpn_len = sizeof(both) - 1;
  } else {
    memcpy(w->alpn, h1, sizeof(h1) - 1);
    w->alpn_len = sizeof(h1) - 1;
  }
  static BIO_METHOD *obio_method; /* one per process, never freed: BIOs of it live as long */
  if (!obio_method) {
    obio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evcluster records");
    if (!obio_method || !BIO_meth_set_create(obio_method, obio_create) ||
        !BIO_meth_set_write_ex(obio_method, obio_write) ||
        !BIO_meth_set_ctrl(obio_method, obio_ctrl)) {
      BIO_meth_free(obio_method);
      obio_method = NULL;
    }
  }
  w->out_bio = obio_method ? BIO_new(obio_method) : NULL;
  w->obuf = malloc(OBUF_CAP);
  if (!w->out_bio || !w->obuf) {
    ERR_clear_error();
    BIO_free(w->out_bio);
    free(w->obuf);
    free(w);
    return -ENOMEM;
  }
  BIO_set_data(w->out_bio, w);
  if (keys)
    wtls_set_keys(w, keys);
  if (ex_index < 0)
    ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
#ifndef OPENSSL_NO_KTLS
  w->ktls_asked = kernel_has_tls();
#endif
  /* Our copies of the supervisor's contexts (fork): what we set here stays in this worker. */
  for (size_t i = 0; i < conf_tls_count(conf->tls.ctx); i++) {
    SSL_CTX *ctx = conf_tls_ctx(conf->tls.ctx, i);
    SSL_CTX_set_ex_data(ctx, ex_index, w);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, w);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, w);
    if (conf->tls.session_tickets)
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    if (w->ktls_asked)
      SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
  }
  log_msg(log, LOG_DEBUG, "TLS: %zu certificate%s, file bodies by %s", conf_tls_count(conf->tls.ctx),
          conf_tls_count(conf->tls.ctx) == 1 ? "" : "s",
          w->ktls_asked ? "kernel TLS where a connection gets it" : "pool-read buffers");
  *out = w;
  return 0;
}

void wtls_set_keys(wtls_t *w, const struct ipc_ticket_keys *keys) {
  w->keys = *keys;
  w->n_keys = keys->n_keys == 2 ? 2 : 1;
}

void wtls_stats(const wtls_t *w, struct wtls_stats *out) {
  *out = w->st;
}

void wtls_free(wtls_t *w) {
  if (!w)
    return;
  OPENSSL_cleanse(&w->keys, sizeof(w->keys));
  BIO_set_data(w->out_bio, NULL); /* connections still holding it no longer write */
  BIO_free(w->out_bio);
  free(w->obuf);
  while (w->n_spare)
    free(w->spare[--w->n_spare]);
  free(w);
}
