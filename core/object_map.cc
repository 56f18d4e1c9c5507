#include "core/object_map.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "core/cls_call.h"
#include "core/cls_lock.h"
#include "core/cls_rbd.h"
#include "core/features.h"

namespace rbdfs::core {

using librados::bufferlist;
using object_map::State;
namespace lk = cls_lock;

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

librados::ObjectWriteOperation HeadObjectMap::invalidate_op(std::optional<uint64_t> snap_id) const {
  // only while we hold the image's lock (as librbd's InvalidateRequest)
  librados::ObjectWriteOperation op;
  std::string cookie;
  {
    std::lock_guard<std::mutex> l(m_mu);
    cookie = m_cookie;
  }
  bufferlist a = detail::to_bl(
      lk::enc_assert_locked(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, cookie, lk::RBD_LOCK_TAG));
  op.exec("lock", "assert_locked", a);
  uint64_t flags = FLAG_OBJECT_MAP_INVALID | (m_fast_diff ? FLAG_FAST_DIFF_INVALID : 0);
  bufferlist in = detail::to_bl(cls::enc_set_flags(flags, flags, snap_id.value_or(cls::NOSNAP)));
  op.exec("rbd", "set_flags", in);
  return op;
}

namespace {
void log_invalid(const std::string& what, const char* why, int r) {
  spdlog::error(
      "image {}: object map {}{}{}: flagging it invalid (as librbd does; `rbd "
      "object-map rebuild` repairs it)",
      what, why, r ? ": " : "", r ? Errno(r).message() : "");
}
}  // namespace

void HeadObjectMap::invalidate_now(const char* why, int r) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_invalid) return;
    m_invalid = true;
  }
  log_invalid(m_what, why, r);
  librados::ObjectWriteOperation op = invalidate_op();
  int rr = m_md.operate(m_header_oid, &op);
  if (rr < 0) {
    spdlog::error("image {}: flagging the object map invalid failed ({}): writes fail with EIO",
                  m_what, Errno::from_rados(rr).message());
    std::lock_guard<std::mutex> l(m_mu);
    m_broken = true;
  }
}

bool HeadObjectMap::begin_invalidation(const char* why, int r) {
  if (m_invalid) return false;
  m_invalid = true;
  m_invalidating = true;
  log_invalid(m_what, why, r);
  return true;
}

void HeadObjectMap::send_invalidation() {
  librados::ObjectWriteOperation op = invalidate_op();
  detail::aio_operate_then(m_md, m_header_oid, &op, [this](int r) { invalidation_done(r); });
}

void HeadObjectMap::invalidation_done(int r) {
  std::vector<std::pair<uint64_t, Pending>> held;
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_invalidating = false;
    if (r < 0) {
      m_broken = true;
      spdlog::error("image {}: flagging the object map invalid failed ({}): writes fail with EIO",
                    m_what, Errno::from_rados(r).message());
    }
    held.swap(m_held);
  }
  // the map is now flagged (or broken): every held write goes on (or fails)
  for (auto& [objno, p] : held) p.then(r < 0 && !p.read ? -EIO : GO);
}

Status HeadObjectMap::open(uint64_t n_objects, bool flagged_invalid, const std::string& cookie) {
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
  const char* bad = nullptr;
  int bad_r = 0;
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_open = true;
    m_invalid = flagged_invalid;  // a flagged map is never trusted
    m_invalidating = false;
    m_broken = false;
    m_cookie = cookie;
    m_busy.clear();
    m_held.clear();
    m_grows.clear();
    if (!map.ok()) {
      m_map = object_map::Map(n_objects);
      bad = "cannot be loaded";
      bad_r = map.error();
    } else {
      m_map = std::move(*map);
      if (m_map.size() < n_objects) {
        m_map.resize(n_objects);
        bad = "is smaller than the image";
      }
    }
    m_target = m_map.size();
  }
  if (bad) invalidate_now(bad, bad_r);
  return {};
}

void HeadObjectMap::close() {
  {
    std::unique_lock<std::mutex> l(m_mu);
    if (!m_open) return;
    wait_growth_idle(l);
    m_open = false;
  }
  Status s =
      detail::cls_exec_in(m_md, m_oid, "lock", "unlock", lk::enc_unlock(lk::RBD_LOCK_NAME, ""));
  if (!s.ok() && s.error() != ENOENT)
    spdlog::warn("image {}: unlocking the object map: {}", m_what, s.err().message());
}

HeadObjectMap::Turn HeadObjectMap::turn(uint64_t objno, const Pending& p) const {
  if (p.read) {
    bool absent =
        m_open && !m_invalid && objno < m_map.size() && m_map.get(objno) == object_map::NONEXISTENT;
    return absent ? Turn::SKIP : Turn::GO;
  }
  if (m_broken) return Turn::FAIL;
  if (!m_open || m_invalid || objno >= m_map.size()) return Turn::GO;
  State cur = m_map.get(objno);
  if (p.skip_if_absent && cur == object_map::NONEXISTENT) return Turn::SKIP;
  return object_map::update_needed(cur, p.state) ? Turn::SEND : Turn::GO;
}

void HeadObjectMap::update(uint64_t objno, State state, std::optional<State> current,
                           std::function<void(int)> then, bool skip_if_absent) {
  Pending p{state, current, std::move(then), skip_if_absent};
  Turn t = Turn::GO;
  bool invalidate = false, queued = false;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_open && !m_invalid && objno >= m_target)
      invalidate = begin_invalidation("has no entry for an object written", 0);
    if (m_invalidating) {  // goes on once the flag is on the header
      m_held.emplace_back(objno, std::move(p));
      queued = true;
    } else if (auto it = m_busy.find(objno); it != m_busy.end()) {
      it->second.push_back(std::move(p));  // after the ones before it (or a resize)
      queued = true;
    } else {
      t = turn(objno, p);
      if (t == Turn::SEND) m_busy[objno];
    }
  }
  if (invalidate) send_invalidation();
  if (queued) return;
  if (t == Turn::SEND)
    send(objno, std::move(p));
  else
    p.then(t == Turn::GO ? GO : t == Turn::SKIP ? SKIP : -EIO);
}

void HeadObjectMap::read_turn(uint64_t objno, std::function<void(int)> then) {
  Pending p{object_map::EXISTS, std::nullopt, std::move(then), false, true};
  Turn t;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_invalidating) {
      m_held.emplace_back(objno, std::move(p));
      return;
    }
    if (auto it = m_busy.find(objno); it != m_busy.end()) {
      it->second.push_back(std::move(p));
      return;
    }
    t = turn(objno, p);
  }
  p.then(t == Turn::SKIP ? SKIP : GO);
}

void HeadObjectMap::send(uint64_t objno, Pending p) {
  librados::ObjectWriteOperation op = locked_op();
  bufferlist in = detail::to_bl(object_map::enc_update(objno, objno + 1, p.state, p.current));
  op.exec("rbd", "object_map_update", in);
  // std::function needs a copyable callable: the Pending rides in a shared_ptr
  auto pending = std::make_shared<Pending>(std::move(p));
  detail::aio_operate_then(
      m_md, m_oid, &op, [this, objno, pending](int r) { finish(objno, std::move(*pending), r); });
}

void HeadObjectMap::finish(uint64_t objno, Pending p, int r) {
  std::vector<std::pair<std::function<void(int)>, int>> run;
  bool invalidate = false;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (r < 0) {
      invalidate = begin_invalidation("update failed", -r);
      if (m_invalidating) {
        // this write and the ones queued behind it go on once flagged
        m_held.emplace_back(objno, std::move(p));
        auto it = m_busy.find(objno);
        if (it != m_busy.end()) {
          for (auto& q : it->second) m_held.emplace_back(objno, std::move(q));
          m_busy.erase(it);
        }
      } else {
        run.emplace_back(std::move(p.then), m_broken ? -EIO : GO);
      }
    } else {
      if (objno < m_map.size()) {
        State cur = m_map.get(objno);
        if (!p.current || cur == *p.current ||
            (*p.current == object_map::EXISTS && cur == object_map::EXISTS_CLEAN))
          m_map.set(objno, p.state);
      }
      run.emplace_back(std::move(p.then), GO);
    }
  }
  if (invalidate) send_invalidation();
  advance(objno, std::move(run));
}

void HeadObjectMap::advance(uint64_t objno,
                            std::vector<std::pair<std::function<void(int)>, int>> run) {
  for (;;) {
    // The object stays busy while the data ops of the updates done go out:
    // a read or write arriving meanwhile queues behind them (unbusied
    // first, a read could be sent ahead of a write already acknowledged).
    for (auto& [f, v] : run) f(v);
    run.clear();
    std::optional<Pending> next;
    {
      std::lock_guard<std::mutex> l(m_mu);
      auto it = m_busy.find(objno);
      if (it == m_busy.end()) return;
      if (it->second.empty()) {
        m_busy.erase(it);
        return;
      }
      if (m_invalidating) {  // the rest wait for the flag
        for (auto& q : it->second) m_held.emplace_back(objno, std::move(q));
        m_busy.erase(it);
        return;
      }
      Pending q = std::move(it->second.front());
      it->second.pop_front();
      Turn t = turn(objno, q);
      if (t == Turn::SEND)
        next = std::move(q);
      else
        run.emplace_back(std::move(q.then), t == Turn::GO ? GO : t == Turn::SKIP ? SKIP : -EIO);
    }
    if (next) {
      send(objno, std::move(*next));  // still busy until it is done
      return;
    }
  }
}

Status HeadObjectMap::resize(uint64_t n_objects, State fill) {
  {
    std::unique_lock<std::mutex> l(m_mu);
    wait_growth_idle(l);
    m_target = n_objects;
    if (!m_open) return {};
    if (m_broken) return Errno(EIO);
    if (m_invalid || m_map.size() == n_objects) {
      m_map.resize(n_objects, fill);
      return {};
    }
  }
  librados::ObjectWriteOperation op = locked_op();
  bufferlist in = detail::to_bl(object_map::enc_resize(n_objects, fill));
  op.exec("rbd", "object_map_resize", in);
  int r = m_md.operate(m_oid, &op);
  if (r < 0) {
    invalidate_now("resize failed", -r);
    std::lock_guard<std::mutex> l(m_mu);
    m_map.resize(n_objects, fill);
    return m_broken ? Status(Errno(EIO)) : Status();
  }
  std::lock_guard<std::mutex> l(m_mu);
  m_map.resize(n_objects, fill);
  return {};
}

void HeadObjectMap::wait_growth_idle(std::unique_lock<std::mutex>& l) {
  m_grow_cv.wait(l, [this] { return m_grows.empty(); });
}

Status HeadObjectMap::ensure_covers(uint64_t n_objects) {
  {
    std::unique_lock<std::mutex> l(m_mu);
    wait_growth_idle(l);
    if (!m_open || m_map.size() >= n_objects) return m_broken ? Status(Errno(EIO)) : Status();
  }
  Status s = resize(n_objects);
  std::lock_guard<std::mutex> l(m_mu);
  m_target = std::max(m_target, m_map.size());
  return s;
}

void HeadObjectMap::grow_async(uint64_t n_objects, const std::vector<uint64_t>& written) {
  bool send = false;
  State fill = object_map::NONEXISTENT;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_open || m_target >= n_objects) return;
    if (m_invalid || m_broken) {  // nothing to keep on disk
      m_map.resize(n_objects);
      m_target = n_objects;
      return;
    }
    uint64_t covered = 0;  // new objects the write fills
    for (uint64_t o : written)
      if (o >= m_target && o < n_objects) ++covered;
    if (covered == n_objects - m_target) fill = object_map::EXISTS;
    for (uint64_t o = m_target; o < n_objects; ++o) m_busy[o];  // queue behind the resize
    m_target = n_objects;
    m_grows.emplace_back(n_objects, fill);
    send = m_grows.size() == 1;
  }
  if (send) send_growth(n_objects, fill);
}

void HeadObjectMap::send_growth(uint64_t n, State fill) {
  librados::ObjectWriteOperation op = locked_op();
  bufferlist in = detail::to_bl(object_map::enc_resize(n, fill));
  op.exec("rbd", "object_map_resize", in);
  detail::aio_operate_then(m_md, m_oid, &op, [this, n, fill](int r) { growth_done(n, fill, r); });
}

void HeadObjectMap::growth_done(uint64_t n, State fill, int r) {
  uint64_t from;
  std::optional<std::pair<uint64_t, State>> next;
  bool invalidate = false;
  {
    std::lock_guard<std::mutex> l(m_mu);
    from = m_map.size();
    m_map.resize(n, fill);
    m_grows.pop_front();
    if (r < 0) {
      invalidate = begin_invalidation("resize failed", -r);
      // the rest need no resize now (the map is invalid): all of it covered
      m_map.resize(m_target);
      n = m_target;
      m_grows.clear();
    }
    if (!m_grows.empty()) next = m_grows.front();
    if (m_grows.empty()) m_grow_cv.notify_all();
  }
  if (next) send_growth(next->first, next->second);
  if (invalidate) send_invalidation();
  // the objects now covered: what queued behind the resize goes on
  for (uint64_t o = from; o < n; ++o) advance(o, {});
}

Status HeadObjectMap::snapshot_created(uint64_t snap_id) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_open) return {};
  }
  // a raw copy (it keeps the CRCs the OSD wrote); the header's flags were
  // copied into the snapshot by snapshot_add
  bufferlist whole;
  int r = m_md.read(m_oid, whole, 0, 0);
  if (r >= 0) r = m_md.write_full(object_map::map_object(m_image_id, snap_id), whole);
  if (r < 0) {
    spdlog::error("image {}: saving the object map of snapshot {}: {}: flagging it invalid", m_what,
                  snap_id, Errno::from_rados(r).message());
    librados::ObjectWriteOperation op = invalidate_op(snap_id);
    if (m_md.operate(m_header_oid, &op) < 0) return Errno::from_rados(r);
  }
  if (!m_fast_diff) return {};
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_invalid) return {};
  }
  librados::ObjectWriteOperation op = locked_op();
  bufferlist none;
  op.exec("rbd", "object_map_snap_add", none);
  r = m_md.operate(m_oid, &op);
  if (r < 0) {
    invalidate_now("snap_add failed", -r);
    return {};
  }
  std::lock_guard<std::mutex> l(m_mu);
  for (uint64_t i = 0; i < m_map.size(); ++i)
    if (m_map.get(i) == object_map::EXISTS) m_map.set(i, object_map::EXISTS_CLEAN);
  return {};
}

Status HeadObjectMap::snapshot_removing(uint64_t snap_id, bool removed_invalid,
                                        std::optional<uint64_t> next_snap) {
  std::string snap_oid = object_map::map_object(m_image_id, snap_id);
  if (m_fast_diff) {
    // the next map's EXISTS_CLEAN entries are clean relative to the removed
    // snapshot: where it had EXISTS they become EXISTS
    Result<object_map::Map> removed = Errno(EINVAL);
    if (!removed_invalid) removed = load_object_map(m_md, m_image_id, snap_id);
    int r = removed.ok() ? 0 : -removed.error();
    if (removed.ok()) {
      bufferlist in = detail::to_bl(removed->encode());
      if (next_snap) {
        librados::ObjectWriteOperation op;
        op.exec("rbd", "object_map_snap_remove", in);
        r = m_md.operate(object_map::map_object(m_image_id, next_snap), &op);
      } else {
        librados::ObjectWriteOperation op = locked_op();
        op.exec("rbd", "object_map_snap_remove", in);
        r = m_md.operate(m_oid, &op);
        if (r == 0) {
          std::lock_guard<std::mutex> l(m_mu);
          for (uint64_t i = 0; i < m_map.size(); ++i)
            if (m_map.get(i) == object_map::EXISTS_CLEAN &&
                (i >= removed->size() || removed->get(i) == object_map::EXISTS))
              m_map.set(i, object_map::EXISTS);
        }
      }
    }
    if (r < 0) {
      // the next map can no longer tell what changed since: flag it
      if (next_snap) {
        spdlog::warn(
            "image {}: merging the map of snapshot {} into snapshot {}'s: {}: flagging "
            "that one invalid",
            m_what, snap_id, *next_snap, Errno(-r).message());
        librados::ObjectWriteOperation op = invalidate_op(next_snap);
        int rr = m_md.operate(m_header_oid, &op);
        if (rr < 0) return Errno::from_rados(rr);
      } else {
        invalidate_now("cannot take in the removed snapshot's map", -r);
      }
    }
  }
  int r = m_md.remove(snap_oid);
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  return {};
}

}  // namespace rbdfs::core
