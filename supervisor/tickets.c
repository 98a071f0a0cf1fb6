/* Ticket keys (see tickets.h). Supervisor only. */
#include "tickets.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

int sup_tickets_make(struct ipc_ticket_keys *k) {
  memset(k, 0, sizeof(*k));
  if (RAND_priv_bytes(k->cur, sizeof(k->cur)) != 1)
    return -EIO;
  k->n_keys = 1;
  return 0;
}

int sup_tickets_rotate(struct ipc_ticket_keys *k) {
  unsigned char fresh[IPC_TICKET_KEY_LEN];
  if (RAND_priv_bytes(fresh, sizeof(fresh)) != 1)
    return -EIO;
  memcpy(k->prev, k->cur, sizeof(k->prev));
  memcpy(k->cur, fresh, sizeof(k->cur));
  OPENSSL_cleanse(fresh, sizeof(fresh));
  k->n_keys = 2;
  return 0;
}
