// Extended attributes: the image's RBD facts, read-only.
#include <linux/fuse.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <linux/falloc.h>

#include "core/features.h"
#include "core/io_counters.h"
#include "core/memory_trim.h"
#include "core/striper.h"
#include "fuse/fs_internal.h"
#include "fuse/uring.h"

namespace rbdfs::ll {

namespace {
// rbdfs keeps no attributes outside the user namespace: trusted.*,
// security.* and system.* are EOPNOTSUPP, as on a filesystem without them
// (libvirt's DAC driver then chowns without remembering the owner in
// trusted.libvirt.security.*, instead of failing to start the domain).
bool user_namespace(const char* name) { return std::strncmp(name, "user.", 5) == 0; }

void reply_xattr_value(fuse_req_t req, const std::string& v, size_t size) {
  if (size == 0)
    fuse_reply_xattr(req, v.size());
  else if (size < v.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, v.data(), v.size());
}
const char* const IMAGE_XATTRS[] = {
    "user.rbd.id",          "user.rbd.features",     "user.rbd.object_size",
    "user.rbd.stripe_unit", "user.rbd.stripe_count", "user.rbd.block_name_prefix",
    "user.rbd.parent",      "user.rbd.overlap",      "user.rbdfs.read_only_reason",
};
const char* const SNAP_XATTRS[] = {"user.rbd.snap_id", "user.rbd.protected"};
// on the mount's root: how much the daemon holds (open images, cached
// entries per image, inodes the kernel holds), to watch it stay bounded
const char* const ROOT_CACHES = "user.rbdfs.caches";
// on the mount's root: what the data path sent to RADOS (core/io_counters.h)
const char* const ROOT_IO = "user.rbdfs.io";
// on the mount's root: resident memory, malloc's bytes in use, trims so far
// (core/memory_trim.h)
const char* const ROOT_MEMORY = "user.rbdfs.memory";
// on the mount's root: how requests arrive (fuse/uring.h)
const char* const ROOT_FUSE = "user.rbdfs.fuse";
// on the mount's root: the client instance in use (a new one after a
// blocklisting), as `rbd status` and `ceph osd blocklist` show it
const char* const ROOT_CLIENT = "user.rbdfs.client";
const char* const TRASH_XATTRS[] = {
    "user.rbd.trash.id",    "user.rbd.trash.name",          "user.rbd.trash.source",
    "user.rbd.trash.state", "user.rbd.trash.deletion_time", "user.rbd.trash.deferment_end_time",
};

// As `rbd trash ls -l` words them.
const char* trash_source_name(uint8_t s) {
  switch (s) {
    case core::cls::TRASH_SOURCE_USER:
      return "user";
    case core::cls::TRASH_SOURCE_MIRRORING:
      return "mirroring";
    case core::cls::TRASH_SOURCE_MIGRATION:
      return "migration";
    case core::cls::TRASH_SOURCE_REMOVING:
      return "removing";
    case core::cls::TRASH_SOURCE_USER_PARENT:
      return "user_parent";
  }
  return "unknown";
}
const char* trash_state_name(uint8_t s) {
  switch (s) {
    case core::cls::TRASH_STATE_NORMAL:
      return "normal";
    case core::cls::TRASH_STATE_MOVING:
      return "moving";
    case core::cls::TRASH_STATE_REMOVING:
      return "removing";
    case core::cls::TRASH_STATE_RESTORING:
      return "restoring";
  }
  return "unknown";
}
// UTC, ISO 8601 (date -d reads it).
std::string iso_time(const core::cls::UTime& t) {
  time_t secs = static_cast<time_t>(t.sec);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

void Filesystem::trash_getxattr(fuse_req_t req, const Node& n, const std::string& name,
                                size_t size) {
  auto e = trash_entry(n.pool, n.image, false);
  if (!e.ok()) {
    fuse_reply_err(req, e.error());
    return;
  }
  std::string v;
  if (name == "user.rbd.trash.id")
    v = e->id;
  else if (name == "user.rbd.trash.name")
    v = e->spec.name;
  else if (name == "user.rbd.trash.source")
    v = trash_source_name(e->spec.source);
  else if (name == "user.rbd.trash.state")
    v = trash_state_name(e->spec.state);
  else if (name == "user.rbd.trash.deletion_time")
    v = iso_time(e->spec.deletion_time);
  else if (name == "user.rbd.trash.deferment_end_time")
    v = iso_time(e->spec.deferment_end_time);
  else {
    fuse_reply_err(req, ENODATA);
    return;
  }
  reply_xattr_value(req, v, size);
}

void Filesystem::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name_c, size_t size) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (!user_namespace(name_c)) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  std::string name = name_c;
  if (n.kind == NodeKind::TRASHED) {
    trash_getxattr(req, n, name, size);
    return;
  }
  if (n.kind == NodeKind::ROOT && name == ROOT_CACHES) {
    reply_xattr_value(req, cache_sizes(), size);
    return;
  }
  if (n.kind == NodeKind::ROOT && name == ROOT_IO) {
    const auto& c = core::io_counters();
    reply_xattr_value(req,
                      "object_reads=" + std::to_string(c.object_reads.load()) +
                          " gathered_reads=" + std::to_string(c.gathered_reads.load()) +
                          " gathered_pieces=" + std::to_string(c.gathered_pieces.load()),
                      size);
    return;
  }
  if (n.kind == NodeKind::ROOT && name == ROOT_FUSE) {
    const auto& f = ring_figures();
    reply_xattr_value(req,
                      std::string("transport=") + (f.active.load() ? "io_uring" : "dev_fuse") +
                          " queues=" + std::to_string(f.queues.load()) +
                          " entries=" + std::to_string(f.entries.load()) +
                          " ring_requests=" + std::to_string(f.requests.load()) +
                          " lost=" + std::to_string(f.lost.load()) +
                          " ring_resident=" + std::to_string(ring_resident_bytes()),
                      size);
    return;
  }
  if (n.kind == NodeKind::ROOT && name == ROOT_CLIENT) {
    auto c = cluster();
    reply_xattr_value(req,
                      "name=" + c->client_name() + " instance=client." +
                          std::to_string(c->instance_id()) + " address=" + c->address() +
                          " blocklisted=" + (c->blocklisted() ? "yes" : "no"),
                      size);
    return;
  }
  if (n.kind == NodeKind::ROOT && name == ROOT_MEMORY) {
    const auto m = core::memory_figures();
    reply_xattr_value(req,
                      "resident=" + std::to_string(m.resident) + " heap_in_use=" +
                          std::to_string(m.heap_in_use) + " trims=" + std::to_string(m.trims),
                      size);
    return;
  }
  // Answered without reading a header: pools and directories have no
  // attributes (security.capability, which the kernel asks for before every
  // write, was answered above).
  if (n.kind != NodeKind::IMAGE && n.kind != NodeKind::SNAP) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  auto h = image_header(n.pool, n.image);
  if (!h.ok()) {
    fuse_reply_err(req, h.error());
    return;
  }
  const auto& hdr = **h;
  std::string v;
  if (name == "user.rbd.id")
    v = hdr.id;
  else if (name == "user.rbd.features")
    v = core::feature_names(hdr.features);
  else if (name == "user.rbd.object_size")
    v = std::to_string(hdr.layout.object_size);
  else if (name == "user.rbd.stripe_unit")
    v = std::to_string(hdr.layout.stripe_unit);
  else if (name == "user.rbd.stripe_count")
    v = std::to_string(hdr.layout.stripe_count);
  else if (name == "user.rbd.block_name_prefix")
    v = hdr.object_prefix;
  else if (name == "user.rbd.parent" || name == "user.rbd.overlap") {
    const uint64_t snap_id = n.kind == NodeKind::SNAP && hdr.find_snap(n.snap)
                                 ? hdr.find_snap(n.snap)->id
                                 : core::cls::NOSNAP;
    const uint64_t overlap = hdr.overlap_at(snap_id);
    if (name == "user.rbd.overlap") {
      v = std::to_string(overlap);
    } else if (overlap) {  // as rbd info: none once flattened
      auto pl = pool(n.pool);
      auto pn =
          pl.ok() ? noted(**pl, (*pl)->parent_name(hdr)) : core::Result<std::string>(pl.err());
      if (!pn.ok()) {
        fuse_reply_err(req, pn.error());
        return;
      }
      v = *pn;
    }
  } else if (name == "user.rbdfs.read_only_reason")
    v = hdr.read_only_reason;
  else if (n.kind == NodeKind::SNAP && name == "user.rbd.snap_id") {
    const auto* s = hdr.find_snap(n.snap);
    if (!s) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    v = std::to_string(s->id);
  } else if (n.kind == NodeKind::SNAP && name == "user.rbd.protected") {
    const auto* s = hdr.find_snap(n.snap);
    auto pl = pool(n.pool);
    if (!s || !pl.ok()) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    auto img = open_image(n.pool, n.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    auto prot = (*img)->snap_protected(s->id);
    if (!prot.ok()) {
      fuse_reply_err(req, prot.error());
      return;
    }
    v = *prot ? "true" : "false";
  } else {
    fuse_reply_err(req, ENODATA);
    return;
  }
  reply_xattr_value(req, v, size);
}

std::string Filesystem::cache_sizes() {
  size_t open = 0, ids = 0, blocks = 0, headers = 0;
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    for (const auto& [key, img] : m_open)
      if (!img.expired()) ++open;
    ids = m_ids.size();
    blocks = m_blocks.size();
  }
  {
    std::lock_guard<std::mutex> l(m_attr_mu);
    headers = m_headers.size();
  }
  return "open=" + std::to_string(open) + " ids=" + std::to_string(ids) +
         " headers=" + std::to_string(headers) + " blocks=" + std::to_string(blocks) +
         " inodes=" + std::to_string(m_nodes.size());
}

void Filesystem::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name_c) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (!user_namespace(name_c)) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  const std::string name = name_c;
  if (name.rfind("user.rbd", 0) != 0) {
    // no other attribute is kept: as a filesystem without them (cp
    // --preserve=xattr, tar --xattrs and rsync -X then go on without)
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  if (name != "user.rbdfs.flatten" || n.kind != NodeKind::IMAGE) {
    fuse_reply_err(req, EPERM);  // the user.rbd.* attributes are read-only
    return;
  }
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  auto img = open_image(n.pool, n.image);
  Status s = img.ok() ? (*img)->flatten() : Status(img.err());
  if (!s.ok()) spdlog::warn("flatten {}/{}: {}", n.pool, n.image, s.err().message());
  forget_header(n.pool, n.image);
  reply_status(req, s);
}

void Filesystem::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  std::string list;
  if (n.kind == NodeKind::ROOT) {
    list.append(ROOT_CACHES).push_back('\0');
    list.append(ROOT_IO).push_back('\0');
    list.append(ROOT_MEMORY).push_back('\0');
    list.append(ROOT_FUSE).push_back('\0');
    list.append(ROOT_CLIENT).push_back('\0');
  }
  if (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP)
    for (const char* x : IMAGE_XATTRS) list.append(x).push_back('\0');
  if (n.kind == NodeKind::SNAP)
    for (const char* x : SNAP_XATTRS) list.append(x).push_back('\0');
  if (n.kind == NodeKind::TRASHED)
    for (const char* x : TRASH_XATTRS) list.append(x).push_back('\0');
  reply_xattr_value(req, list, size);
}

}  // namespace rbdfs::ll
