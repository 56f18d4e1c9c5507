// Cluster: one librados connection, shared by every pool and image.
//
// Owns the librados handle (opaque here: no librados type in what fuse/
// includes; core reaches it through core/rados.h) and the limit on object
// operations in flight. Thread-safe: every member may be called from any
// thread.
#pragma once

#include <cstdint>

#include <atomic>
#include <memory>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/io_counters.h"
#include "core/result.h"
#include "core/timer.h"

namespace rbdfs::core {

struct ClusterConfig {
  std::string conf;  // explicit ceph.conf; empty: $CEPH_CONF, /etc/ceph/$cluster.conf
  std::string cluster = "ceph";
  std::string id;    // "admin"; or
  std::string name;  // "client.admin"
  std::string keyring;
  std::string mon_host;
  int connect_timeout = 10;     // seconds, bounds connect and monitor calls
  unsigned max_inflight = 256;  // object operations in flight, whole process
  // Write-around: a write is acknowledged once it is sent, as long as the
  // bytes sent but not yet acknowledged by RADOS stay under this bound
  // (process-wide); flush/fsync then waits for them and reports their
  // errors. 0 acknowledges every write only when RADOS has it. librbd's
  // default cache policy (writearound) behaves the same way.
  uint64_t writearound_bytes = 64ull << 20;
};

struct ClusterStats {
  uint64_t kb = 0, kb_used = 0, kb_avail = 0, num_objects = 0;
};

// What `rbd create` would give a new image on this cluster: ceph.conf's
// (or the monitors') rbd_default_* options.
struct CreateDefaults {
  uint64_t features = 61;  // rbd_default_features
  uint8_t order = 22;      // rbd_default_order
  uint64_t stripe_unit = 0;
  uint64_t stripe_count = 0;
  std::string data_pool;  // rbd_default_data_pool (empty: none)
};

class Cluster {
 public:
  // Connects within config.connect_timeout seconds or fails. On failure
  // *message says why in one line (never containing a secret).
  static Result<std::shared_ptr<Cluster>> connect(const ClusterConfig& config,
                                                  std::string* message);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Pools with the "rbd" application enabled, sorted, as this client's
  // OSD map has them.
  Result<std::vector<std::string>> list_rbd_pools();
  // The client's OSD map moves only when something asks for a newer one:
  // this does (a monitor round trip; with the monitors down it waits).
  void refresh_osdmap();
  // The pool's id; ENOENT when the pool does not exist.
  Result<int64_t> pool_id(const std::string& name);
  Result<ClusterStats> stats();
  // EINVAL (one log line) when an option does not parse.
  Result<CreateDefaults> create_defaults();

  // The librados handle, complete in core/rados.h only.
  struct Rados;
  Rados& rados_handle() { return *m_rados; }
  uint64_t instance_id();
  // This instance's address, as `ceph osd blocklist` and `rbd status` show it.
  std::string address() const;
  const std::string& client_name() const { return m_client_name; }

  // RADOS answered ESHUTDOWN: another client blocklisted this one (it
  // broke our exclusive lock, thinking us dead). Said once, in the log;
  // every operation of this instance fails with ESHUTDOWN from now on: the
  // user (fuse/) connects again, as a new instance, with config().
  void note_blocklisted();
  bool blocklisted() const { return m_blocklisted.load(); }
  const ClusterConfig& config() const { return m_config; }

  // Bounds object operations in flight: acquire before submitting one,
  // release from its completion.
  void acquire_slot() {
    m_slots.acquire();
    io_counters().object_requests.fetch_add(1, std::memory_order_relaxed);
  }
  void release_slot() { m_slots.release(); }

  // Reserves `bytes` of the write-around budget for one write; false when
  // the bytes are spent or when as many writes as the op cap are already
  // acknowledged early (past it, FUSE workers would block on slots).
  bool reserve_writearound(uint64_t bytes) {
    if (m_unacked_ops.fetch_add(1) >= m_writearound_ops) {
      m_unacked_ops.fetch_sub(1);
      return false;
    }
    uint64_t cur = m_unacked.load();
    do {
      if (cur + bytes > m_writearound_limit) {
        m_unacked_ops.fetch_sub(1);
        return false;
      }
    } while (!m_unacked.compare_exchange_weak(cur, cur + bytes));
    return true;
  }
  void release_writearound(uint64_t bytes, unsigned ops = 1) {
    m_unacked.fetch_sub(bytes);
    m_unacked_ops.fetch_sub(ops);
  }
  // One reservation split into `n` early-acknowledged writes (n - 1 more
  // ops; n = 0: the bytes joined writes already counted).
  void split_writearound(unsigned n) {
    if (n > 1) m_unacked_ops.fetch_add(n - 1);
    if (n == 0) m_unacked_ops.fetch_sub(1);
  }

  // For short deferred work (the idle flush of combined writes).
  Timer& timer() { return m_timer; }

  // Copy-ups (clones) in flight process-wide, each holding up to an object
  // of the parent's data twice: at most MAX_COPYUPS; `start` runs now or,
  // queued, when one ends (never blocking: callers are librados threads).
  static constexpr unsigned MAX_COPYUPS = 8;
  void copyup_begin(std::function<void()> start);
  void copyup_end();

  // Objects shared process-wide by key while someone uses them (the
  // parent images of clones, core/parent.h): the live one, or null.
  std::shared_ptr<void> find_shared(const std::string& key);
  // Makes `obj` the one for `key` unless a live one is there already;
  // returns whichever is.
  std::shared_ptr<void> share(const std::string& key, std::shared_ptr<void> obj);

 private:
  Cluster();
  std::unique_ptr<Rados> m_rados;
  ClusterConfig m_config;
  std::string m_client_name;
  // Not std::counting_semaphore: libstdc++'s spins with sched_yield before
  // sleeping, and FUSE workers waiting for a slot then burnt the CPU the
  // OSD needed (measured: 12 % of rbdfs' samples in sched_yield).
  class Slots {
   public:
    void set(unsigned n) {
      std::lock_guard<std::mutex> l(m_mu);
      m_free = n;
    }
    void acquire() {
      std::unique_lock<std::mutex> l(m_mu);
      if (m_free == 0) {
        ++m_waiters;
        m_cv.wait(l, [this] { return m_free > 0; });
        --m_waiters;
      }
      --m_free;
    }
    void release() {
      bool wake;
      {
        std::lock_guard<std::mutex> l(m_mu);
        ++m_free;
        wake = m_waiters > 0;
      }
      if (wake) m_cv.notify_one();
    }

   private:
    std::mutex m_mu;
    std::condition_variable m_cv;
    unsigned m_free = 0;     // GUARDED_BY(m_mu)
    unsigned m_waiters = 0;  // GUARDED_BY(m_mu)
  };
  Slots m_slots;
  std::atomic<uint64_t> m_unacked{0};
  std::atomic<unsigned> m_unacked_ops{0};
  unsigned m_writearound_ops = 128;  // set by connect()
  uint64_t m_writearound_limit = 0;
  bool m_connected = false;
  std::atomic<bool> m_blocklisted{false};
  Timer m_timer;
  std::mutex m_copyup_mu;
  unsigned m_copyups = 0;                           // GUARDED_BY(m_copyup_mu)
  std::deque<std::function<void()>> m_copyup_wait;  // GUARDED_BY(m_copyup_mu)
  std::mutex m_shared_mu;
  std::map<std::string, std::weak_ptr<void>> m_shared;  // GUARDED_BY(m_shared_mu)
};

}  // namespace rbdfs::core
