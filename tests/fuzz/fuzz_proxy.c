/* Fuzz harness: the PROXY protocol parser (worker/proxy_proto.c). Any bytes: no crash, no read
 * past the input; a complete header never claims more bytes than it was given, an address
 * family is one of three, and the verdict does not change when bytes are appended after a
 * complete header (what follows is the connection's, never the header's). Every strict prefix
 * of an accepted header asks for more. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct proxy_info pi, again;
  /* an exact-size copy, so ASan sees any read past the end */
  uint8_t *buf = malloc(size ? size : 1);
  memcpy(buf, data, size);
  int rc = proxy_parse(buf, size, &pi);
  FUZZ_CHECK(rc == 0 || rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE);
  if (rc == 0) {
    FUZZ_CHECK(pi.header_len > 0 && pi.header_len <= size);
    FUZZ_CHECK(pi.version == 1 || pi.version == 2);
    FUZZ_CHECK(pi.family == AF_UNSPEC || pi.family == AF_INET || pi.family == AF_INET6);
    FUZZ_CHECK(pi.header_len <= (pi.version == 1 ? (size_t)PROXY_V1_MAX : (size_t)PROXY_V2_MAX));
    FUZZ_CHECK(proxy_parse(buf, pi.header_len, &again) == 0);
    FUZZ_CHECK(again.header_len == pi.header_len && again.family == pi.family);
    FUZZ_CHECK(memcmp(&again.src, &pi.src, sizeof(pi.src)) == 0);
    for (size_t i = 0; i < pi.header_len; i++)
      FUZZ_CHECK(proxy_parse(buf, i, &again) == -EAGAIN);
  }
  free(buf);
  return 0;
}
