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

namespace {

// Whether the caller of `req` is in group `gid` (primary or supplementary).
bool in_group(fuse_req_t req, const fuse_ctx* who, gid_t gid) {
  if (who->gid == gid) return true;
  gid_t groups[256];
  int n = fuse_req_getgroups(req, 256, groups);
  for (int k = 0; k < n && k < 256; ++k)
    if (groups[k] == gid) return true;
  return false;
}

}  // namespace

Status Filesystem::store_owner(const Node& n, const struct stat* attr, int to_set, fuse_req_t req) {
  if (n.kind == NodeKind::SNAP || n.kind == NodeKind::TRASHED) return Errno(EROFS);
  if (n.kind != NodeKind::IMAGE) return Errno(EPERM);  // directories keep the defaults
  if (m_opts.read_only) return Errno(EROFS);
  auto h = image_header(n.pool, n.image);
  if (!h.ok()) return h.err();
  // metadata_set on an image we cannot write would bypass its journal
  // (mirror peers) or touch a non-primary copy
  if (!(*h)->read_only_reason.empty()) return Errno(EROFS);
  struct stat cur;
  fill_common(&cur);
  apply_owner(**h, true, &cur);
  if (req) {
    // chown(2)'s and chmod(2)'s rules, whether or not the kernel checked
    // them (it does only with default_permissions): root changes anything;
    // the owner the mode, and the group to one of its own; nobody else
    // anything, not even to the same value.
    const fuse_ctx* who = fuse_req_ctx(req);
    const bool root = who->uid == 0;
    const bool owner = who->uid == cur.st_uid;
    if ((to_set & FUSE_SET_ATTR_UID) && !root && !(owner && attr->st_uid == cur.st_uid))
      return Errno(EPERM);
    if ((to_set & FUSE_SET_ATTR_GID) && !root &&
        !(owner && (attr->st_gid == cur.st_gid || in_group(req, who, attr->st_gid))))
      return Errno(EPERM);
    if ((to_set & FUSE_SET_ATTR_MODE) && !root && !owner) return Errno(EPERM);
  }
  std::map<std::string, std::string> kv;
  if (to_set & FUSE_SET_ATTR_MODE) {
    char buf[16];
    // permission bits only: no setuid, setgid or sticky file comes out of
    // a cluster that anyone with rbd access can write to
    std::snprintf(buf, sizeof buf, "0%o", static_cast<unsigned>(attr->st_mode & 0777));
    kv[core::OWNER_KEY_MODE] = buf;
  }
  if (to_set & FUSE_SET_ATTR_UID) kv[core::OWNER_KEY_UID] = std::to_string(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) kv[core::OWNER_KEY_GID] = std::to_string(attr->st_gid);
  if (kv.empty()) return {};
  auto pl = pool(n.pool);
  if (!pl.ok()) return pl.err();
  Status s = change_pool(n.pool, [&](core::Pool& q) { return q.set_metadata((*h)->id, kv); });
  forget_header(n.pool, n.image);
  if (!s.ok()) {
    spdlog::warn("chmod/chown {}/{}: storing it in the image's metadata: {}", n.pool, n.image,
                 s.err().message());
    return s;
  }
  if (auto img = find_open(n.pool, n.image)) (void)img->refresh();
  return {};
}

void Filesystem::own_new_image(fuse_req_t req, const std::string& pool_name,
                               const std::string& name, mode_t mode) {
  const fuse_ctx* who = fuse_req_ctx(req);
  // open(2)'s mode, less the caller's umask (the kernel passes it apart)
  const mode_t want = mode & 0777 & ~who->umask;
  struct stat attr {};
  int to_set = 0;
  // a user's own (every mount shows it), root's only where this mount
  // would show another owner
  if (who->uid != 0 || who->uid != m_uid) to_set |= FUSE_SET_ATTR_UID;
  if (who->gid != 0 || who->gid != m_gid) to_set |= FUSE_SET_ATTR_GID;
  if (want != (0666 & ~m_opts.umask)) to_set |= FUSE_SET_ATTR_MODE;
  if (!to_set) return;
  attr.st_uid = who->uid;
  attr.st_gid = who->gid;
  attr.st_mode = want;
  // the creator may give the new file to itself (no caller checks); the
  // image exists either way: a failure here leaves it the mount's defaults
  Status s = store_owner(Node{NodeKind::IMAGE, pool_name, name, "", ""}, &attr, to_set, nullptr);
  if (!s.ok())
    spdlog::warn("create {}/{}: storing its owner (it shows the mount's defaults): {}", pool_name,
                 name, s.err().message());
}

}  // namespace rbdfs::ll
