// The tree: lookup, attributes, directories, unlink, rename, statfs.
#include <linux/fuse.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/falloc.h>

#include "core/features.h"
#include "core/striper.h"
#include "fuse/fs_internal.h"

namespace rbdfs::ll {

void Filesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name_c) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  Node n;
  switch (p.kind) {
    case NodeKind::ROOT:
      n.kind = NodeKind::POOL;
      n.pool = name;
      if (name.find('/') != std::string::npos) {
        fuse_reply_err(req, ENOENT);
        return;
      }
      break;
    case NodeKind::POOL:
      n = pool_child(p, name);
      break;
    case NodeKind::TRASHDIR:
      n.kind = NodeKind::TRASHED;
      n.pool = p.pool;
      n.image = name;
      break;
    case NodeKind::SNAPROOT:
      n.kind = NodeKind::SNAPDIR;
      n.pool = p.pool;
      n.image = name;
      break;
    case NodeKind::SNAPDIR:
      n.kind = NodeKind::SNAP;
      n.pool = p.pool;
      n.image = p.image;
      n.snap = name;
      break;
    default:
      fuse_reply_err(req, ENOTDIR);
      return;
  }
  if ((n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAPDIR) &&
      !core::valid_rbd_name(n.image)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_entry(req, n);
}

void Filesystem::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  struct stat st;
  Status s;
  Handle* h =
      fi && (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP || n.kind == NodeKind::TRASHED)
          ? handle_of(fi)
          : nullptr;
  if (h) {
    fill_common(&st);
    // by the descriptor's snapshot id: a later snapshot of that name is another file
    auto img = image_of(h);  // (a fenced description's old one)
    auto hdr = (img ? img : h->image())->header();
    const core::cls::SnapshotInfo* snap = hdr->find_snap_id(h->snap_id);
    if (n.kind == NodeKind::SNAP && !snap) {
      s = Errno(ENOENT);
    } else {
      s = fill_file_attr(hdr, n.kind == NodeKind::SNAP ? snap->name : "", &st);
      if (n.kind == NodeKind::TRASHED) st.st_mode &= ~static_cast<mode_t>(0222);
    }
  } else {
    s = fill_attr(n, &st);
  }
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  st.st_ino = ino;
  fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

void Filesystem::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                         fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (n.kind != NodeKind::IMAGE) {
      fuse_reply_err(req, n.kind == NodeKind::SNAP ? EROFS : EISDIR);
      return;
    }
    std::shared_ptr<core::Image> img;
    if (fi && handle_of(fi)) {
      img = image_of(handle_of(fi));
      if (!img) {  // fenced
        fuse_reply_err(req, ESHUTDOWN);
        return;
      }
    }
    if (!img) {
      auto r = open_image(n.pool, n.image);
      if (!r.ok()) {
        fuse_reply_err(req, r.error());
        return;
      }
      img = *r;
    }
    if (!img->read_only_reason().empty()) {
      spdlog::info("truncate {}/{} refused: {}", n.pool, n.image, img->read_only_reason());
      fuse_reply_err(req, EROFS);
      return;
    }
    Status s = img->resize(static_cast<uint64_t>(attr->st_size));
    if (!s.ok()) {
      spdlog::warn("truncate {}/{} to {}: {}", n.pool, n.image, attr->st_size, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
  }
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    Status s = store_owner(n, attr, to_set, req);
    if (!s.ok()) {
      fuse_reply_err(req, s.error());
      return;
    }
  }
  // times are not stored: librbd keeps the image's own
  getattr(req, ino);
}

void Filesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP || n.kind == NodeKind::TRASHED) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  // Build the whole listing at open; readdir pages through it.
  auto* entries = new DirListing();
  entries->dir = n;
  Status s;
  if (n.kind == NodeKind::ROOT) {
    auto r = pools();
    if (r.ok())
      for (auto& p : *r) entries->emplace_back(p, NodeKind::POOL);
    else
      s = r.err();
  } else if (n.kind == NodeKind::POOL || n.kind == NodeKind::SNAPROOT) {
    auto r = images(n.pool, true);
    if (r.ok()) {
      prefetch_headers(n.pool, *r);  // the lookups of `ls -l` follow
      if (n.kind == NodeKind::POOL) s = list_pool_extras(n, *r, entries);
      for (auto& [name, id] : *r)
        if (!reserved_name(name))  // the tree's own names win
          entries->emplace_back(name,
                                n.kind == NodeKind::POOL ? NodeKind::IMAGE : NodeKind::SNAPDIR);
    } else {
      s = r.err();
    }
  } else if (n.kind == NodeKind::TRASHDIR) {
    auto r = trash(n.pool, true);
    if (r.ok())
      for (const auto& e : *r) entries->emplace_back(e.name, NodeKind::TRASHED);
    else
      s = r.err();
  } else if (n.kind == NodeKind::SNAPDIR) {
    std::shared_ptr<const core::ImageHeader> h;
    if (auto img = find_open(n.pool, n.image)) {
      (void)img->refresh();
      h = img->header();
    } else {
      auto r = image_header(n.pool, n.image);
      if (r.ok())
        h = *r;
      else
        s = r.err();
    }
    if (h)
      for (const auto& snap : h->snapshots)
        if (snap.ns_type == core::cls::SNAP_NS_USER)
          entries->emplace_back(snap.name, NodeKind::SNAP);
  }
  if (!s.ok()) {
    delete entries;
    fuse_reply_err(req, s.error());
    return;
  }
  fi->fh = reinterpret_cast<uintptr_t>(entries);
  if (fuse_reply_open(req, fi) != 0) delete entries;
}

void Filesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                         fuse_file_info* fi) {
  auto* entries = reinterpret_cast<DirListing*>(static_cast<uintptr_t>(fi->fh));
  std::vector<char> buf(size);
  size_t used = 0;
  // offsets: 0 ".", 1 "..", 2.. entries
  size_t total = entries->size() + 2;
  if (off < 0) off = 0;
  for (size_t i = static_cast<size_t>(off); i < total; ++i) {
    struct stat st {};
    std::string name;
    if (i == 0) {
      name = ".";
      st.st_mode = S_IFDIR;
      st.st_ino = ino;
    } else if (i == 1) {
      name = "..";
      st.st_mode = S_IFDIR;
      st.st_ino = FUSE_ROOT_ID;  // any non-zero number: the kernel fixes ".."
    } else {
      const auto& e = (*entries)[i - 2];
      name = e.first;
      const bool file = e.second == NodeKind::IMAGE || e.second == NodeKind::SNAP ||
                        e.second == NodeKind::TRASHED;
      st.st_mode = file ? S_IFREG : S_IFDIR;
      Node child = entries->dir;
      child.kind = e.second;
      if (e.second == NodeKind::POOL && entries->dir.kind == NodeKind::ROOT)
        child.pool = name;
      else if (e.second == NodeKind::POOL)  // a namespace
        child = pool_child(entries->dir, name);
      else if (e.second == NodeKind::IMAGE || e.second == NodeKind::SNAPDIR ||
               e.second == NodeKind::TRASHED)
        child.image = name;
      else if (e.second == NodeKind::SNAP)
        child.snap = name;
      st.st_ino = m_nodes.peek(child);
    }
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Filesystem::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirListing*>(static_cast<uintptr_t>(fi->fh));
  fuse_reply_err(req, 0);
}

void Filesystem::unlink(fuse_req_t req, fuse_ino_t parent, const char* name_c) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (p.kind == NodeKind::SNAPDIR) {
    auto img = open_image(p.pool, p.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    Status s = (*img)->snap_remove(name);
    if (!s.ok()) {
      spdlog::info("removing snapshot {}/{}@{}: {}", p.pool, p.image, name, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
    // a later snapshot of that name is another file (snapshots keep_cache)
    m_nodes.detach(Node{NodeKind::SNAP, p.pool, p.image, name, ""}, "");
    fuse_reply_err(req, 0);
    return;
  }
  if (p.kind == NodeKind::TRASHDIR) {
    trash_unlink(req, p, name);
    return;
  }
  if (p.kind != NodeKind::POOL) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (reserved_name(name)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  auto h = image_header(p.pool, name);
  if (!h.ok()) {
    fuse_reply_err(req, h.error());
    return;
  }
  if (!(*h)->read_only_reason.empty()) {
    spdlog::info("unlink {}/{} refused: {}", p.pool, name, (*h)->read_only_reason);
    fuse_reply_err(req, EROFS);
    return;
  }
  Status s;
  if (m_opts.delete_mode == DeleteMode::TRASH) {
    auto id = change_pool(p.pool, [&](core::Pool& q) { return q.trash_move(name); });
    if (!id.ok()) s = id.err();
  } else {
    if (find_open(p.pool, name)) {
      fuse_reply_err(req, EBUSY);
      return;
    }
    s = change_pool(p.pool, [&](core::Pool& q) { return q.remove_image(name); });
  }
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    m_pools[p.pool].have_trash = false;  // .trash/ shows it now
  }
  // Descriptors still open keep the removed image (and its inode, page
  // cache included); the name now leads to a new inode.
  if (s.ok()) m_nodes.detach(Node{NodeKind::IMAGE, p.pool, name, "", ""}, (*h)->id);
  if (!s.ok()) spdlog::warn("unlink {}/{}: {}", p.pool, name, s.err().message());
  reply_status(req, s);
}

void Filesystem::link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Node src, dst;
  if (!resolve(req, ino, &src) || !resolve(req, newparent, &dst)) return;
  const std::string name = newname;
  // Only a snapshot links, into a pool: that is a clone. Hard links
  // anywhere else are not a thing images have.
  if (src.kind != NodeKind::SNAP || dst.kind != NodeKind::POOL) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (Status s = check_new_name(name); !s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  auto from = pool(src.pool);
  auto to = from.ok() ? pool(dst.pool) : from;
  auto h = to.ok() ? image_header(src.pool, src.image)
                   : core::Result<std::shared_ptr<const core::ImageHeader>>(to.err());
  if (!h.ok()) {
    fuse_reply_err(req, h.error());
    return;
  }
  const core::cls::SnapshotInfo* snap = (*h)->find_snap(src.snap);
  if (!snap) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  auto data_pool = create_data_pool_id("ln " + src.pool + "/.snap/" + src.image + "/" + src.snap +
                                       " " + dst.pool + "/" + name);
  if (!data_pool.ok()) {
    fuse_reply_err(req, data_pool.error());
    return;
  }
  // both opened again now (the lookups above may have connected anew), on
  // one instance: an ESHUTDOWN then marks the right one
  bool between = false;  // a connect came between the two: once more
  Status s;
  for (int attempt = 0; attempt == 0 || (between && attempt < 2); ++attempt) {
    between = false;
    s = change_pool(dst.pool, [&](core::Pool& child) -> Status {
      auto parent = pool(src.pool);
      if (!parent.ok()) return parent.err();
      if ((*parent)->cluster() != child.cluster()) {
        between = true;
        return Errno(EAGAIN);
      }
      return child.clone_image(name, **parent, **h, snap->id, *data_pool);
    });
  }
  if (!s.ok()) {
    spdlog::warn("ln {}/.snap/{}/{} {}/{}: {}", src.pool, src.image, src.snap, dst.pool, name,
                 s.err().message());
    fuse_reply_err(req, s.error());
    return;
  }
  invalidate_listing(dst.pool);
  forget_header(dst.pool, name);
  forget_header(src.pool, src.image);  // its snapshot has a child now
  reply_entry(req, Node{NodeKind::IMAGE, dst.pool, name, "", ""});
}

void Filesystem::rename(fuse_req_t req, fuse_ino_t parent, const char* name_c, fuse_ino_t newparent,
                        const char* newname_c, unsigned flags) {
  Node p, np;
  if (!resolve(req, parent, &p) || !resolve(req, newparent, &np)) return;
  std::string name = name_c, newname = newname_c;
  if (flags & RENAME_EXCHANGE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (p.kind == NodeKind::SNAPDIR || np.kind == NodeKind::SNAPDIR) {
    if (p.kind != np.kind || p.image != np.image || p.pool != np.pool) {
      fuse_reply_err(req, EXDEV);
      return;
    }
    auto img = open_image(p.pool, p.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    Status s = (*img)->snap_rename(name, newname);
    if (s.ok())
      m_nodes.rename(Node{NodeKind::SNAP, p.pool, p.image, name, ""},
                     Node{NodeKind::SNAP, p.pool, p.image, newname, ""});
    reply_status(req, s);
    return;
  }
  if (p.kind == NodeKind::TRASHDIR) {  // mv out of .trash/: restore
    trash_restore(req, p, name, np, newname);
    return;
  }
  if (p.kind != NodeKind::POOL || np.kind != NodeKind::POOL) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (p.pool != np.pool) {
    fuse_reply_err(req, EXDEV);
    return;
  }
  if (!core::valid_rbd_name(newname) || reserved_name(newname)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (pool_child(p, name).kind != NodeKind::IMAGE) {
    fuse_reply_err(req, EPERM);  // .snap, .trash and namespaces keep their names
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  if (find_open(p.pool, name)) {
    fuse_reply_err(req, EBUSY);  // open handles are bound to the old name
    return;
  }
  Status s = change_pool(p.pool, [&](core::Pool& q) { return q.rename_image(name, newname); });
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  forget_header(p.pool, newname);
  if (s.ok())
    m_nodes.rename(Node{NodeKind::IMAGE, p.pool, name, "", ""},
                   Node{NodeKind::IMAGE, p.pool, newname, "", ""});
  reply_status(req, s);
}

void Filesystem::statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4u << 20;
  st.f_frsize = 4096;
  st.f_namemax = 255;
  auto s = cluster()->stats();
  if (s.ok()) {
    st.f_blocks = s->kb / 4;
    st.f_bfree = s->kb_avail / 4;
    st.f_bavail = s->kb_avail / 4;
    st.f_files = s->num_objects;
    st.f_ffree = UINT32_MAX;
    st.f_favail = UINT32_MAX;
  }
  fuse_reply_statfs(req, &st);
}

}  // namespace rbdfs::ll
