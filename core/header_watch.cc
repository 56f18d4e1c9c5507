#include "core/header_watch.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace rbdfs::core {

using librados::bufferlist;

namespace {
constexpr auto NOTIFY_GAP = std::chrono::milliseconds(100);
}

struct HeaderWatch::Shared : public librados::WatchCtx2 {
  std::shared_ptr<Cluster> cluster;  // threads handling notifies may outlive the image
  librados::IoCtx io;
  std::string oid;
  std::string what;
  uint64_t own_id = 0;
  Handlers handlers;
  std::atomic<uint64_t> handle{0};
  std::weak_ptr<Shared> self;

  // the notifier
  std::mutex mu;
  std::condition_variable cv;
  bool in_flight = false;  // GUARDED_BY(mu)
  bool again = false;      // GUARDED_BY(mu)
  bool closing = false;    // GUARDED_BY(mu): no more re-watching
  int rewatching = 0;      // GUARDED_BY(mu): re-watch threads under way
  librados::AioCompletion* completion = nullptr;
  bufferlist reply;
  Timer::Clock::time_point sent_at;  // of the notify in flight

  void handle_notify(uint64_t notify_id, uint64_t cookie, uint64_t notifier_id,
                     bufferlist& bl) override {
    if (notifier_id == own_id) {  // notify_ack does not wait for the OSD
      bufferlist empty;
      io.notify_ack(oid, notify_id, cookie, empty);
      return;
    }
    std::string payload = bl.to_str();
    if (auto answer = handlers.quick(notifier_id, payload)) {
      bufferlist r;
      r.append(*answer);
      io.notify_ack(oid, notify_id, cookie, r);
      return;
    }
    auto s = self.lock();
    if (!s) return;
    std::thread([s, notify_id, cookie, notifier_id, payload = std::move(payload)] {
      bufferlist r;
      r.append(s->handlers.slow(notifier_id, payload));
      s->io.notify_ack(s->oid, notify_id, cookie, r);
    }).detach();
  }

  void handle_error(uint64_t, int err) override {
    auto s = self.lock();
    if (!s) return;
    if (err == -ESHUTDOWN) {  // blocklisted: this instance is done
      cluster->note_blocklisted();
      return;
    }
    spdlog::warn("image {}: header watch lost ({}), re-watching", what,
                 Errno::from_rados(err).message());
    std::thread([s] {
      {
        std::unique_lock<std::mutex> l(s->mu);
        // one (re-)watch at a time (ensure_watched may be at it)
        s->cv.wait(l, [&] { return s->rewatching == 0 || s->closing; });
        if (s->closing) return;
        ++s->rewatching;  // the destructor waits for us (handlers included)
      }
      if (uint64_t old = s->handle.exchange(0)) s->io.unwatch2(old);
      uint64_t h = 0;
      int r = s->io.watch2(s->oid, &h, s.get());
      if (r == 0)
        s->handle = h;
      else if (r == -ESHUTDOWN)
        s->cluster->note_blocklisted();
      else
        spdlog::error("image {}: re-watching the header failed: {}", s->what,
                      Errno::from_rados(r).message());
      bool stopping;
      {
        std::lock_guard<std::mutex> l(s->mu);
        stopping = s->closing;
      }
      if (!stopping) {
        if (r == 0) s->handlers.rewatched(h);
        s->handlers.slow(0, "");  // anything may have changed while we did not watch
      }
      std::lock_guard<std::mutex> l(s->mu);
      --s->rewatching;
      s->cv.notify_all();
    }).detach();
  }

  void send() {
    sent_at = Timer::Clock::now();
    reply.clear();
    bufferlist empty;  // the legacy "header update" that librbd and krbd honour
    completion = librados::Rados::aio_create_completion(this, &Shared::sent);
    int r = io.aio_notify(oid, completion, empty, 5000, &reply);
    if (r < 0) {
      completion->release();
      finish();
    }
  }
  static void sent(librados::completion_t, void* arg) {
    auto* s = static_cast<Shared*>(arg);
    s->completion->release();
    s->finish();
  }
  void finish() {
    std::unique_lock<std::mutex> l(mu);
    if (again) {
      // More changes meanwhile (a file growing by every write): one
      // notify for all of them, NOTIFY_GAP after the last one began, so
      // watchers re-read the header a few times a second, not per write.
      again = false;
      l.unlock();
      auto me = self.lock();
      if (!me) {
        send();
        return;
      }
      cluster->timer().schedule(sent_at + NOTIFY_GAP, [me] { me->send(); });
      return;
    }
    in_flight = false;
    cv.notify_all();  // under mu: the owner may go right after
  }
};

HeaderWatch::HeaderWatch(std::shared_ptr<Cluster> cluster, librados::IoCtx& md, std::string oid,
                         std::string what, Handlers handlers)
    : m_cluster(std::move(cluster)), m_shared(std::make_shared<Shared>()) {
  m_shared->cluster = m_cluster;
  m_shared->io.dup(md);
  m_shared->oid = std::move(oid);
  m_shared->what = std::move(what);
  m_shared->own_id = m_cluster->instance_id();
  m_shared->handlers = std::move(handlers);
  m_shared->self = m_shared;
}

HeaderWatch::~HeaderWatch() {
  {
    std::unique_lock<std::mutex> l(m_shared->mu);
    m_shared->closing = true;
    m_shared->cv.wait(l, [this] { return !m_shared->in_flight && m_shared->rewatching == 0; });
  }
  if (uint64_t h = m_shared->handle.exchange(0)) {
    m_shared->io.unwatch2(h);
    rados(*m_cluster).watch_flush();
  }
}

Status HeaderWatch::watch() {
  uint64_t h = 0;
  int r = m_shared->io.watch2(m_shared->oid, &h, m_shared.get());
  if (r < 0) return Errno::from_rados(r);
  m_shared->handle = h;
  return {};
}

uint64_t HeaderWatch::handle() const { return m_shared->handle.load(); }

Status HeaderWatch::ensure_watched() {
  {
    std::unique_lock<std::mutex> l(m_shared->mu);
    m_shared->cv.wait(l, [this] { return m_shared->rewatching == 0 || m_shared->closing; });
    if (m_shared->closing) return Errno(ESHUTDOWN);
    if (m_shared->handle.load() != 0) return {};
    ++m_shared->rewatching;  // as a re-watch: one at a time
  }
  uint64_t h = 0;
  int r = m_shared->io.watch2(m_shared->oid, &h, m_shared.get());
  std::lock_guard<std::mutex> l(m_shared->mu);
  if (r == 0) m_shared->handle = h;
  --m_shared->rewatching;
  m_shared->cv.notify_all();
  return r < 0 ? Status(Errno::from_rados(r)) : Status();
}

Status HeaderWatch::notify(const std::string& payload, std::string* reply) {
  bufferlist in, out;
  in.append(payload);
  int r = m_shared->io.notify2(m_shared->oid, in, 5000, &out);
  if (reply) *reply = out.to_str();
  if (r < 0) return Errno::from_rados(r);
  return {};
}

void HeaderWatch::post_update() {
  {
    std::lock_guard<std::mutex> l(m_shared->mu);
    if (m_shared->in_flight) {
      m_shared->again = true;
      return;
    }
    m_shared->in_flight = true;
  }
  m_shared->send();
}

}  // namespace rbdfs::core
