// Cluster: one librados connection, shared by every pool and image.
//
// Owns the librados::Rados handle and the limit on object operations in
// flight. Thread-safe: every member may be called from any thread.
#pragma once

#include <rados/librados.hpp>

#include <memory>
#include <semaphore>
#include <string>
#include <vector>

#include "core/result.h"

namespace rbdfs::core {

struct ClusterConfig {
  std::string conf;     // explicit ceph.conf; empty: $CEPH_CONF, /etc/ceph/$cluster.conf
  std::string cluster = "ceph";
  std::string id;       // "admin"; or
  std::string name;     // "client.admin"
  std::string keyring;
  std::string mon_host;
  int connect_timeout = 10;  // seconds, bounds connect and monitor calls
  unsigned max_inflight = 256;  // object operations in flight, whole process
};

struct ClusterStats {
  uint64_t kb = 0, kb_used = 0, kb_avail = 0, num_objects = 0;
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

  // Pools with the "rbd" application enabled, sorted.
  Result<std::vector<std::string>> list_rbd_pools();
  // ENOENT when the pool does not exist.
  Result<librados::IoCtx> open_pool(const std::string& name);
  Result<librados::IoCtx> open_pool_id(int64_t id);
  Result<ClusterStats> stats();

  librados::Rados& rados() { return m_rados; }
  uint64_t instance_id() { return m_rados.get_instance_id(); }
  const std::string& client_name() const { return m_client_name; }

  // Bounds object operations in flight: acquire before submitting one,
  // release from its completion.
  void acquire_slot() { m_slots.acquire(); }
  void release_slot() { m_slots.release(); }

 private:
  Cluster() = default;
  librados::Rados m_rados;
  std::string m_client_name;
  std::counting_semaphore<4096> m_slots{256};
  bool m_connected = false;
};

}  // namespace rbdfs::core
