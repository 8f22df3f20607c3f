#ifndef EDGEMOUNT_CFUSE_SHIM_H
#define EDGEMOUNT_CFUSE_SHIM_H
// At 312 the session loop and cmdline parsers are functions Swift can import (at 35 they are macros).
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <sys/xattr.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#ifndef ENOATTR
#define ENOATTR ENODATA
#endif

// fuse_session_loop_mt is a macro over a versioned symbol; one inline function Swift can call.
static inline int em_session_loop_mt(struct fuse_session *se, struct fuse_loop_config *config) {
  return fuse_session_loop_mt(se, config);
}

// Not FUSE, but the daemon's one other need from C: malloc tuning (see MallocTuning.swift).
#include <malloc.h>
static inline int em_tune_malloc(int arenas, int mmap_threshold, int trim_threshold) {
  return mallopt(M_ARENA_MAX, arenas) && mallopt(M_MMAP_THRESHOLD, mmap_threshold) &&
         mallopt(M_TRIM_THRESHOLD, trim_threshold);
}
#endif
