#ifndef EDGEMOUNT_CZLIB_SHIM_H
#define EDGEMOUNT_CZLIB_SHIM_H
#include <zlib.h>
#endif
