/* The version string: -v, status, /metrics' build_info, and the generations of an upgrade. */
#ifndef EVC_SUP_VERSION_H
#define EVC_SUP_VERSION_H

#define EVC_VERSION "0.1.0"

#endif
