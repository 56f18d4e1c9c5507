#include "core/exclusive_lock.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "core/cls_call.h"
#include "core/header_watch.h"
#include "core/lock_owner_process.h"

namespace rbdfs::core {

using librados::bufferlist;
namespace lk = cls_lock;

namespace {

constexpr auto REREQUEST_AFTER = std::chrono::seconds(10);  // librbd's client_notify_timeout
constexpr auto RETRY_AFTER = std::chrono::seconds(1);       // librbd's RETRY_DELAY_SECONDS

// "v1:1.2.3.4:6800/123" and "1.2.3.4:6800/123" name the same client.
std::string_view bare_addr(std::string_view a) {
  if (a.size() > 3 && (a.substr(0, 3) == "v1:" || a.substr(0, 3) == "v2:")) a.remove_prefix(3);
  return a;
}

Status lock_exec(librados::IoCtx& io, const std::string& oid, const char* method,
                 const std::string& in, bufferlist* out = nullptr) {
  return detail::cls_exec_in(io, oid, "lock", method, in, out);
}

// The description of every lock this process takes: who we are, so that a
// later rbdfs here can tell we are gone (core/lock_owner_process.h).
const std::string& our_lock_description() {
  static const std::string d = [] {
    auto me = this_process();
    return me ? describe_owner(*me) : std::string();
  }();
  return d;
}

}  // namespace

Result<lk::LockInfo> read_lock_info(librados::IoCtx& md, const std::string& header_oid) {
  bufferlist out;
  RBDFS_TRY(lock_exec(md, header_oid, "get_info", lk::enc_get_info(lk::RBD_LOCK_NAME), &out));
  return detail::decoded(lk::dec_lock_info(detail::view(out)), "lock get_info", header_oid);
}

ExclusiveLock::ExclusiveLock(std::shared_ptr<Cluster> cluster, librados::IoCtx& md,
                             std::string header_oid, std::string what, HeaderWatch* watch,
                             Hooks hooks)
    : m_cluster(std::move(cluster)),
      m_oid(std::move(header_oid)),
      m_what(std::move(what)),
      m_watch(watch),
      m_hooks(std::move(hooks)) {
  m_md.dup(md);
}

ExclusiveLock::~ExclusiveLock() {
  release();
  std::unique_lock<std::mutex> l(m_mu);
  m_cv.wait(l, [this] { return m_releasers == 0; });
}

notify::ClientId ExclusiveLock::client_id() const {
  return {m_cluster->instance_id(), m_watch->handle()};
}

bool ExclusiveLock::releasing() const {
  std::lock_guard<std::mutex> l(m_mu);
  return m_state == State::RELEASING;
}

bool ExclusiveLock::owned() const {
  std::lock_guard<std::mutex> l(m_mu);
  return m_state == State::LOCKED;
}

void ExclusiveLock::put_user() {
  std::lock_guard<std::mutex> l(m_mu);
  if (--m_users == 0) m_cv.notify_all();
}

Result<ExclusiveLock::Ref> ExclusiveLock::acquire() {
  std::unique_lock<std::mutex> l(m_mu);
  for (;;) {
    switch (m_state) {
      case State::LOCKED:
        ++m_users;
        return Ref(static_cast<void*>(this), [this](void*) { put_user(); });
      case State::RELEASING:
        m_cv.wait(l, [this] { return m_state != State::RELEASING; });
        continue;
      case State::ACQUIRING: {
        // another writer is at it: its verdict is ours
        uint64_t attempt = m_attempt;
        m_cv.wait(l, [&] { return m_attempt != attempt; });
        if (!m_attempt_result.ok()) return m_attempt_result.err();
        continue;
      }
      case State::UNLOCKED:
        break;
    }
    m_state = State::ACQUIRING;
    l.unlock();
    Status s;
    for (;;) {
      bool again = false;
      s = lock_once(&again);
      if (!again) break;  // locked, or a verdict
    }
    l.lock();
    ++m_attempt;
    m_attempt_result = s;
    m_state = s.ok() ? State::LOCKED : State::UNLOCKED;
    m_cv.notify_all();
    if (!s.ok()) return s.err();
  }
}

Status ExclusiveLock::lock_once(bool* again) {
  *again = false;
  // a lock without a live watch looks dead to every peer
  if (Status w = m_watch->ensure_watched(); !w.ok()) {
    spdlog::error("image {}: cannot watch the header, so cannot take its lock: {}", m_what,
                  w.err().message());
    return w;
  }
  const notify::ClientId me = client_id();
  std::string cookie = lk::lock_cookie(me.handle);
  uint64_t events;
  {
    std::lock_guard<std::mutex> l(m_mu);
    events = m_peer_events;
  }
  Status s = lock_exec(m_md, m_oid, "lock",
                       lk::enc_lock(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, cookie, lk::RBD_LOCK_TAG,
                                    our_lock_description()));
  if (s.ok() || s.error() == EEXIST) {  // EEXIST: ours already
    // re-watched meanwhile: the cookie must name the live watch
    std::string live = lk::lock_cookie(m_watch->handle());
    if (m_watch->handle() != 0 && live != cookie) {
      Status c = lock_exec(
          m_md, m_oid, "set_cookie",
          lk::enc_set_cookie(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, cookie, lk::RBD_LOCK_TAG, live));
      if (c.ok()) cookie = live;
    }
    if (m_hooks.post_acquire) {
      if (Status p = m_hooks.post_acquire(cookie); !p.ok()) {
        spdlog::error("image {}: giving the lock back: {}", m_what, p.err().message());
        (void)lock_exec(m_md, m_oid, "unlock", lk::enc_unlock(lk::RBD_LOCK_NAME, cookie));
        return p;
      }
    }
    {
      std::lock_guard<std::mutex> l(m_mu);
      m_cookie = cookie;
    }
    (void)m_watch->notify(notify::enc_lock_message(notify::ACQUIRED_LOCK, me));
    spdlog::debug("image {}: lock acquired ({})", m_what, cookie);
    return {};
  }
  if (s.error() == ESHUTDOWN) {
    m_cluster->note_blocklisted();
    spdlog::error("image {}: this client is blocklisted: cannot take the lock", m_what);
    return s;
  }
  if (s.error() != EBUSY) return s;

  auto info = read_lock_info(m_md, m_oid);
  if (!info.ok()) return info.err();
  if (info->lockers.empty()) {  // gone meanwhile
    *again = true;
    return Errno(EAGAIN);
  }
  const lk::Locker& owner = info->lockers.front();
  if (info->tag != lk::RBD_LOCK_TAG || !lk::parse_lock_cookie(owner.cookie) ||
      info->type != lk::EXCLUSIVE) {
    spdlog::error(
        "image {}: locked by another mechanism (client.{} cookie '{}' tag '{}'): not writing",
        m_what, owner.entity.num, owner.cookie, info->tag);
    return Errno(EBUSY);
  }
  std::list<obj_watch_t> watchers;
  if (int r = m_md.list_watchers(m_oid, &watchers); r < 0) return Errno::from_rados(r);
  uint64_t owner_handle = *lk::parse_lock_cookie(owner.cookie);
  bool alive = false;
  for (const auto& w : watchers)
    if (w.cookie == owner_handle && bare_addr(w.addr) == bare_addr(owner.address)) alive = true;
  if (alive) {
    // an rbdfs of this machine that has exited: its watch only lingers
    auto process = parse_owner(owner.description);
    if (process && owner_has_exited(*process)) {
      spdlog::warn(
          "image {}: lock owner client.{} ({}) was rbdfs pid {} on this machine, which has "
          "exited; its header watch has not timed out yet",
          m_what, owner.entity.num, owner.address, process->pid);
      alive = false;
    }
  }
  if (!alive) {
    Status b = break_dead_owner(owner);
    *again = b.ok() || b.error() == EAGAIN;  // then try to lock again
    return b.ok() ? Status(Errno(EAGAIN)) : b;
  }

  *again = true;
  Status r = request_lock_from_owner();
  if (r.ok()) {
    // it releases and says so (RELEASED_LOCK), or we ask again
    std::unique_lock<std::mutex> l(m_mu);
    m_cv.wait_for(l, REREQUEST_AFTER, [&] { return m_peer_events != events; });
    return Errno(EAGAIN);
  }
  if (r.error() == EROFS) {
    spdlog::error(
        "image {}: the lock owner client.{} ({}) keeps the lock (exclusive mode): writes fail "
        "with EROFS",
        m_what, owner.entity.num, owner.address);
    *again = false;
    return r;
  }
  if (r.error() != ETIMEDOUT) std::this_thread::sleep_for(RETRY_AFTER);
  // ETIMEDOUT: nobody answered for the owner; its watch may be about to
  // time out: look again at once
  return r;
}

Status ExclusiveLock::request_lock_from_owner() {
  std::string reply;
  Status n = m_watch->notify(notify::enc_request_lock(client_id()), &reply);
  if (!n.ok() && n.error() != ETIMEDOUT) return n;
  auto decoded = notify::dec_notify_reply(reply);
  if (!decoded.ok()) return decoded.err();
  int r = notify::lock_owner_result(*decoded);
  if (r != 0) return Errno(r);
  return {};
}

Status ExclusiveLock::break_dead_owner(const lk::Locker& owner) {
  // the owner may have changed since we looked (librbd's recheck)
  auto again = read_lock_info(m_md, m_oid);
  if (!again.ok()) return again.err();
  if (again->lockers.empty()) return {};
  const lk::Locker& now = again->lockers.front();
  if (!(now.entity == owner.entity) || now.cookie != owner.cookie) return Errno(EAGAIN);
  if (static_cast<uint64_t>(owner.entity.num) != m_cluster->instance_id()) {
    spdlog::warn(
        "image {}: lock owner client.{} ({}) is gone: blocklisting it and breaking its lock",
        m_what, owner.entity.num, owner.address);
    int r = rados(*m_cluster).blocklist_add(std::string(bare_addr(owner.address)), 0);
    if (r < 0) {
      spdlog::error(
          "image {}: cannot blocklist the dead lock owner {}: {} (the client key needs the mon "
          "capability to blocklist, as 'profile rbd' gives)",
          m_what, owner.address, Errno::from_rados(r).message());
      return Errno::from_rados(r);
    }
    rados(*m_cluster).wait_for_latest_osdmap();
  }
  // (a lock of our own from an earlier watch is broken without a blocklist)
  Status b = lock_exec(m_md, m_oid, "break_lock",
                       lk::enc_break_lock(lk::RBD_LOCK_NAME, owner.entity, owner.cookie));
  if (!b.ok() && b.error() != ENOENT) return b;
  return {};
}

std::string ExclusiveLock::handle_request_lock(const notify::ClientId& requester) {
  if (requester == client_id()) return {};
  std::lock_guard<std::mutex> l(m_mu);
  if (m_state != State::LOCKED && m_state != State::RELEASING) return {};  // not the owner
  if (m_state == State::LOCKED && !m_release_queued) {
    m_release_queued = true;
    ++m_releasers;
    std::thread([this] {
      do_release();
      std::lock_guard<std::mutex> lg(m_mu);
      --m_releasers;
      m_cv.notify_all();
    }).detach();
  }
  return notify::enc_response(0);
}

void ExclusiveLock::handle_peer_lock_message(const notify::ClientId& client) {
  if (client == client_id()) return;
  std::lock_guard<std::mutex> l(m_mu);
  ++m_peer_events;
  m_cv.notify_all();
}

void ExclusiveLock::handle_rewatch(uint64_t handle) {
  std::string old;
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_state != State::LOCKED) return;
    old = m_cookie;
  }
  std::string next = lk::lock_cookie(handle);
  if (next == old) return;
  Status s =
      lock_exec(m_md, m_oid, "set_cookie",
                lk::enc_set_cookie(lk::RBD_LOCK_NAME, lk::EXCLUSIVE, old, lk::RBD_LOCK_TAG, next));
  if (s.ok()) {
    {
      std::lock_guard<std::mutex> l(m_mu);
      m_cookie = next;
    }
    (void)m_watch->notify(notify::enc_lock_message(notify::ACQUIRED_LOCK, client_id()));
    return;
  }
  spdlog::warn("image {}: re-keying the lock after a re-watch failed ({}): giving it up", m_what,
               s.err().message());
  release();
}

void ExclusiveLock::release() { do_release(); }

void ExclusiveLock::do_release() {
  std::string cookie;
  {
    std::unique_lock<std::mutex> l(m_mu);
    m_cv.wait(l, [this] { return m_state != State::ACQUIRING && m_state != State::RELEASING; });
    if (m_state != State::LOCKED) {
      m_release_queued = false;
      return;
    }
    m_state = State::RELEASING;
    if (m_hooks.releasing) {
      l.unlock();
      m_hooks.releasing();
      l.lock();
    }
    m_cv.wait(l, [this] { return m_users == 0; });
    cookie = m_cookie;
  }
  if (m_hooks.pre_release) m_hooks.pre_release();
  Status u;
  for (int attempt = 0; attempt < 3; ++attempt) {
    u = lock_exec(m_md, m_oid, "unlock", lk::enc_unlock(lk::RBD_LOCK_NAME, cookie));
    if (u.ok() || u.error() == ENOENT || u.error() == ESHUTDOWN) break;
    std::this_thread::sleep_for(RETRY_AFTER);
  }
  if (!u.ok() && u.error() != ENOENT && u.error() != ESHUTDOWN) {
    // Still ours on the header: peers would wait for us forever if we
    // answered as a non-owner. Keep it (object map included).
    spdlog::error("image {}: unlocking failed ({}): keeping the lock", m_what, u.err().message());
    Status p = m_hooks.post_acquire ? m_hooks.post_acquire(cookie) : Status();
    std::lock_guard<std::mutex> l(m_mu);
    m_state = p.ok() ? State::LOCKED : State::UNLOCKED;
    m_release_queued = false;
    m_cv.notify_all();
    return;
  }
  (void)m_watch->notify(notify::enc_lock_message(notify::RELEASED_LOCK, client_id()));
  spdlog::debug("image {}: lock released", m_what);
  std::lock_guard<std::mutex> l(m_mu);
  m_state = State::UNLOCKED;
  m_cookie.clear();
  m_release_queued = false;
  m_cv.notify_all();
}

}  // namespace rbdfs::core
