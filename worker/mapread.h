/* Reads of a file's mapping by the worker itself that survive the file being truncated
 * meanwhile. A mapped page past the file's new end raises SIGBUS on a read, which would kill
 * the worker and every connection on it; within mapread_copy that fault ends the copy with
 * -EFAULT instead, as the kernel's own copy (a writev from the mapping) fails. Any other
 * SIGBUS still ends the process as it would without this module. */
#ifndef EVC_MAPREAD_H
#define EVC_MAPREAD_H

#include <stddef.h>

/* Installs the process's SIGBUS handler; once per process, before the first copy. 0 or a
 * negative errno (then mapread_copy must not be used). */
int mapread_init(void);

/* Copies len bytes of a mapping at src to dst. 0, or -EFAULT when a page of src lay past
 * its file's end (what dst then holds is unspecified: memcpy need not copy in order). Any
 * thread may call it. */
int mapread_copy(void *dst, const void *src, size_t len);

#endif
