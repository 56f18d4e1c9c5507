// Pool directories and RBD namespaces: what a name in a pool's directory
// stands for, what the directory lists besides images, mkdir/rmdir of
// namespaces.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "fuse/fs_internal.h"

namespace rbdfs::ll {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<std::vector<std::string>> Filesystem::namespaces(const std::string& pool_name, bool fresh) {
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  if (!(*p)->namespace_name().empty()) return std::vector<std::string>{};
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_pools_mu);
    auto& e = m_pools[pool_name];
    if (e.have_namespaces && Clock::now() - e.ns_listed < LISTING_TTL) return e.namespaces;
  }
  auto list = read_pool(pool_name, [](core::Pool& q) { return q.list_namespaces(); });
  if (!list.ok()) return list.err();
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto& e = m_pools[pool_name];
  e.namespaces = *list;
  e.ns_listed = Clock::now();
  e.have_namespaces = true;
  return std::move(*list);
}

Status Filesystem::check_new_name(const std::string& name) const {
  if (m_opts.read_only) return Errno(EROFS);
  if (reserved_name(name) || !core::valid_rbd_name(name)) return Errno(EINVAL);
  return {};
}

Node Filesystem::pool_child(const Node& p, const std::string& name) {
  Node n;
  n.pool = p.pool;
  if (name == SNAP_DIR) {
    n.kind = NodeKind::SNAPROOT;
    return n;
  }
  if (name == TRASH_DIR) {
    n.kind = NodeKind::TRASHDIR;
    return n;
  }
  n.kind = NodeKind::IMAGE;
  n.image = name;
  if (p.pool.find('/') != std::string::npos) return n;  // namespaces do not nest
  // A namespace, unless an image of the default namespace has its name
  // (then it is <name>@ns, which no image can be called).
  auto ns = namespaces(p.pool, false);
  if (!ns.ok()) return n;
  auto has = [&](const std::string& x) { return std::binary_search(ns->begin(), ns->end(), x); };
  std::string base = ends_with(name, NS_SUFFIX) ? name.substr(0, name.size() - 3) : "";
  if (!base.empty() && has(base)) {
    n.kind = NodeKind::POOL;
    n.pool = p.pool + "/" + base;
    n.image.clear();
  } else if (has(name) && image_id(p.pool, name).error() == ENOENT) {
    n.kind = NodeKind::POOL;
    n.pool = p.pool + "/" + name;
    n.image.clear();
  }
  return n;
}

Status Filesystem::list_pool_extras(const Node& p,
                                    const std::vector<std::pair<std::string, std::string>>& images,
                                    DirListing* out) {
  out->emplace_back(SNAP_DIR, NodeKind::SNAPROOT);
  out->emplace_back(TRASH_DIR, NodeKind::TRASHDIR);
  if (p.pool.find('/') != std::string::npos) return {};
  auto ns = namespaces(p.pool, true);
  if (!ns.ok()) {  // the images still list (e.g. caps without the registry)
    spdlog::warn("listing the namespaces of pool {}: {}", p.pool, ns.err().message());
    return {};
  }
  for (const auto& name : *ns) {
    bool clash = std::any_of(images.begin(), images.end(),
                             [&](const auto& img) { return img.first == name; });
    out->emplace_back(clash ? name + NS_SUFFIX : name, NodeKind::POOL);
  }
  return {};
}

void Filesystem::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name_c, mode_t) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  const std::string name = name_c;
  if (p.kind != NodeKind::POOL || p.pool.find('/') != std::string::npos) {
    fuse_reply_err(req, EPERM);  // namespaces live in a pool, one level deep
    return;
  }
  if (Status s = check_new_name(name); !s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  // an image of that name would hide the new namespace's plain name
  if (image_id(p.pool, name, true).ok()) {
    fuse_reply_err(req, EEXIST);
    return;
  }
  Status s = change_pool(p.pool, [&](core::Pool& q) { return q.create_namespace(name); });
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    m_pools[p.pool].have_namespaces = false;
  }
  if (!s.ok()) {
    if (s.error() != EEXIST)
      spdlog::warn("mkdir {}/{}: creating the namespace: {}", p.pool, name, s.err().message());
    fuse_reply_err(req, s.error());
    return;
  }
  reply_entry(req, Node{NodeKind::POOL, p.pool + "/" + name, "", "", ""});
}

void Filesystem::rmdir(fuse_req_t req, fuse_ino_t parent, const char* name_c) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  const std::string name = name_c;
  if (p.kind != NodeKind::POOL) {
    fuse_reply_err(req, p.kind == NodeKind::ROOT ? EPERM : ENOTDIR);
    return;
  }
  Node n = pool_child(p, name);
  if (n.kind != NodeKind::POOL) {
    // .snap and .trash are the tree's own; an image is not a directory
    fuse_reply_err(req, n.kind == NodeKind::IMAGE ? ENOTDIR : EPERM);
    return;
  }
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  const std::string ns = split_pool_spec(n.pool).second;
  Status s = change_pool(p.pool, [&](core::Pool& q) { return q.remove_namespace(ns); });
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    m_pools[p.pool].have_namespaces = false;
    m_pools.erase(n.pool);
  }
  if (!s.ok()) {
    if (s.error() != ENOTEMPTY)
      spdlog::warn("rmdir {}/{}: removing the namespace: {}", p.pool, ns, s.err().message());
    fuse_reply_err(req, s.error());
    return;
  }
  fuse_reply_err(req, 0);
}

}  // namespace rbdfs::ll
