#ifndef EDGEMOUNT_CISAL_SHIM_H
#define EDGEMOUNT_CISAL_SHIM_H
// Intel's ISA-L: crc32_gzip_refl is zlib's CRC-32, computed with carry-less multiplication.
#include <isa-l/crc.h>
#endif
