/* Fuzz harness: what a client sends that picks a site and a coding. The input is a Host
 * value (h1's Host, h2's :authority, a TLS server name) up to the first NUL and an
 * Accept-Encoding value after it. Checked: a normalized host is lower case, without
 * controls, '/', '@' or a port; a name matches only hosts that end with it and are no longer
 * by more than one label; the coding picked is among those available and of weight > 0, and
 * nothing acceptable is -1 only when every available coding has weight 0. */
#include <string.h>

#include "fuzz.h"
#include "http_accept.h"
#include "http_host.h"

static const char *const names[] = {"example.com", "*.example.com", "a.b", "*.b", "[::1]"};
static const size_t sites[] = {0, 1, 2, 3, 4};

static void host(const char *in, size_t len) {
  char out[256];
  int n = http_host_normalize(in, len, out, sizeof(out));
  if (n < 0)
    return;
  FUZZ_CHECK((size_t)n < sizeof(out) && out[n] == '\0' && (size_t)n <= len && n > 0);
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)out[i];
    FUZZ_CHECK(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z') && c != '/' && c != '@');
    FUZZ_CHECK(c != ':' || out[0] == '[');
  }
  struct http_host_names t = {names, sites, sizeof(names) / sizeof(names[0])};
  int s = http_host_pick(&t, out, (size_t)n);
  FUZZ_CHECK(s >= -1 && s < (int)(sizeof(names) / sizeof(names[0])));
  if (s >= 0) {
    const char *nm = names[s];
    FUZZ_CHECK(http_host_match(nm, out, (size_t)n));
    if (nm[0] == '*') { /* one label more than the suffix, no dot in it */
      size_t sl = strlen(nm + 1);
      FUZZ_CHECK((size_t)n > sl && memchr(out, '.', (size_t)n - sl) == NULL);
    } else {
      FUZZ_CHECK(strlen(nm) == (size_t)n && memcmp(nm, out, (size_t)n) == 0);
    }
  }
}

static void accept_encoding(const char *in, size_t len) {
  int q[HTTP_CODING_COUNT];
  http_accept_encoding(in, len, q);
  for (int i = 0; i < HTTP_CODING_COUNT; i++)
    FUZZ_CHECK(q[i] >= 0 && q[i] <= 1000);
  for (unsigned avail = 0; avail < (1u << HTTP_CODING_COUNT); avail++) {
    int c = http_accept_pick(q, avail);
    int any = 0;
    for (int i = 0; i < HTTP_CODING_COUNT; i++)
      any |= (avail & (1u << i)) && q[i] > 0;
    FUZZ_CHECK(any ? c >= 0 : c == -1);
    if (c >= 0) {
      FUZZ_CHECK((avail & (1u << c)) && q[c] > 0);
      for (int i = 0; i < HTTP_CODING_COUNT; i++) /* nothing available is preferred */
        FUZZ_CHECK(!(avail & (1u << i)) || q[i] <= q[c]);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  const char *nul = memchr(p, '\0', size);
  size_t hl = nul ? (size_t)(nul - p) : size;
  host(p, hl);
  if (nul)
    accept_encoding(nul + 1, size - hl - 1);
  else
    accept_encoding(p, size);
  return 0;
}
