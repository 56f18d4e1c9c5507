// The RBD trash of a pool or namespace (rbd_trash), as `rbd trash` keeps it:
// move an image in, list, restore, remove for good.
#include "core/pool.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/cls_call.h"
#include "core/names.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::cls_write;
using detail::view;
using librados::bufferlist;

namespace {

constexpr const char* RBD_TRASH = "rbd_trash";

cls::UTime now_utime() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
  auto nsecs = std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs);
  return {static_cast<uint32_t>(secs.count()), static_cast<uint32_t>(nsecs.count())};
}

bool before(const cls::UTime& a, const cls::UTime& b) {
  return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
}

Result<cls::TrashSpec> trash_get(librados::IoCtx& io, const std::string& id) {
  bufferlist reply;
  RBDFS_TRY(cls_exec(io, RBD_TRASH, "trash_get", cls::enc_string(id), &reply));
  return detail::decoded(cls::dec_trash_spec(view(reply)), "trash_get", RBD_TRASH);
}

Status trash_state_set(librados::IoCtx& io, const std::string& id, uint8_t state, uint8_t expect) {
  return cls_exec(io, RBD_TRASH, "trash_state_set", cls::enc_trash_state_set(id, state, expect));
}

}  // namespace

Result<std::string> Pool::trash_move(const std::string& name) {
  auto id = image_id(name);
  if (!id.ok()) return id.err();
  cls::TrashSpec spec;
  spec.source = cls::TRASH_SOURCE_USER;
  spec.name = name;
  spec.deletion_time = now_utime();
  spec.deferment_end_time = spec.deletion_time;
  spec.state = cls::TRASH_STATE_MOVING;
  // As librbd's trash MoveRequest: trash entry (MOVING), id object,
  // directory entry, then mark the entry NORMAL.
  RBDFS_TRY(cls_exec(m_io->io, RBD_TRASH, "trash_add", cls::enc_trash_add(*id, spec)));
  int r = m_io->io.remove(id_object(name));
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  Status s =
      cls_exec(m_io->io, RBD_DIRECTORY, "dir_remove_image", cls::enc_dir_remove_image(name, *id));
  if (!s.ok() && s.error() != ENOENT) return s.err();
  RBDFS_TRY(trash_state_set(m_io->io, *id, cls::TRASH_STATE_NORMAL, cls::TRASH_STATE_MOVING));
  spdlog::info("pool {}: moved image {} (id {}) to the trash", m_name, name, *id);
  return *id;
}

Status Pool::trash_restore(const std::string& id, const std::string& new_name) {
  auto spec = trash_get(m_io->io, id);
  if (!spec.ok()) return spec.err();
  // only what a user put there (librbd restores USER and USER_PARENT)
  if ((spec->source != cls::TRASH_SOURCE_USER && spec->source != cls::TRASH_SOURCE_USER_PARENT) ||
      spec->state != cls::TRASH_STATE_NORMAL)
    return Errno(EBUSY);
  std::string name = new_name.empty() ? spec->name : new_name;
  if (!valid_rbd_name(name)) return Errno(EINVAL);
  RBDFS_TRY(trash_state_set(m_io->io, id, cls::TRASH_STATE_RESTORING, cls::TRASH_STATE_NORMAL));
  Status s = cls_write(m_io->io, id_object(name), "set_id", cls::enc_string(id), true);
  if (s.ok()) {
    s = cls_exec(m_io->io, RBD_DIRECTORY, "dir_add_image", cls::enc_dir_add_image(name, id));
    if (!s.ok()) m_io->io.remove(id_object(name));
  }
  if (!s.ok()) {
    (void)trash_state_set(m_io->io, id, cls::TRASH_STATE_NORMAL, cls::TRASH_STATE_RESTORING);
    return s;
  }
  RBDFS_TRY(cls_exec(m_io->io, RBD_TRASH, "trash_remove", cls::enc_string(id)));
  spdlog::info("pool {}: restored image {} (id {}) from the trash", m_name, name, id);
  return {};
}

Result<std::vector<std::pair<std::string, cls::TrashSpec>>> Pool::trash_list() {
  std::vector<std::pair<std::string, cls::TrashSpec>> out;
  std::string start;
  const uint64_t page = 1024;
  for (;;) {
    bufferlist reply;
    Status s =
        cls_exec(m_io->io, RBD_TRASH, "trash_list", cls::enc_trash_list(start, page), &reply);
    if (!s.ok()) {
      if (s.error() == ENOENT) return out;
      return s.err();
    }
    auto m = detail::decoded(cls::dec_trash_list(view(reply)), "trash_list", RBD_TRASH);
    if (!m.ok()) return m.err();
    for (auto& [id, spec] : *m) out.emplace_back(id, spec);
    if (m->size() < page) break;
    start = m->rbegin()->first;
  }
  return out;
}

Status Pool::trash_remove(const std::string& id, bool force) {
  auto spec = trash_get(m_io->io, id);
  if (!spec.ok()) return spec.err();
  // As librbd's Trash::remove: not while moving or restoring, not before
  // the deferment end unless forced; REMOVING marks it ours to finish.
  if (spec->state == cls::TRASH_STATE_MOVING || spec->state == cls::TRASH_STATE_RESTORING)
    return Errno(EBUSY);
  if (!force && before(now_utime(), spec->deferment_end_time)) return Errno(EPERM);
  if (spec->state == cls::TRASH_STATE_NORMAL)
    RBDFS_TRY(trash_state_set(m_io->io, id, cls::TRASH_STATE_REMOVING, cls::TRASH_STATE_NORMAL));
  auto h = core::read_header(m_io->io, m_name, spec->name, id);
  Status s = h.ok() ? destroy(*h) : (h.error() == ENOENT ? Status() : Status(h.err()));
  if (!s.ok()) {
    if (spec->state == cls::TRASH_STATE_NORMAL)
      (void)trash_state_set(m_io->io, id, cls::TRASH_STATE_NORMAL, cls::TRASH_STATE_REMOVING);
    return s;
  }
  RBDFS_TRY(cls_exec(m_io->io, RBD_TRASH, "trash_remove", cls::enc_string(id)));
  spdlog::info("pool {}: removed image {} (id {}) from the trash for good", m_name, spec->name, id);
  return {};
}

}  // namespace rbdfs::core
