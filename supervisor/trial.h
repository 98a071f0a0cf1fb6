/* The rehearsal an upgrade asks of a new binary before executing it in place: with
 * EVC_UPGRADE_TRIAL set in its environment, `NEW -t -c FILE` also starts one worker of its
 * own (on private loopback listeners, never on the real ones), waits for its READY and stops
 * it. A build whose workers cannot start, or crash on the way, fails the check while the
 * running binary still serves, instead of after the execve. A binary without this module
 * ignores the variable and only checks the config. Runs in the short-lived -t process. */
#ifndef EVC_SUP_TRIAL_H
#define EVC_SUP_TRIAL_H

#include <stddef.h>

#include "conf.h"

#define SUP_TRIAL_ENV "EVC_UPGRADE_TRIAL"

/* held: the variable's value, the addresses the running binary holds and hands over, one per
 * line after a first line "held" ("1" from a binary that does not say: no address is
 * checked). Every address of conf that is not held (listen, admin.listen: the config edited
 * since) must be free to bind, or the new image could not start after the execve; then one
 * worker must start and report ready. 0, or -1 with the reason in why. */
int sup_trial_run(const conf_t *conf, const char *held, char *why, size_t len);

#endif
