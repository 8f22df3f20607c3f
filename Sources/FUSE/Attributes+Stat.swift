import CFuse
import FileSystem
import Glibc

extension Attributes {
  /// The kernel's view of these attributes.
  var stat: stat {
    var st = Glibc.stat()
    st.st_ino = ino_t(ino)
    st.st_mode = (isDirectory ? S_IFDIR : S_IFREG) | mode
    // 1 for directories tells find(1) that the subdirectory count is unknown.
    st.st_nlink = nlink_t(links)
    st.st_uid = uid
    st.st_gid = gid
    st.st_size = off_t(clamping: size)
    st.st_blksize = 4096
    st.st_blocks = blkcnt_t(clamping: (size + 511) / 512)
    let t = timespec(tv_sec: time_t(mtime), tv_nsec: 0)
    st.st_mtim = t
    st.st_atim = t
    st.st_ctim = t
    return st
  }

  var entry: fuse_entry_param {
    var e = fuse_entry_param()
    e.ino = fuse_ino_t(ino)
    e.generation = 1
    e.attr = stat
    e.attr_timeout = timeout
    e.entry_timeout = timeout
    return e
  }
}
