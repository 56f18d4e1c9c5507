// Blocklisted (another client broke our lock, taking us for dead): a new
// client instance in place of the old one, and the open files on it -
// read-only descriptions move to it, writable ones are fenced.
#include <spdlog/spdlog.h>

#include <iterator>
#include <vector>

#include "fuse/fs_internal.h"

namespace rbdfs::ll {

namespace {

// Cluster::connect returns its errors; this keeps an allocation failure
// from leaving m_reconnecting set, which would park every later caller.
Result<std::shared_ptr<core::Cluster>> connect_again(const core::ClusterConfig& cfg,
                                                     std::string* msg) {
  try {
    return core::Cluster::connect(cfg, msg);
  } catch (const std::exception& e) {
    *msg = e.what();
    return Errno(ENOMEM);
  }
}

}  // namespace

std::shared_ptr<core::Cluster> Filesystem::cluster() {
  std::shared_ptr<core::Cluster> cur;
  {
    std::unique_lock<std::mutex> l(m_cluster_mu);
    // one connect at a time; the others wait for it (a while: handing out
    // the old instance would fail them with ESHUTDOWN)
    if (m_reconnecting) m_reconnected.wait_for(l, RECONNECT_WAIT, [&] { return !m_reconnecting; });
    cur = m_cluster;
    if (!cur->blocklisted() || m_reconnecting || Clock::now() < m_reconnect_after) return cur;
    m_reconnecting = true;
  }
  std::string msg;
  auto fresh = connect_again(cur->config(), &msg);
  {
    std::lock_guard<std::mutex> l(m_cluster_mu);
    m_reconnecting = false;
    m_reconnected.notify_all();
    if (!fresh.ok()) {
      m_reconnect_after = Clock::now() + std::chrono::seconds(5);
      spdlog::error("connecting again after being blocklisted failed (next try in 5 s): {}", msg);
      return cur;
    }
    m_cluster = *fresh;
    // at most one new instance a second (the address itself, not only the
    // instance, may be blocklisted)
    m_reconnect_after = Clock::now() + std::chrono::seconds(1);
  }
  // Pools and images of the old instance are of no use any more (they are
  // opened again on the new one when next asked for): let it go. Those a
  // thread just opened on the new one stay.
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    for (auto& [name, e] : m_pools)
      if (e.pool && e.pool->cluster()->blocklisted()) e.pool.reset();
  }
  {
    std::vector<std::shared_ptr<core::Image>> seen;  // let go after the lock (closing is RADOS)
    std::lock_guard<std::mutex> l(m_images_mu);
    for (auto it = m_open.begin(); it != m_open.end();) {
      seen.push_back(it->second.lock());
      it = !seen.back() || seen.back()->blocklisted() ? m_open.erase(it) : std::next(it);
    }
  }
  spdlog::warn(
      "connected again as {} (client.{}); new opens go through it; read-only descriptions move to "
      "it, writable ones stay fenced",
      (*fresh)->client_name(), (*fresh)->instance_id());
  return *fresh;
}

std::shared_ptr<core::Image> Filesystem::image_of(Handle* h) {
  auto img = h->image();
  if (!img->blocklisted()) return img;
  auto hdr = img->header();
  if (h->writable) {
    // Fenced, as krbd and librbd fence the images a blocklisted client has
    // open: another client may own the image now, and this description's
    // writer may act on what it read before. A new open goes to the new
    // instance.
    if (!h->fenced.exchange(true))
      spdlog::error(
          "{}/{}: opened for writing before this client instance was blocklisted: the "
          "description fails with ESHUTDOWN until it is closed (another client may own the "
          "image now); open the file again to go on",
          hdr->pool, hdr->name);
    return nullptr;
  }
  auto cl = cluster();
  if (cl->blocklisted() || h->reopening.exchange(true)) return img;
  auto fresh = open_image(hdr->pool, hdr->name);
  if (fresh.ok() && (*fresh)->header()->id == hdr->id) {
    h->set_image(*fresh);
    img = *fresh;
    spdlog::info("{}/{}: open file moved to the new client instance", hdr->pool, hdr->name);
  } else {
    spdlog::warn("{}/{}: cannot open again on the new client instance: {}", hdr->pool, hdr->name,
                 fresh.ok() ? "it is another image now" : fresh.err().message());
  }
  h->reopening = false;
  return img;
}

}  // namespace rbdfs::ll
