// .trash/ of a pool or namespace: the RBD trash as a directory. Entries are
// the images users trashed (`rbd trash ls` without --all), as read-only
// files; rename out restores, unlink removes for good.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>

#include "fuse/fs_internal.h"

namespace rbdfs::ll {

Result<std::vector<Filesystem::TrashEntry>> Filesystem::trash(const std::string& pool_name,
                                                              bool fresh) {
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_pools_mu);
    auto& e = m_pools[pool_name];
    if (e.have_trash && Clock::now() - e.trash_listed < LISTING_TTL) return e.trash;
  }
  auto list = read_pool(pool_name, [](core::Pool& q) { return q.trash_list(); });
  if (!list.ok()) return list.err();
  // what `rbd trash ls` shows: a user's (migration, mirroring and removal
  // sources only with --all)
  std::vector<TrashEntry> out;
  std::map<std::string, int> uses;
  for (auto& [id, spec] : *list) {
    if (spec.source != core::cls::TRASH_SOURCE_USER &&
        spec.source != core::cls::TRASH_SOURCE_USER_PARENT)
      continue;
    if (!core::valid_rbd_name(spec.name)) continue;
    uses[spec.name]++;
    out.push_back(TrashEntry{spec.name, id, spec});
  }
  // a name trashed more than once shows as <name>@<id> each time
  for (auto& e : out)
    if (uses[e.name] > 1) e.name += "@" + e.id;
  std::sort(out.begin(), out.end(),
            [](const TrashEntry& a, const TrashEntry& b) { return a.name < b.name; });
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto& e = m_pools[pool_name];
  e.trash = out;
  e.trash_listed = Clock::now();
  e.have_trash = true;
  return out;
}

Result<Filesystem::TrashEntry> Filesystem::trash_entry(const std::string& pool_name,
                                                       const std::string& name, bool fresh) {
  auto all = trash(pool_name, fresh);
  if (!all.ok()) return all.err();
  for (const auto& e : *all)
    if (e.name == name) return e;
  // <name>@<id> always names an entry, even where the name is unique
  auto at = name.rfind('@');
  if (at != std::string::npos)
    for (const auto& e : *all)
      if (e.id == name.substr(at + 1) && e.spec.name == name.substr(0, at)) return e;
  return Errno(ENOENT);
}

void Filesystem::trash_restore(fuse_req_t req, const Node& trashdir, const std::string& name,
                               const Node& to, const std::string& newname) {
  if (to.kind != NodeKind::POOL || to.pool != trashdir.pool) {
    fuse_reply_err(req, EXDEV);  // restored where it was trashed
    return;
  }
  if (reserved_name(newname) || !core::valid_rbd_name(newname)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  auto e = trash_entry(trashdir.pool, name, true);
  auto pl = e.ok() ? pool(trashdir.pool) : Result<std::shared_ptr<core::Pool>>(e.err());
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  {
    // an open trashed image keeps its trash name: restore it once closed
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_open.find(image_key(trashdir.pool, e->id));
    if (it != m_open.end() && !it->second.expired()) {
      fuse_reply_err(req, EBUSY);
      return;
    }
  }
  // rename(2) replaces an existing target; restoring never does
  if (image_id(to.pool, newname, true).ok()) {
    fuse_reply_err(req, EEXIST);
    return;
  }
  Status s =
      change_pool(trashdir.pool, [&](core::Pool& q) { return q.trash_restore(e->id, newname); });
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    m_pools[trashdir.pool].have_trash = false;
  }
  invalidate_listing(to.pool);
  forget_header(to.pool, newname);
  if (!s.ok()) {
    spdlog::info("restoring {}/{}/{} as {}: {}", trashdir.pool, TRASH_DIR, name, newname,
                 s.err().message());
    fuse_reply_err(req, s.error());
    return;
  }
  // the kernel keeps the inode for the new name: it is the image now
  m_nodes.rename(Node{NodeKind::TRASHED, trashdir.pool, name, "", ""},
                 Node{NodeKind::IMAGE, to.pool, newname, "", ""});
  fuse_reply_err(req, 0);
}

void Filesystem::trash_unlink(fuse_req_t req, const Node& trashdir, const std::string& name) {
  auto e = trash_entry(trashdir.pool, name, true);
  auto pl = e.ok() ? pool(trashdir.pool) : Result<std::shared_ptr<core::Pool>>(e.err());
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  Status s = change_pool(trashdir.pool,
                         [&](core::Pool& q) { return q.trash_remove(e->id, m_opts.trash_force); });
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    m_pools[trashdir.pool].have_trash = false;
  }
  if (!s.ok()) {
    if (s.error() == EPERM)
      spdlog::info(
          "rm {}/{}/{}: its deferment time has not passed (mount with trash_force to "
          "remove it anyway)",
          trashdir.pool, TRASH_DIR, name);
    else
      spdlog::warn("rm {}/{}/{}: {}", trashdir.pool, TRASH_DIR, name, s.err().message());
    fuse_reply_err(req, s.error());
    return;
  }
  m_nodes.detach(Node{NodeKind::TRASHED, trashdir.pool, name, "", ""}, "");
  fuse_reply_err(req, 0);
}

}  // namespace rbdfs::ll
