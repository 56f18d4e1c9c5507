#include "core/cluster.h"

#include "core/rados.h"

#include "core/features.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace rbdfs::core {

namespace {

bool file_exists(const std::string& p) {
  std::ifstream f(p);
  return f.good();
}

}  // namespace

Result<std::shared_ptr<Cluster>> Cluster::connect(const ClusterConfig& cfg, std::string* message) {
  std::shared_ptr<Cluster> c(new Cluster());
  c->m_config = cfg;
  std::string name = cfg.name;
  if (name.empty()) name = "client." + (cfg.id.empty() ? "admin" : cfg.id);
  c->m_client_name = name;
  int r = c->m_rados->r.init2(name.c_str(), cfg.cluster.c_str(), 0);
  if (r < 0) {
    *message = "cannot initialise the RADOS client " + name + ": " + Errno::from_rados(r).message();
    return Errno::from_rados(r);
  }

  // ceph.conf discovery as Ceph does it: explicit path, then $CEPH_CONF,
  // then /etc/ceph/$cluster.conf (librados' own search when given null).
  std::string conf = cfg.conf;
  if (!conf.empty()) {
    if (!file_exists(conf)) {
      *message = "cannot read ceph.conf '" + conf + "'";
      return Errno(ENOENT);
    }
    r = c->m_rados->r.conf_read_file(conf.c_str());
  } else {
    r = c->m_rados->r.conf_read_file(nullptr);
    if (r < 0 && cfg.mon_host.empty()) {
      const char* env = std::getenv("CEPH_CONF");
      *message = "no ceph.conf found (looked at " + std::string(env ? env : "$CEPH_CONF unset") +
                 ", /etc/ceph/" + cfg.cluster + ".conf); give --conf or --mon-host";
      return Errno(ENOENT);
    }
    r = 0;
  }
  if (r < 0) {
    *message = "cannot parse ceph.conf '" + conf + "': " + Errno::from_rados(r).message();
    return Errno::from_rados(r);
  }
  auto set = [&](const char* k, const std::string& v) -> bool {
    int rr = c->m_rados->r.conf_set(k, v.c_str());
    if (rr < 0) {
      *message = std::string("bad value for ") + k + ": " + Errno::from_rados(rr).message();
      return false;
    }
    return true;
  };
  if (!cfg.keyring.empty()) {
    if (!file_exists(cfg.keyring)) {
      *message = "cannot read keyring '" + cfg.keyring + "'";
      return Errno(ENOENT);
    }
    if (!set("keyring", cfg.keyring)) return Errno(EINVAL);
  }
  if (!cfg.mon_host.empty() && !set("mon_host", cfg.mon_host)) return Errno(EINVAL);
  std::string t = std::to_string(cfg.connect_timeout);
  if (!set("client_mount_timeout", t) || !set("rados_mon_op_timeout", t)) return Errno(EINVAL);
  // Keep librados' own logging out of our stderr.
  c->m_rados->r.conf_set("log_to_stderr", "false");
  c->m_rados->r.conf_set("err_to_stderr", "false");
  c->m_rados->r.conf_set("log_file", "");

  r = c->m_rados->r.connect();
  if (r < 0) {
    std::string mon;
    c->m_rados->r.conf_get("mon_host", mon);
    std::string why;
    switch (-r) {
      case EACCES:
      case EPERM:
        why = "authentication failed for " + name + " (wrong key or keyring?)";
        break;
      case ETIMEDOUT:
        why = "no monitor answered within " + t + "s";
        break;
      case ENOENT:
        why = "no keyring found for " + name;
        break;
      default:
        why = Errno::from_rados(r).message();
    }
    *message = "cannot connect to cluster '" + cfg.cluster + "' (mon_host " + mon + "): " + why;
    return Errno::from_rados(r);
  }
  c->m_connected = true;
  c->m_writearound_limit = cfg.writearound_bytes;
  // rados_mon_op_timeout bounded the connect; later monitor calls (pool
  // list, statfs) get a more forgiving bound.
  c->m_rados->r.conf_set("rados_mon_op_timeout", "30");
  unsigned slots = std::clamp(cfg.max_inflight, 2u, 4096u);
  c->m_slots.set(slots);
  // Early acks fill at most half the slots, so writes acknowledged early
  // rarely leave FUSE workers waiting for a slot (4K random writes at qd32,
  // three 10 s runs each: median 3,101 IOPS against 2,867 when early acks
  // could take every slot - a gain about the size of the runs' spread).
  c->m_writearound_ops = slots / 2;
  return c;
}

Cluster::Cluster() : m_rados(std::make_unique<Rados>()) {}

uint64_t Cluster::instance_id() { return m_rados->r.get_instance_id(); }

std::string Cluster::address() const { return m_rados->r.get_addrs(); }

Cluster::~Cluster() {
  if (m_connected) m_rados->r.shutdown();
}

Result<std::vector<std::string>> Cluster::list_rbd_pools() {
  std::list<std::pair<int64_t, std::string>> pools;
  int r = m_rados->r.pool_list2(pools);
  if (r < 0) return Errno::from_rados(r);
  std::vector<std::string> out;
  for (const auto& [id, name] : pools) {
    librados::IoCtx io;
    if (m_rados->r.ioctx_create2(id, io) < 0) continue;
    std::set<std::string> apps;
    if (io.application_list(&apps) < 0) continue;
    if (apps.count("rbd")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Cluster::refresh_osdmap() { m_rados->r.wait_for_latest_osdmap(); }

Result<int64_t> Cluster::pool_id(const std::string& name) {
  int64_t id = m_rados->r.pool_lookup(name.c_str());
  if (id < 0) return Errno::from_rados(static_cast<int>(id));
  return id;
}

Result<librados::IoCtx> open_ioctx(Cluster& c, const std::string& pool) {
  librados::IoCtx io;
  int r = rados(c).ioctx_create(pool.c_str(), io);
  if (r < 0) return Errno::from_rados(r);
  return io;
}

void Cluster::note_blocklisted() {
  if (m_blocklisted.exchange(true)) return;
  spdlog::error(
      "{} (client.{}) was blocklisted by another client (it broke an exclusive lock of ours, "
      "taking us for dead): what was under way fails with ESHUTDOWN; connecting again as a "
      "new client instance",
      m_client_name, m_rados->r.get_instance_id());
}

Result<CreateDefaults> Cluster::create_defaults() {
  CreateDefaults d;
  auto get = [this](const char* key) {
    std::string v;
    if (m_rados->r.conf_get(key, v) < 0) v.clear();
    return v;
  };
  auto number = [](const std::string& s, uint64_t* out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoull(s);
    return true;
  };
  std::string err;
  std::string f = get("rbd_default_features");
  if (!f.empty() && !parse_feature_list(f, &d.features, &err)) {
    spdlog::error("rbd_default_features '{}': {}", f, err);
    return Errno(EINVAL);
  }
  uint64_t order = d.order, su = 0, sc = 0;
  std::string o = get("rbd_default_order");
  if (!o.empty() && (!number(o, &order) || order < 12 || order > 25)) {
    spdlog::error("rbd_default_order '{}' is not from 12 to 25", o);
    return Errno(EINVAL);
  }
  d.order = static_cast<uint8_t>(order);
  if (number(get("rbd_default_stripe_unit"), &su)) d.stripe_unit = su;
  if (number(get("rbd_default_stripe_count"), &sc)) d.stripe_count = sc;
  d.data_pool = get("rbd_default_data_pool");
  return d;
}

Result<librados::IoCtx> open_ioctx(Cluster& c, int64_t id) {
  librados::IoCtx io;
  int r = rados(c).ioctx_create2(id, io);
  if (r < 0) return Errno::from_rados(r);
  return io;
}

void Cluster::copyup_begin(std::function<void()> start) {
  {
    std::lock_guard<std::mutex> l(m_copyup_mu);
    if (m_copyups >= MAX_COPYUPS) {
      m_copyup_wait.push_back(std::move(start));
      return;
    }
    ++m_copyups;
  }
  start();
}

void Cluster::copyup_end() {
  std::function<void()> next;
  {
    std::lock_guard<std::mutex> l(m_copyup_mu);
    if (m_copyup_wait.empty()) {
      --m_copyups;
      return;
    }
    next = std::move(m_copyup_wait.front());  // its turn: the count stays
    m_copyup_wait.pop_front();
  }
  // A start that ends at once (an error) comes back here: run such
  // successors in a loop on this thread, not one stack frame each.
  static thread_local bool running = false;
  static thread_local std::deque<std::function<void()>> later;
  if (running) {
    later.push_back(std::move(next));
    return;
  }
  running = true;
  next();
  while (!later.empty()) {
    auto f = std::move(later.front());
    later.pop_front();
    f();
  }
  running = false;
}

std::shared_ptr<void> Cluster::find_shared(const std::string& key) {
  std::lock_guard<std::mutex> l(m_shared_mu);
  auto it = m_shared.find(key);
  return it == m_shared.end() ? nullptr : it->second.lock();
}

std::shared_ptr<void> Cluster::share(const std::string& key, std::shared_ptr<void> obj) {
  std::lock_guard<std::mutex> l(m_shared_mu);
  for (auto it = m_shared.begin(); it != m_shared.end();)  // forget the dead
    it = it->second.expired() ? m_shared.erase(it) : std::next(it);
  auto& slot = m_shared[key];
  if (auto live = slot.lock()) return live;
  slot = obj;
  return obj;
}

Result<ClusterStats> Cluster::stats() {
  librados::cluster_stat_t st;
  int r = m_rados->r.cluster_stat(st);
  if (r < 0) return Errno::from_rados(r);
  return ClusterStats{st.kb, st.kb_used, st.kb_avail, st.num_objects};
}

}  // namespace rbdfs::core
