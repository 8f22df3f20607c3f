import CFuse
import FileSystem
import Glibc

/// The mount a request belongs to, from the session's userdata.
private func mount(_ req: fuse_req_t?) -> FUSEMount {
  Unmanaged<FUSEMount>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}

private func reply(_ req: fuse_req_t?, _ error: any Error) {
  fuse_reply_err(req, FSError(error).errno)
}

private func name(_ cName: UnsafePointer<CChar>?) -> String {
  cName.map { String(cString: $0) } ?? ""
}

/// A change the mount does not allow here (mkdir, symlink, link, mknod): EROFS on a read-only
/// mount, else EACCES with a reason.
private func refuse(_ req: fuse_req_t?) {
  reply(req, mount(req).fs.refuseChange())
}

/// The low-level operations table. Built here, in a non-isolated library function, so the
/// closures are plain C callbacks that libfuse may call from any worker thread.
func makeOperations() -> fuse_lowlevel_ops {
  var ops = fuse_lowlevel_ops()

  ops.`init` = { userdata, conn in
    guard let conn else { return }
    if let userdata { Unmanaged<FUSEMount>.fromOpaque(userdata).takeUnretainedValue().raiseReadaheadSoon() }
    conn.pointee.want |= UInt32(FUSE_CAP_READDIRPLUS)
    conn.pointee.want &= ~UInt32(FUSE_CAP_READDIRPLUS_AUTO)
    if conn.pointee.capable & UInt32(FUSE_CAP_ASYNC_READ) != 0 { conn.pointee.want |= UInt32(FUSE_CAP_ASYNC_READ) }
    conn.pointee.max_readahead = min(conn.pointee.max_readahead, 1 << 20)
  }

  ops.lookup = { req, parent, cName in
    do {
      guard let cName else { throw FSError.notFound }
      var e = try mount(req).fs.lookup(parent: UInt64(parent), cName: cName).entry
      fuse_reply_entry(req, &e)
    } catch { reply(req, error) }
  }

  ops.forget = { req, ino, count in
    mount(req).fs.forget(ino: UInt64(ino), count: count)
    fuse_reply_none(req)
  }

  ops.forget_multi = { req, count, list in
    let fs = mount(req).fs
    for i in 0..<count {
      if let item = list?[i] { fs.forget(ino: UInt64(item.ino), count: item.nlookup) }
    }
    fuse_reply_none(req)
  }

  ops.getattr = { req, ino, _ in
    do {
      let attrs = try mount(req).fs.attributes(ino: UInt64(ino))
      var st = attrs.stat
      fuse_reply_attr(req, &st, attrs.timeout)
    } catch { reply(req, error) }
  }

  ops.setattr = { req, ino, attr, toSet, fi in
    do {
      let size: UInt64? = toSet & FUSE_SET_ATTR_SIZE != 0 ? UInt64(max(0, attr?.pointee.st_size ?? 0)) : nil
      let attrs = try mount(req).fs.setAttributes(ino: UInt64(ino), size: size, handle: fi?.pointee.fh)
      var st = attrs.stat
      fuse_reply_attr(req, &st, attrs.timeout)
    } catch { reply(req, error) }
  }
  ops.mknod = { req, _, _, _, _ in refuse(req) }
  ops.mkdir = { req, parent, cName, _ in reply(req, mount(req).fs.refuseChange(in: UInt64(parent), name: name(cName))) }
  ops.rmdir = { req, parent, cName in reply(req, mount(req).fs.refuseChange(in: UInt64(parent), name: name(cName))) }
  ops.symlink = { req, _, _, _ in refuse(req) }
  ops.link = { req, _, _, _ in refuse(req) }
  // No settable attributes (ACLs included): "not supported" lets cp -a and sed -i carry on.
  ops.setxattr = { req, _, _, _, _, _ in fuse_reply_err(req, ENOTSUP) }
  ops.removexattr = { req, _, _ in fuse_reply_err(req, ENOTSUP) }

  ops.unlink = { req, parent, cName in
    do {
      try mount(req).fs.unlink(parent: UInt64(parent), name: name(cName), editor: editor(req))
      fuse_reply_err(req, 0)
    } catch { reply(req, error) }
  }

  ops.rename = { req, parent, cName, newParent, cNewName, flags in
    do {
      try mount(req).fs.rename(
        parent: UInt64(parent), name: name(cName), newParent: UInt64(newParent), newName: name(cNewName), flags: UInt32(flags),
        editor: editor(req))
      fuse_reply_err(req, 0)
    } catch { reply(req, error) }
  }

  ops.create = { req, parent, cName, _, fi in
    guard let fi else { return reply(req, FSError.badHandle) }
    do {
      let (attrs, opened) = try mount(req).fs.create(
        parent: UInt64(parent), name: name(cName), flags: fi.pointee.flags, editor: editor(req))
      fi.pointee.fh = opened.handle
      fi.pointee.direct_io = opened.directIO ? 1 : 0
      fi.pointee.keep_cache = 0
      var e = attrs.entry
      fuse_reply_create(req, &e, fi)
    } catch { reply(req, error) }
  }

  ops.open = { req, ino, fi in
    guard let fi else { return reply(req, FSError.badHandle) }
    do {
      // Who saves (user and program) is asked only of opens for writing.
      let flags = fi.pointee.flags
      let writing = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
      let opened = try mount(req).fs.open(ino: UInt64(ino), flags: flags, editor: writing ? editor(req) : .unknown)
      fi.pointee.fh = opened.handle
      fi.pointee.direct_io = opened.directIO ? 1 : 0
      fi.pointee.keep_cache = opened.keepCache ? 1 : 0
      fuse_reply_open(req, fi)
    } catch { reply(req, error) }
  }

  ops.read = { req, _, size, offset, fi in
    guard let fi else { return reply(req, FSError.badHandle) }
    do {
      let bytes = try mount(req).fs.read(handle: fi.pointee.fh, offset: UInt64(max(0, offset)), count: size)
      replyData(req, bytes.segments[...])
    } catch { reply(req, error) }
  }

  ops.write = { req, _, buf, size, offset, fi in
    guard let fi, let buf else { return reply(req, FSError.badHandle) }
    do {
      let data = [UInt8](UnsafeRawBufferPointer(start: buf, count: size))
      // Direct-I/O writes carry the writing process's lock owner (its file table).
      let written = try mount(req).fs.write(
        handle: fi.pointee.fh, offset: UInt64(max(0, offset)), data: data, owner: fi.pointee.lock_owner)
      fuse_reply_write(req, written)
    } catch { reply(req, error) }
  }

  ops.release = { req, _, fi in
    if let fi { mount(req).fs.release(handle: fi.pointee.fh) }
    fuse_reply_err(req, 0)
  }

  // A save commits at flush (every close) and fsync; its error is what close/fsync returns.
  ops.flush = { req, _, fi in
    do {
      let pid = fuse_req_ctx(req)?.pointee.pid ?? 0
      if let fi {
        try mount(req).fs.flush(
          handle: fi.pointee.fh, owner: fi.pointee.lock_owner, writerFailure: { DyingProcess.failure(of: pid) },
          closer: { editor(req) })
      }
      fuse_reply_err(req, 0)
    } catch { reply(req, error) }
  }
  ops.fsync = { req, _, _, fi in
    do {
      if let fi { try mount(req).fs.flush(handle: fi.pointee.fh) }
      fuse_reply_err(req, 0)
    } catch { reply(req, error) }
  }

  ops.opendir = { req, ino, fi in
    guard let fi else { return reply(req, FSError.badHandle) }
    let m = mount(req)
    do {
      fi.pointee.fh = try m.fs.openDirectory(ino: UInt64(ino))
      fuse_reply_open(req, fi)
    } catch { reply(req, error) }
  }

  ops.readdir = { req, _, size, offset, fi in
    readDirectory(req, size: size, offset: offset, fi: fi, plus: false)
  }

  ops.readdirplus = { req, _, size, offset, fi in
    readDirectory(req, size: size, offset: offset, fi: fi, plus: true)
  }

  ops.releasedir = { req, _, fi in
    if let fi { mount(req).fs.closeDirectory(handle: fi.pointee.fh) }
    fuse_reply_err(req, 0)
  }

  ops.fsyncdir = { req, _, _, _ in fuse_reply_err(req, 0) }

  ops.statfs = { req, _ in
    var st = statvfs()
    st.f_bsize = 4096
    st.f_frsize = 4096
    // S3 has no capacity; report a large, fixed size so df and free-space checks pass.
    st.f_blocks = 1 << 38
    st.f_bfree = 1 << 38
    st.f_bavail = 1 << 38
    st.f_files = fsfilcnt_t(mount(req).fs.inodeCount)
    st.f_ffree = 1 << 32
    st.f_favail = 1 << 32
    st.f_namemax = 255
    fuse_reply_statfs(req, &st)
  }

  ops.getxattr = { req, ino, cName, size in
    do {
      guard let value = try mount(req).fs.extendedAttribute(ino: UInt64(ino), name: name(cName)) else {
        fuse_reply_err(req, ENODATA)
        return
      }
      replyXattr(req, Array(value.utf8), size: size)
    } catch { reply(req, error) }
  }
  ops.listxattr = { req, ino, size in
    do {
      let names: [UInt8] = try mount(req).fs.extendedAttributes(ino: UInt64(ino)).flatMap { Array($0.0.utf8) + [UInt8(0)] }
      replyXattr(req, names, size: size)
    } catch { reply(req, error) }
  }

  return ops
}

/// The user and program of the process behind a request.
private func editor(_ req: fuse_req_t?) -> Editor {
  guard let context = fuse_req_ctx(req)?.pointee else { return .unknown }
  return CallingProcess.editor(pid: context.pid, uid: context.uid)
}

/// Replies to a read straight from the blocks' memory, one iovec per segment (no joining copy).
private func replyData(_ req: fuse_req_t?, _ segments: ArraySlice<ArraySlice<UInt8>>, _ vectors: [iovec] = []) {
  guard let first = segments.first else {
    _ = vectors.withUnsafeBufferPointer { fuse_reply_iov(req, $0.baseAddress, Int32($0.count)) }
    return
  }
  first.withUnsafeBufferPointer { buf in
    let vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: buf.baseAddress), iov_len: buf.count)
    replyData(req, segments.dropFirst(), vectors + [vector])
  }
}

/// The xattr protocol: size 0 asks for the length; a too-small buffer is ERANGE.
private func replyXattr(_ req: fuse_req_t?, _ bytes: [UInt8], size: Int) {
  if size == 0 {
    fuse_reply_xattr(req, bytes.count)
  } else if size < bytes.count {
    fuse_reply_err(req, ERANGE)
  } else {
    bytes.withUnsafeBufferPointer { buf in
      _ = fuse_reply_buf(req, UnsafeRawPointer(buf.baseAddress)?.assumingMemoryBound(to: CChar.self), buf.count)
    }
  }
}

/// Fills one readdir(plus) reply from the handle's snapshot, starting after `offset`.
private func readDirectory(
  _ req: fuse_req_t?, size: Int, offset: off_t, fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool
) {
  guard let fi else { return reply(req, FSError.badHandle) }
  let m = mount(req)
  guard let entries = m.fs.directoryEntries(handle: fi.pointee.fh) else { return reply(req, FSError.badHandle) }
  var buffer = [CChar](repeating: 0, count: size)
  var used = 0
  var index = Int(max(0, offset))
  buffer.withUnsafeMutableBufferPointer { buf in
    while index < entries.count {
      let entry = entries[index]
      let isDot = entry.name == "." || entry.name == ".."
      let next = off_t(index + 1)
      let remaining = size - used
      let added: Int
      if plus {
        var e = entry.attributes.entry
        if isDot {
          // No lookup is counted for . and ..: inode 0 tells the kernel not to.
          e = fuse_entry_param()
          e.attr.st_ino = ino_t(entry.attributes.ino)
          e.attr.st_mode = S_IFDIR
        }
        added = fuse_add_direntry_plus(req, buf.baseAddress! + used, remaining, entry.name, &e, next)
      } else {
        var st = entry.attributes.stat
        added = fuse_add_direntry(req, buf.baseAddress! + used, remaining, entry.name, &st, next)
      }
      if added > remaining { break }
      if plus && !isDot { m.fs.retain(ino: entry.attributes.ino) }
      used += added
      index += 1
    }
    _ = fuse_reply_buf(req, buf.baseAddress, used)
  }
}
