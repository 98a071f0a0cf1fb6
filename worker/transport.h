/* The transport under a connection: the bytes in and out of one socket, plain or TLS. The
 * session (h1 in conn.c, h2 later) talks only to these operations, so no rule of HTTP knows
 * whether TLS is there. Loop thread only. "want" is the loop interest (LOOP_READ or
 * LOOP_WRITE) that lets a call that returned -EAGAIN make progress: a TLS read may need the
 * socket writable, a TLS write readable. */
#ifndef EVC_TRANSPORT_H
#define EVC_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
  const char *name; /* "plain", "tls" */
  /* 0 once data may flow; -EAGAIN with *want set; another -errno when the handshake failed
   * (the connection closes). Plain: always 0. */
  int (*handshake)(struct transport *t, int *want);
  /* > 0 bytes read, 0 the peer closed, -EAGAIN with *want, or -errno. */
  ssize_t (*recv)(struct transport *t, void *buf, size_t len, int *want);
  /* Sends from the iovecs; returns the bytes taken (> 0), -EAGAIN with *want, or -errno.
   * more: bytes follow at once, or a close does (MSG_MORE on plain). A call after -EAGAIN
   * must offer at least the bytes the failed one offered: TLS may have made records of them
   * that the socket took only in part; it holds the rest and answers for those bytes once
   * they are out. */
  ssize_t (*sendv)(struct transport *t, const struct iovec *iov, int n, int more, int *want);
  /* 1 when recv has bytes already decrypted: the socket will not say readable for them. */
  int (*pending)(const struct transport *t);
  /* Ends our direction: TLS close_notify, then the FIN. Never blocks; errors ignored. */
  void (*shutdown)(struct transport *t);
  /* 1 when file bytes may go from the file to the socket with sendfile (plain, or TLS with
   * the kernel doing the record layer); 0: the session must send them from memory. */
  int (*zero_copy)(const struct transport *t);
  /* The protocol ALPN chose ("http/1.1"; "h2" once HTTP/2 is offered), its length in *len;
   * NULL when none was (plain, or a client without ALPN): the session picks h1 then. */
  const char *(*alpn)(const struct transport *t, unsigned *len);
  /* The server name the client sent in SNI, or NULL (plain, or none sent): the site of a
   * request without Host. */
  const char *(*servername)(const struct transport *t);
  /* For the access log: "TLSv1.3 r" (resumed) or "TLSv1.2 ." (full handshake); "-" plain. */
  const char *(*describe)(const struct transport *t, char *buf, size_t len);
  /* Frees the transport's state; the socket stays open (its owner closes it). */
  void (*release)(struct transport *t);
};

/* Embedded in its connection. */
struct transport {
  const struct transport_ops *ops;
  void *state; /* TLS: the SSL object; plain: NULL */
  int fd;
  int nodelay; /* the transport set TCP_NODELAY itself (TLS does, at accept) */
  /* TLS: records made but not yet taken by the socket (a sendv that returned -EAGAIN),
   * written before any other byte. Owned here (malloc'd), freed by release. */
  char *held;
  size_t held_len, held_off;
  size_t owed; /* the plaintext bytes of those records: what the next sendv returns */
};

extern const struct transport_ops transport_plain;

#endif
