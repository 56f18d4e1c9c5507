#include "core/object_map.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "core/cls_call.h"
#include "core/cls_lock.h"
#include "core/cls_rbd.h"

namespace rbdfs::core {

using librados::bufferlist;
using object_map::State;
namespace lk = cls_lock;

namespace {
constexpr uint64_t FLAG_OBJECT_MAP_INVALID = 1;
constexpr uint64_t FLAG_FAST_DIFF_INVALID = 2;
}  // namespace

Result<object_map::Map> load_object_map(librados::IoCtx& md, const std::string& image_id,
                                        std::optional<uint64_t> snap_id) {
  std::string oid = object_map::map_object(image_id, snap_id);
  bufferlist out;
  RBDFS_TRY(detail::cls_exec(md, oid, "object_map_load", "", &out));
  return detail::decoded(object_map::decode(detail::view(out)), "object_map_load", oid);
}

HeadObjectMap::HeadObjectMap(librados::IoCtx& md, std::string image_id, std::string header_oid,
                             std::string what, bool fast_diff)
    : m_image_id(std::move(image_id)),
      m_oid(object_map::map_object(m_image_id)),
      m_header_oid(std::move(header_oid)),
      m_what(std::move(what)),
      m_fast_diff(fast_diff) {
  m_md.dup(md);
}

librados::ObjectWriteOperation HeadObjectMap::locked_op() const {
  // A former owner that lost the image lock fails here (EBUSY) instead of
  // changing a map that is no longer its own.
  librados::ObjectWriteOperation op;
  bufferlist in = detail::to_bl(lk::enc_assert_locked(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, "", ""));
  op.exec("lock", "assert_locked", in);
  return op;
}

Status HeadObjectMap::open(uint64_t n_objects) {
  std::string lock_in = lk::enc_lock(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, "", "");
  Status s = detail::cls_exec_in(m_md, m_oid, "lock", "lock", lock_in);
  if (s.error() == EBUSY) {
    // held by a former owner of the image lock (which we now hold): break
    // it, as librbd and krbd do, without asking
    bufferlist out;
    RBDFS_TRY(detail::cls_exec_in(m_md, m_oid, "lock", "get_info",
                                  lk::enc_get_info(lk::RBD_LOCK_NAME), &out));
    auto info = detail::decoded(lk::dec_lock_info(detail::view(out)), "lock get_info", m_oid);
    if (!info.ok()) return info.err();
    for (const auto& l : info->lockers) {
      Status b = detail::cls_exec_in(m_md, m_oid, "lock", "break_lock",
                                     lk::enc_break_lock(lk::RBD_LOCK_NAME, l.entity, l.cookie));
      if (!b.ok() && b.error() != ENOENT) return b;
    }
    s = detail::cls_exec_in(m_md, m_oid, "lock", "lock", lock_in);
  }
  if (!s.ok() && s.error() != EEXIST) {
    spdlog::error("image {}: cannot lock the object map: {}", m_what, s.err().message());
    return s;
  }
  auto map = load_object_map(m_md, m_image_id);
  std::lock_guard<std::mutex> l(m_mu);
  m_open = true;
  m_invalid = false;
  m_busy.clear();
  if (!map.ok()) {
    m_map = object_map::Map(n_objects);
    invalidate("cannot be loaded", -map.error());
  } else {
    m_map = std::move(*map);
    if (m_map.size() < n_objects) {
      m_map.resize(n_objects);
      invalidate("is smaller than the image", 0);
    }
  }
  return {};
}

void HeadObjectMap::close() {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_open) return;
    m_open = false;
  }
  Status s =
      detail::cls_exec_in(m_md, m_oid, "lock", "unlock", lk::enc_unlock(lk::RBD_LOCK_NAME, ""));
  if (!s.ok() && s.error() != ENOENT)
    spdlog::warn("image {}: unlocking the object map: {}", m_what, s.err().message());
}

bool HeadObjectMap::update_needed(State cur, State next) {
  if (cur == next) return false;
  if (next == object_map::PENDING && cur == object_map::NONEXISTENT) return false;
  if (next == object_map::NONEXISTENT && cur != object_map::PENDING) return false;
  return true;
}

State HeadObjectMap::state(uint64_t objno) const {
  std::lock_guard<std::mutex> l(m_mu);
  if (!m_open || m_invalid || objno >= m_map.size()) return object_map::EXISTS;
  return m_map.get(objno);
}

bool HeadObjectMap::valid() const {
  std::lock_guard<std::mutex> l(m_mu);
  return m_open && !m_invalid;
}

void HeadObjectMap::invalidate(const char* why, int r) {
  if (m_invalid) return;
  m_invalid = true;
  spdlog::error(
      "image {}: object map {}{}{}: flagging it invalid (as librbd does; `rbd "
      "object-map rebuild` repairs it)",
      m_what, why, r ? ": " : "", r ? Errno(r).message() : "");
  uint64_t flags = FLAG_OBJECT_MAP_INVALID | (m_fast_diff ? FLAG_FAST_DIFF_INVALID : 0);
  librados::ObjectWriteOperation op;
  bufferlist in = detail::to_bl(cls::enc_set_flags(flags, flags));
  op.exec("rbd", "set_flags", in);
  librados::AioCompletion* c = librados::Rados::aio_create_completion();
  if (m_md.aio_operate(m_header_oid, c, &op) < 0)
    spdlog::error("image {}: set_flags failed", m_what);
  c->release();  // librados keeps it until the op completes
}

HeadObjectMap::Turn HeadObjectMap::turn(uint64_t objno, const Pending& p) const {
  if (!m_open || m_invalid || objno >= m_map.size()) return Turn::PROCEED;
  State cur = m_map.get(objno);
  if (p.skip_if_absent && cur == object_map::NONEXISTENT) return Turn::SKIP;
  return update_needed(cur, p.state) ? Turn::SEND : Turn::PROCEED;
}

void HeadObjectMap::update(uint64_t objno, State state, std::optional<State> current,
                           std::function<void(bool)> then, bool skip_if_absent) {
  Pending p{state, current, std::move(then), skip_if_absent};
  Turn t;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_open && !m_invalid && objno >= m_map.size())
      invalidate("has no entry for an object written", 0);
    if (auto it = m_busy.find(objno); it != m_busy.end()) {
      it->second.push_back(std::move(p));  // after the ones before it
      return;
    }
    t = turn(objno, p);
    if (t == Turn::SEND) m_busy[objno];
  }
  if (t == Turn::SEND)
    send(objno, std::move(p));
  else
    p.then(t == Turn::PROCEED);
}

struct HeadObjectMap::InFlight {
  HeadObjectMap* map;
  uint64_t objno;
  Pending pending;
  librados::AioCompletion* completion = nullptr;
};

void HeadObjectMap::send(uint64_t objno, Pending p) {
  librados::ObjectWriteOperation op = locked_op();
  bufferlist in = detail::to_bl(object_map::enc_update(objno, objno + 1, p.state, p.current));
  op.exec("rbd", "object_map_update", in);
  auto* f = new InFlight{this, objno, std::move(p)};
  f->completion = librados::Rados::aio_create_completion(f, &HeadObjectMap::sent);
  int r = m_md.aio_operate(m_oid, f->completion, &op);
  if (r < 0) {
    f->completion->release();
    Pending back = std::move(f->pending);
    delete f;
    finish(objno, std::move(back), r);
  }
}

void HeadObjectMap::sent(librados::completion_t, void* arg) {
  auto* f = static_cast<InFlight*>(arg);
  int r = f->completion->get_return_value();
  f->completion->release();
  HeadObjectMap* map = f->map;
  uint64_t objno = f->objno;
  Pending p = std::move(f->pending);
  delete f;
  map->finish(objno, std::move(p), r);
}

void HeadObjectMap::finish(uint64_t objno, Pending p, int r) {
  // the callbacks to run, in the order asked: (then, proceed)
  std::vector<std::pair<std::function<void(bool)>, bool>> run;
  run.emplace_back(std::move(p.then), true);
  std::optional<Pending> next;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (r < 0) {
      invalidate("update failed", -r);
    } else if (objno < m_map.size()) {
      State cur = m_map.get(objno);
      if (!p.current || cur == *p.current ||
          (*p.current == object_map::EXISTS && cur == object_map::EXISTS_CLEAN))
        m_map.set(objno, p.state);
    }
    auto it = m_busy.find(objno);
    while (it != m_busy.end() && !it->second.empty()) {
      Pending q = std::move(it->second.front());
      it->second.pop_front();
      Turn t = turn(objno, q);
      if (t == Turn::SEND) {
        next = std::move(q);
        break;
      }
      run.emplace_back(std::move(q.then), t == Turn::PROCEED);
    }
    if (!next && it != m_busy.end()) m_busy.erase(it);
  }
  // the data ops of the updates done go out before the next update
  for (auto& [f, proceed] : run) f(proceed);
  if (next) send(objno, std::move(*next));
}

Status HeadObjectMap::resize(uint64_t n_objects) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_open || m_invalid || m_map.size() == n_objects) {
      if (m_open) m_map.resize(n_objects);
      return {};
    }
  }
  librados::ObjectWriteOperation op = locked_op();
  bufferlist in = detail::to_bl(object_map::enc_resize(n_objects, object_map::NONEXISTENT));
  op.exec("rbd", "object_map_resize", in);
  int r = m_md.operate(m_oid, &op);
  std::lock_guard<std::mutex> l(m_mu);
  if (r < 0) {
    invalidate("resize failed", -r);
    return Errno::from_rados(r);
  }
  m_map.resize(n_objects);
  return {};
}

Status HeadObjectMap::snapshot_created(uint64_t snap_id) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_open) return {};
  }
  // a raw copy (it keeps the CRCs the OSD wrote)
  bufferlist whole;
  int r = m_md.read(m_oid, whole, 0, 0);
  if (r < 0) return Errno::from_rados(r);
  r = m_md.write_full(object_map::map_object(m_image_id, snap_id), whole);
  if (r < 0) {
    spdlog::error("image {}: saving the object map of snapshot {}: {}", m_what, snap_id,
                  Errno::from_rados(r).message());
    return Errno::from_rados(r);
  }
  if (!m_fast_diff) return {};
  librados::ObjectWriteOperation op = locked_op();
  bufferlist none;
  op.exec("rbd", "object_map_snap_add", none);
  r = m_md.operate(m_oid, &op);
  std::lock_guard<std::mutex> l(m_mu);
  if (r < 0) {
    invalidate("snap_add failed", -r);
    return {};
  }
  for (uint64_t i = 0; i < m_map.size(); ++i)
    if (m_map.get(i) == object_map::EXISTS) m_map.set(i, object_map::EXISTS_CLEAN);
  return {};
}

Status HeadObjectMap::snapshot_removing(uint64_t snap_id, std::optional<uint64_t> next_snap) {
  std::string snap_oid = object_map::map_object(m_image_id, snap_id);
  if (m_fast_diff) {
    auto removed = load_object_map(m_md, m_image_id, snap_id);
    if (removed.ok()) {
      bufferlist in = detail::to_bl(removed->encode());
      int r;
      if (next_snap) {
        librados::ObjectWriteOperation op;
        op.exec("rbd", "object_map_snap_remove", in);
        r = m_md.operate(object_map::map_object(m_image_id, next_snap), &op);
      } else {
        librados::ObjectWriteOperation op = locked_op();
        op.exec("rbd", "object_map_snap_remove", in);
        r = m_md.operate(m_oid, &op);
        std::lock_guard<std::mutex> l(m_mu);
        if (r == 0) {
          for (uint64_t i = 0; i < m_map.size(); ++i)
            if (m_map.get(i) == object_map::EXISTS_CLEAN &&
                (i >= removed->size() || removed->get(i) == object_map::EXISTS))
              m_map.set(i, object_map::EXISTS);
        } else {
          invalidate("snap_remove failed", -r);
        }
      }
      if (r < 0 && next_snap)
        spdlog::warn("image {}: merging the map of snapshot {} into the next: {}", m_what, snap_id,
                     Errno::from_rados(r).message());
    } else if (removed.error() != ENOENT) {
      spdlog::warn("image {}: loading the map of snapshot {}: {}", m_what, snap_id,
                   removed.err().message());
    }
  }
  int r = m_md.remove(snap_oid);
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  return {};
}

}  // namespace rbdfs::core
