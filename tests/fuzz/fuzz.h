/* Shared by the fuzz harnesses: a check that holds in every build type (assert() vanishes
 * under NDEBUG, which RelWithDebInfo defines) and the libFuzzer entry point's prototype. */
#ifndef EVC_FUZZ_H
#define EVC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                       \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                \
      abort();                                                                                 \
    }                                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
