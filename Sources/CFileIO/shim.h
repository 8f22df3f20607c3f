#ifndef EDGEMOUNT_CFILEIO_SHIM_H
#define EDGEMOUNT_CFILEIO_SHIM_H
// O_DIRECT is a GNU extension, which Swift's Glibc module leaves out.
#define _GNU_SOURCE 1
#include <fcntl.h>
static inline int em_open_direct_flag(void) { return O_DIRECT; }
#endif
