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

/* 0 if a worker started and was ready; -1 with the reason in why. */
int sup_trial_run(const conf_t *conf, char *why, size_t len);

#endif
