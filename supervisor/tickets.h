/* TLS session ticket keys: made by the supervisor from the kernel's random bytes, kept in its
 * memory only (never on disk), handed to workers at fork and sent to them on each rotation,
 * so that a ticket from one worker resumes on any other, across reloads too. */
#ifndef EVC_SUP_TICKETS_H
#define EVC_SUP_TICKETS_H

#include "ipc.h"

/* A first key: 0, or -EIO when no random bytes could be had. */
int sup_tickets_make(struct ipc_ticket_keys *k);
/* The current key becomes the previous one (it still decrypts for one more period) and a new
 * one encrypts: 0 or -EIO (k unchanged). */
int sup_tickets_rotate(struct ipc_ticket_keys *k);

#endif
