// The exclusive lock of an image (EXCLUSIVE_LOCK feature), taken, kept and
// given up as librbd and krbd do (reference §1, §2.5-2.6): cls "lock"
// named rbd_lock on rbd_header.<id>, tag "internal", cookie
// "auto <watch handle>", from the client instance that watches the header.
//
//   UNLOCKED --acquire()--> ACQUIRING ------------------ locked --> LOCKED
//      ^                      |  get_info, lock                       |
//      |                      |  EBUSY, owner alive: REQUEST_LOCK,    |
//      |                      |    wait for RELEASED_LOCK (10 s),     |
//      |                      |    again; owner answers EROFS: fail   |
//      |                      |  EBUSY, owner dead (no watch with its |
//      |                      |    cookie): blocklist it, wait for    |
//      |                      |    the osdmap, break_lock, again      |
//      |                      |  external/shared lock: EBUSY -> fail  |
//      |                      |  then post_acquire (object map),      |
//      |                      |    ACQUIRED_LOCK                      |
//      |                                                              |
//      +-- RELEASED_LOCK <-- unlock <-- pre_release <-- RELEASING <---+
//                                      (object map)    (REQUEST_LOCK from a
//                                                       peer, or close: new
//                                                       users wait, the ones
//                                                       under way finish)
//
// Users: every data write and header change holds a Ref from acquire()
// until RADOS has answered it (early-acknowledged writes included), so a
// release waits for them. One Ref per operation: an operation that holds
// one passes it down, it never calls acquire() again (that would wait for
// a release that waits for it).
#pragma once

#include <rados/librados.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/cls_lock.h"
#include "core/cluster.h"
#include "core/notify_message.h"
#include "core/result.h"

namespace rbdfs::core {

class HeaderWatch;

// get_info("rbd_lock") on the header; no lockers when nobody holds it.
Result<cls_lock::LockInfo> read_lock_info(librados::IoCtx& md, const std::string& header_oid);

class ExclusiveLock {
 public:
  using Ref = std::shared_ptr<void>;
  struct Hooks {
    // After the header lock is ours (with this cookie), before anyone
    // writes: the object map (its own lock, a fresh load). An error gives
    // the lock back.
    std::function<Status(const std::string& cookie)> post_acquire;
    // After the last user finished, before the unlock: the object map.
    std::function<void()> pre_release;
    // As a release begins (no new users; the ones under way may still
    // hold Refs): users that hold a Ref until something sends them on
    // (held combined writes) send it now, so the release does not wait
    // for ever. Never blocks on the lock.
    std::function<void()> releasing = {};
  };

  ExclusiveLock(std::shared_ptr<Cluster> cluster, librados::IoCtx& md, std::string header_oid,
                std::string what, HeaderWatch* watch, Hooks hooks);
  // Gives the lock up if held (waits for the users).
  ~ExclusiveLock();
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

  // Blocks until this client owns the lock; the Ref keeps it until
  // dropped. EROFS: the owner refuses to give it up (exclusive mode);
  // EBUSY: a lock rbdfs must not break (not librbd's); ESHUTDOWN: we are
  // blocklisted; other errors from RADOS.
  Result<Ref> acquire();
  // Gives the lock up (if held) once the users are done.
  void release();
  bool owned() const;
  // A release has begun: users should not keep anything back for later.
  bool releasing() const;

  // Notifies (on the librados thread, never blocks): the ack payload for
  // a peer's REQUEST_LOCK (ResponseMessage(0) and a release queued, when
  // we own the lock; empty otherwise), and a peer's ACQUIRED/RELEASED_LOCK.
  std::string handle_request_lock(const notify::ClientId& requester);
  void handle_peer_lock_message(const notify::ClientId& client);
  // The header watch came back with a new handle: the lock's cookie must
  // follow it (set_cookie), else peers see a dead owner.
  void handle_rewatch(uint64_t handle);

 private:
  enum class State { UNLOCKED, ACQUIRING, LOCKED, RELEASING };
  // One attempt, without m_mu: the protocol steps above. Success only when
  // the lock is ours; with *again set, the error is no verdict (an owner
  // was asked, or broken): try again.
  Status lock_once(bool* again);
  Status break_dead_owner(const cls_lock::Locker& owner);
  Status request_lock_from_owner();
  void do_release();
  void put_user();
  notify::ClientId client_id() const;

  std::shared_ptr<Cluster> m_cluster;
  librados::IoCtx m_md;
  std::string m_oid;
  std::string m_what;
  HeaderWatch* m_watch;
  Hooks m_hooks;

  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  State m_state = State::UNLOCKED;  // GUARDED_BY(m_mu)
  uint64_t m_users = 0;             // GUARDED_BY(m_mu)
  std::string m_cookie;             // GUARDED_BY(m_mu): while LOCKED
  uint64_t m_attempt = 0;           // GUARDED_BY(m_mu): acquire attempts finished
  Status m_attempt_result;          // GUARDED_BY(m_mu): of the last one
  bool m_release_queued = false;    // GUARDED_BY(m_mu)
  int m_releasers = 0;              // GUARDED_BY(m_mu): release threads under way
  uint64_t m_peer_events = 0;       // GUARDED_BY(m_mu): RELEASED/ACQUIRED seen
};

}  // namespace rbdfs::core
