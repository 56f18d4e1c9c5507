// Ownership that sticks: an image's owner, group and permission bits live in
// its RBD image metadata (core::OWNER_KEY_*), so every mount of the cluster
// sees what a chown or chmod through one of them stored. What has none
// stored shows the mount's defaults (uid=, gid=, umask=). The kernel
// enforces them on mounts with default_permissions.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <map>

#include "fuse/fs_internal.h"

namespace rbdfs::ll {

void Filesystem::apply_owner(const core::ImageHeader& h, bool writable, struct stat* st) const {
  mode_t mode = h.owner_mode ? static_cast<mode_t>(*h.owner_mode) : (0666 & ~m_opts.umask);
  if (!writable) mode &= ~static_cast<mode_t>(0222);
  st->st_mode = S_IFREG | mode;
  if (h.owner_uid) st->st_uid = static_cast<uid_t>(*h.owner_uid);
  if (h.owner_gid) st->st_gid = static_cast<gid_t>(*h.owner_gid);
}

Status Filesystem::store_owner(const Node& n, const struct stat* attr, int to_set,
                               const fuse_ctx* who) {
  if (n.kind == NodeKind::SNAP || n.kind == NodeKind::TRASHED) return Errno(EROFS);
  if (n.kind != NodeKind::IMAGE) return Errno(EPERM);  // directories keep the defaults
  if (m_opts.read_only) return Errno(EROFS);
  auto h = image_header(n.pool, n.image);
  if (!h.ok()) return h.err();
  struct stat cur;
  fill_common(&cur);
  apply_owner(**h, true, &cur);
  // What chown(2)/chmod(2) allow (the kernel checks it too, with
  // default_permissions): root anything; the owner chmod, and chgrp to a
  // group of its own (the request's gid stands for them here).
  const bool root = who->uid == 0;
  const bool owner = who->uid == cur.st_uid;
  if ((to_set & FUSE_SET_ATTR_UID) && !root && attr->st_uid != cur.st_uid) return Errno(EPERM);
  if ((to_set & FUSE_SET_ATTR_GID) && !root && !(owner && attr->st_gid == who->gid) &&
      attr->st_gid != cur.st_gid)
    return Errno(EPERM);
  if ((to_set & FUSE_SET_ATTR_MODE) && !root && !owner) return Errno(EPERM);
  std::map<std::string, std::string> kv;
  if (to_set & FUSE_SET_ATTR_MODE) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0%o", static_cast<unsigned>(attr->st_mode & 07777));
    kv[core::OWNER_KEY_MODE] = buf;
  }
  if (to_set & FUSE_SET_ATTR_UID) kv[core::OWNER_KEY_UID] = std::to_string(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) kv[core::OWNER_KEY_GID] = std::to_string(attr->st_gid);
  if (kv.empty()) return {};
  auto pl = pool(n.pool);
  if (!pl.ok()) return pl.err();
  Status s = (*pl)->set_metadata((*h)->id, kv);
  forget_header(n.pool, n.image);
  if (!s.ok()) {
    spdlog::warn("chmod/chown {}/{}: storing it in the image's metadata: {}", n.pool, n.image,
                 s.err().message());
    return s;
  }
  if (auto img = find_open(n.pool, n.image)) (void)img->refresh();
  return {};
}

Status Filesystem::own_new_image(fuse_req_t req, const std::string& pool_name,
                                 const std::string& name, mode_t mode) {
  const fuse_ctx* who = fuse_req_ctx(req);
  // open(2)'s mode, less the caller's umask (the kernel passes it apart)
  const mode_t want = mode & 07777 & ~who->umask;
  struct stat attr {};
  int to_set = 0;
  // a user's own (every mount shows it), root's only where this mount
  // would show another owner
  if (who->uid != 0 || who->uid != m_uid) to_set |= FUSE_SET_ATTR_UID;
  if (who->gid != 0 || who->gid != m_gid) to_set |= FUSE_SET_ATTR_GID;
  if (want != (0666 & ~m_opts.umask)) to_set |= FUSE_SET_ATTR_MODE;
  if (!to_set) return {};
  attr.st_uid = who->uid;
  attr.st_gid = who->gid;
  attr.st_mode = want;
  fuse_ctx as_root = *who;
  as_root.uid = 0;  // the creator may give the new file away to itself
  Status s = store_owner(Node{NodeKind::IMAGE, pool_name, name, "", ""}, &attr, to_set, &as_root);
  if (!s.ok())
    spdlog::warn("create {}/{}: storing its owner: {}", pool_name, name, s.err().message());
  return s;
}

}  // namespace rbdfs::ll
