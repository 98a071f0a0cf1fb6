/* The supervisor <-> worker channel: one socketpair(AF_UNIX, SOCK_SEQPACKET) per worker, one
 * message per packet: a fixed header (version, type, length) and a payload whose size each
 * type fixes. Both sides check every length and type; what fails the checks is dropped by
 * the caller (and logged there: this module does not log). Used by both processes. */
#ifndef EVC_IPC_H
#define EVC_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION 1
#define IPC_MAX_MSG 1024 /* header + the largest payload, with room to detect oversize */

enum ipc_type {
  /* worker -> supervisor */
  IPC_READY = 1,    /* payload: struct ipc_ready */
  IPC_PONG = 2,     /* payload: struct ipc_stats */
  IPC_DRAINING = 3, /* payload: none */
  IPC_EXITING = 4,  /* payload: none */
  IPC_FINAL = 5,    /* payload: struct ipc_stats, the last figures, sent before EXITING */
  /* supervisor -> worker */
  IPC_PING = 16,   /* payload: struct ipc_ping */
  IPC_DRAIN = 17,  /* payload: struct ipc_drain */
  IPC_STOP = 18,   /* payload: none */
  IPC_REOPEN = 19, /* payload: none */
  IPC_TICKET_KEYS = 20, /* payload: struct ipc_ticket_keys */
};

struct ipc_header {
  uint8_t version;
  uint8_t type;
  uint16_t length; /* payload bytes after the header */
};

struct ipc_ready {
  uint32_t pid;
  uint32_t generation;
};

struct ipc_ping {
  uint64_t seq;
};

struct ipc_drain {
  uint32_t deadline_ms; /* from receipt; after it the worker closes whatever is left */
};

/* Status codes counted one by one (those a worker answers with); any other code counts in
 * the last slot, "other". ipc_status_codes[] lists them in slot order. */
#define IPC_N_STATUS 19
extern const uint16_t ipc_status_codes[IPC_N_STATUS - 1];
/* The slot of a status code in ipc_counters.status. */
unsigned ipc_status_slot(int code);
/* Request duration histogram: bucket i counts durations <= ipc_duration_bounds_us[i] (and
 * above the bound before it); the last bucket is everything above the last bound. */
#define IPC_N_DURATION 15
extern const uint32_t ipc_duration_bounds_us[IPC_N_DURATION - 1];
unsigned ipc_duration_slot(uint64_t us);

/* A worker's counters since it started: they only grow. The supervisor adds those of
 * workers that are gone, so the cluster's totals never go backwards. */
struct ipc_counters {
  uint64_t accepted;  /* connections */
  uint64_t bytes_out; /* response bytes handed to the kernel, headers and bodies */
  uint64_t status[IPC_N_STATUS];
  uint64_t duration[IPC_N_DURATION]; /* per bucket, not cumulative */
  uint64_t duration_us_sum;
  uint64_t tls_handshakes;  /* completed TLS handshakes (the TLS transport counts them) */
  uint64_t tls_resumptions; /* of which resumed a session (ticket or cache) */
  uint64_t tls_failures;    /* handshakes that failed (a plain request, garbage, a timeout) */
};

/* A worker's answer to a ping. refs[] is indexed by enum loop_ref_kind. */
struct ipc_stats {
  uint64_t seq; /* the ping's */
  uint64_t connections;
  uint64_t requests;
  uint32_t refs_total;
  uint32_t refs[8];
  uint32_t pool_threads;
  uint32_t pool_queued;
  uint32_t pool_running;
  uint32_t state; /* 0 starting, 1 running, 2 draining */
  double lag_p50_ms;
  double lag_p99_ms;
  double lag_max_ms;
  struct ipc_counters counters;
  uint32_t tls_body_path; /* enum ipc_body_path: how TLS listeners send bodies from files */
  uint32_t pad;
  /* HTTP/2: connections speaking it now, and their open streams */
  uint64_t h2_connections;
  uint64_t h2_streams;
  /* the compression cache (files compressed on the fly): memory, hits, compressions made */
  uint64_t zc_entries, zc_bytes, zc_max_bytes, zc_hits, zc_compressions;
};

enum ipc_body_path { IPC_BODY_NONE = 0, IPC_BODY_BUFFER = 1, IPC_BODY_KTLS = 2 };

/* Session ticket keys, made by the supervisor (random, never on disk) and shared by every
 * worker so that a ticket from one resumes on another. A key: 16 bytes of name, 32 of
 * AES-256 key, 32 of HMAC-SHA256 key. cur encrypts new tickets; prev (when n_keys is 2)
 * still decrypts those of the last period. */
#define IPC_TICKET_KEY_LEN 80
struct ipc_ticket_keys {
  uint8_t cur[IPC_TICKET_KEY_LEN];
  uint8_t prev[IPC_TICKET_KEY_LEN];
  uint32_t n_keys; /* 1 or 2 */
};

struct ipc_msg {
  uint8_t type;
  uint16_t length;
  union {
    struct ipc_ready ready;
    struct ipc_ping ping;
    struct ipc_drain drain;
    struct ipc_stats stats;
    struct ipc_ticket_keys keys;
    uint8_t raw[IPC_MAX_MSG];
  } u;
};

/* Encodes one message into buf; returns its size or -EINVAL (unknown type, or a payload size
 * that type does not take) or -ENOBUFS. */
int ipc_encode(uint8_t type, const void *payload, size_t len, uint8_t *buf, size_t cap);
/* Decodes one received packet; 0, or -EPROTO (version), -EBADMSG (size, truncation, a length
 * field that disagrees with the packet) or -ENOTSUP (unknown type). */
int ipc_decode(const uint8_t *buf, size_t n, struct ipc_msg *out);
/* Sends one message on a SOCK_SEQPACKET fd (MSG_NOSIGNAL, EINTR retried): 0 or -errno
 * (-EAGAIN when the socket buffer is full). */
int ipc_send(int fd, uint8_t type, const void *payload, size_t len);
/* Receives and decodes one packet: 0, -EAGAIN (nothing waiting), -EPIPE (peer closed), a
 * decode error (the packet, an empty one too, was consumed and must be dropped), or another
 * -errno. */
int ipc_recv(int fd, struct ipc_msg *out);
const char *ipc_type_name(uint8_t type);

#endif
