#include "fuse/uring.h"

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312  // as fuse/filesystem.h
#endif
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <liburing.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fuse/uring_protocol.h"
#include "fuse/work_queue.h"

namespace rbdfs::ll {
namespace {

using uring::InHeader;
using uring::OutHeader;
using uring::ReqHeader;

// The payload buffers of all entries together, at most (they are touched,
// and so resident, only as far as requests fill them): 16 entries of 1 MiB
// on each of 2 CPUs take half.
constexpr size_t PAYLOAD_BUDGET = 64u << 20;
// Room before each payload for the request's header and opcode header
// (libfuse takes header, opcode header and data in one piece); the entry's
// own 288-byte header buffer starts this page.
constexpr size_t LEAD = 4096;
// Threads for requests that may wait on RADOS (lookups, opens, fsync, ...):
// the ring thread itself only starts reads and writes.
constexpr unsigned OP_THREADS = 8;

std::string read_sys(const char* path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class Ring;
Ring* g_ring = nullptr;  // libfuse 3.14 hands custom I/O the session's userdata, not ours

// user_data of the ring's own submissions (entries are tagged by address)
constexpr uint64_t WAKE_TAG = 1;

class Ring final : public FuseRing {
 public:
  Ring(fuse_session* se, unsigned want, unsigned queues)
      : m_se(se), m_want(want), m_queues(queues), m_ops(std::make_unique<WorkQueue>(OP_THREADS)) {}

  ~Ring() override {
    stop();
    if (m_have_ring) io_uring_queue_exit(&m_ring);
    if (m_wake_fd >= 0) close(m_wake_fd);
    for (auto& e : m_entries) munmap(e.mem, LEAD + m_payload);
    g_ring = nullptr;
  }

  bool init(std::string* why) {
    m_wake_fd = eventfd(0, EFD_CLOEXEC);
    if (m_wake_fd < 0) {
      *why = std::string("eventfd: ") + strerror(errno);
      return false;
    }
    // One ring for every queue: a submission per entry at most (each has
    // one command at a time) and the wake-up read, room for all their
    // completions.
    const unsigned most = m_want * m_queues + 8;
    io_uring_params p{};
    p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    p.cq_entries = 2 * most;
    int r = io_uring_queue_init_params(most, &m_ring, &p);
    if (r < 0) {
      *why = std::string("io_uring_setup: ") + strerror(-r);
      return false;
    }
    m_have_ring = true;
    return true;
  }

  void stop() override {
    if (m_thread.joinable()) {
      m_stop.store(true);
      wake();
      m_thread.join();
    }
    m_ops.reset();  // drains (what it runs points into the entries)
    ring_figures().active.store(false);
  }

  // Bytes of the entries' buffers in memory now (mincore).
  uint64_t resident() const {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t pages = (LEAD + m_payload + page - 1) / page;
    std::vector<unsigned char> vec(pages);
    uint64_t n = 0;
    for (const auto& e : m_entries) {
      if (mincore(e.mem, LEAD + m_payload, vec.data()) != 0) continue;
      for (unsigned char v : vec) n += (v & 1) ? page : 0;
    }
    return n;
  }

  // libfuse's custom I/O
  static ssize_t io_read(int fd, void* buf, size_t len, void*) { return ::read(fd, buf, len); }
  static ssize_t io_splice(int fdin, off_t* offin, int fdout, off_t* offout, size_t len,
                           unsigned flags, void*) {
    return ::splice(fdin, offin, fdout, offout, len, flags);
  }
  static ssize_t io_writev(int fd, iovec* iov, int count, void*) {
    Ring* r = g_ring;
    return r ? r->writev(fd, iov, count) : ::writev(fd, iov, count);
  }

 private:
  struct Entry {
    char* mem = nullptr;  // [header buffer ... | payload], LEAD + payload bytes
    ReqHeader* hdr = nullptr;
    char* payload = nullptr;
    uint16_t qid = 0;
    iovec reg[2]{};  // read by the kernel while REGISTER is issued
  };

  ssize_t writev(int fd, iovec* iov, int count);
  ssize_t send_init(int fd, iovec* iov, int count);
  bool make_entries();
  void run();
  bool register_entries();
  void arm_wake();
  void wake();
  void handle(io_uring_cqe* cqe);
  void deliver(Entry* e);
  void queue_commit(Entry* e);
  io_uring_sqe* next_sqe();
  void prep(io_uring_sqe* sqe, Entry* e, uint32_t cmd, uint64_t commit_id);

  fuse_session* const m_se;
  const unsigned m_want, m_queues;
  unsigned m_per_queue = 0;
  size_t m_payload = 0;
  // The ring: its submission and completion queues are the ring thread's
  // alone (every command is that thread's, so deliveries run as its task
  // work, and no other thread's exit or sleep can hold one up).
  io_uring m_ring{};
  bool m_have_ring = false;
  int m_wake_fd = -1;
  uint64_t m_wake_buf = 0;
  std::vector<Entry> m_entries;  // fixed once the INIT reply is out
  std::atomic<bool> m_init_seen{false};
  std::atomic<bool> m_stop{false};  // stop() asked
  std::atomic<bool> m_gone{false};  // the ring thread has ended: replies are dropped
  std::atomic<bool> m_sleeping{false};
  std::thread m_thread;
  std::mutex m_mu;
  std::unordered_map<uint64_t, Entry*> m_in_use;  // GUARDED_BY(m_mu): unique -> entry
  std::vector<Entry*> m_replied;                  // GUARDED_BY(m_mu): to commit
  std::unique_ptr<WorkQueue> m_ops;
};

// A reply: copied into its entry, which the ring thread then commits (that
// also fetches the entry's next request); to /dev/fuse when the request
// did not come by the ring.
ssize_t Ring::writev(int fd, iovec* iov, int count) {
  if (!m_init_seen.exchange(true)) return send_init(fd, iov, count);
  const auto* oh = static_cast<const OutHeader*>(iov[0].iov_base);
  Entry* e = nullptr;
  if (oh->unique != 0) {  // 0: a notification, always by /dev/fuse
    std::lock_guard<std::mutex> l(m_mu);
    auto it = m_in_use.find(oh->unique);
    if (it != m_in_use.end()) {
      e = it->second;
      m_in_use.erase(it);
    }
  }
  if (!e) return ::writev(fd, iov, count);
  size_t total = iov[0].iov_len, n = 0;
  for (int i = 1; i < count; ++i) total += iov[i].iov_len;
  // The ring thread has ended (stop(): the loop is over, the unmount has
  // failed the request or the session's end will).
  if (m_gone.load()) return static_cast<ssize_t>(total);
  OutHeader out = *oh;
  if (out.error == 0 && total - iov[0].iov_len > m_payload) {
    // cannot be: replies are at most max_write or a read's size (the
    // request fails rather than its entry being lost)
    spdlog::error("FUSE over io_uring: a reply of {} bytes exceeds the {} of an entry",
                  total - iov[0].iov_len, m_payload);
    out.error = -EIO;
  }
  std::memcpy(e->hdr->in_out, &out, sizeof out);
  for (int i = 1; out.error == 0 && i < count; ++i) {
    std::memcpy(e->payload + n, iov[i].iov_base, iov[i].iov_len);
    n += iov[i].iov_len;
  }
  e->hdr->ent.payload_sz = static_cast<uint32_t>(n);
  queue_commit(e);
  return static_cast<ssize_t>(total);
}

void Ring::queue_commit(Entry* e) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_replied.push_back(e);
  }
  // The ring thread rechecks m_replied after saying it sleeps: either it
  // sees this entry or this sees it sleeping.
  if (m_sleeping.exchange(false)) wake();
}

void Ring::wake() {
  const uint64_t one = 1;
  (void)!::write(m_wake_fd, &one, sizeof one);
}

// The INIT reply, the session's first: it goes out offering the ring, then
// the ring thread gives every queue its entries (the kernel holds new
// requests back until each queue has one). Without entries it goes out
// unchanged.
ssize_t Ring::send_init(int fd, iovec* iov, int count) {
  const auto* oh = static_cast<const OutHeader*>(iov[0].iov_base);
  std::vector<char> out;
  if (oh->error == 0 && count == 2)
    out.assign(static_cast<char*>(iov[1].iov_base),
               static_cast<char*>(iov[1].iov_base) + iov[1].iov_len);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (out.empty() || !uring::offer_ring(&out, page, &m_payload)) {
    spdlog::warn("FUSE over io_uring: INIT reply of an unknown shape; requests stay on /dev/fuse");
    return ::writev(fd, iov, count);
  }
  m_per_queue = uring::entries_per_queue(m_want, m_queues, m_payload, PAYLOAD_BUDGET);
  if (!make_entries()) {
    spdlog::warn("FUSE over io_uring: no memory for {} ring entries; requests stay on /dev/fuse",
                 m_per_queue * m_queues);
    return ::writev(fd, iov, count);
  }
  iovec v[2] = {iov[0], {out.data(), out.size()}};
  ssize_t r = ::writev(fd, v, 2);
  if (r < 0) return r;
  m_thread = std::thread([this] { run(); });
  return r;
}

bool Ring::make_entries() {
  m_entries.resize(size_t{m_per_queue} * m_queues);
  for (size_t i = 0; i < m_entries.size(); ++i) {
    void* m =
        mmap(nullptr, LEAD + m_payload, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      for (size_t j = 0; j < i; ++j) munmap(m_entries[j].mem, LEAD + m_payload);
      m_entries.clear();
      return false;
    }
    Entry& e = m_entries[i];
    e.mem = static_cast<char*>(m);
    e.hdr = reinterpret_cast<ReqHeader*>(e.mem);
    e.payload = e.mem + LEAD;
    e.qid = static_cast<uint16_t>(i / m_per_queue);
    e.reg[0] = {e.hdr, sizeof(ReqHeader)};
    e.reg[1] = {e.payload, m_payload};
  }
  return true;
}

bool Ring::register_entries() {
  for (auto& e : m_entries) prep(next_sqe(), &e, uring::CMD_REGISTER, 0);
  arm_wake();
  int r = io_uring_submit(&m_ring);
  if (r >= 0) {
    auto& f = ring_figures();
    f.queues.store(m_queues);
    f.entries.store(m_per_queue);
    spdlog::info("FUSE over io_uring: {} queue(s) of {} entries, {} KiB each", m_queues,
                 m_per_queue, m_payload >> 10);
    return true;
  }
  // Nothing registered: the kernel would hold every request back. A
  // registration it refuses turns the ring off for the connection (and
  // requests come by /dev/fuse): make it refuse one.
  spdlog::error("FUSE over io_uring: registering entries: {}; requests go by /dev/fuse",
                strerror(-r));
  io_uring_sqe* sqe = next_sqe();
  prep(sqe, &m_entries[0], uring::CMD_REGISTER, 0);
  sqe->len = 1;  // not the 2 iovecs asked for: EINVAL
  io_uring_submit(&m_ring);
  return false;
}

void Ring::arm_wake() {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_read(sqe, m_wake_fd, &m_wake_buf, sizeof m_wake_buf, 0);
  io_uring_sqe_set_data64(sqe, WAKE_TAG);
}

io_uring_sqe* Ring::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&m_ring);
  while (!sqe) {  // full: hand what is there to the kernel first
    io_uring_submit(&m_ring);
    sqe = io_uring_get_sqe(&m_ring);
  }
  return sqe;
}

void Ring::prep(io_uring_sqe* sqe, Entry* e, uint32_t cmd, uint64_t commit_id) {
  std::memset(sqe, 0, 128);  // an SQE128 slot
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fuse_session_fd(m_se);
  sqe->cmd_op = cmd;
  if (cmd == uring::CMD_REGISTER) {
    sqe->addr = reinterpret_cast<uint64_t>(e->reg);
    sqe->len = 2;
  }
  uring::CmdReq req{};
  req.commit_id = commit_id;
  req.qid = e->qid;
  std::memcpy(sqe->cmd, &req, sizeof req);
  io_uring_sqe_set_data(sqe, e);
}

// The ring thread: registers the entries, then commits what was replied
// and hands on what the kernel delivers, until stop().
void Ring::run() {
  pthread_setname_np(pthread_self(), "rbdfs-ring");
  if (!register_entries()) {
    m_gone.store(true);
    return;
  }
  std::vector<Entry*> replied;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(m_mu);
      replied.swap(m_replied);
    }
    for (Entry* e : replied)
      prep(next_sqe(), e, uring::CMD_COMMIT_AND_FETCH, e->hdr->ent.commit_id);
    const bool stopping = m_stop.load();
    int r;
    if (!replied.empty() || stopping) {
      r = io_uring_submit(&m_ring);  // then straight to what has completed
    } else {
      m_sleeping.store(true);
      bool more;
      {
        std::lock_guard<std::mutex> l(m_mu);
        more = !m_replied.empty();
      }
      r = more ? 0 : io_uring_submit_and_wait(&m_ring, 1);
      m_sleeping.store(false);
    }
    replied.clear();
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      spdlog::error("FUSE over io_uring: submitting to the ring: {}", strerror(-r));
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&m_ring, head, cqe) {
      ++seen;
      handle(cqe);
    }
    io_uring_cq_advance(&m_ring, seen);
    if (stopping) break;
  }
  m_gone.store(true);
}

void Ring::handle(io_uring_cqe* cqe) {
  if (cqe->user_data == WAKE_TAG) {
    if (!m_stop.load()) arm_wake();
    return;
  }
  auto* e = reinterpret_cast<Entry*>(cqe->user_data);
  if (cqe->res == 0) {
    deliver(e);
    return;
  }
  auto& f = ring_figures();
  if (cqe->res == -ENOTCONN || cqe->res == -ECANCELED) return;  // the unmount
  if (f.requests.load() == 0) {
    // a registration refused: the kernel goes by /dev/fuse
    if (f.lost.fetch_add(1) == 0)
      spdlog::warn("FUSE over io_uring: the kernel refused the ring ({}); requests go by /dev/fuse",
                   strerror(-cqe->res));
    return;
  }
  // a commit refused: that entry is gone (its request got the error)
  f.lost.fetch_add(1);
  spdlog::error("FUSE over io_uring: the kernel refused a reply ({}); {} entries lost so far",
                strerror(-cqe->res), f.lost.load());
}

void Ring::deliver(Entry* e) {
  InHeader in;
  std::memcpy(&in, e->hdr->in_out, sizeof in);
  auto& f = ring_figures();
  if (f.requests.fetch_add(1, std::memory_order_relaxed) == 0) f.active.store(true);
  size_t op_len;
  if (!uring::request_layout(in, e->hdr->ent.payload_sz, &op_len)) {
    spdlog::error("FUSE over io_uring: request {} (opcode {}) of impossible length {}: EIO",
                  in.unique, in.opcode, in.len);
    OutHeader out{sizeof(OutHeader), -EIO, in.unique};
    std::memcpy(e->hdr->in_out, &out, sizeof out);
    e->hdr->ent.payload_sz = 0;
    queue_commit(e);
    return;
  }
  char* start = e->payload - op_len - sizeof in;
  std::memcpy(start, &in, sizeof in);
  std::memcpy(start + sizeof in, e->hdr->op_in, op_len);
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_in_use[in.unique] = e;
  }
  fuse_buf buf{};
  buf.mem = start;
  buf.size = in.len;
  if (in.opcode == uring::OPCODE_READ || in.opcode == uring::OPCODE_WRITE) {
    fuse_session_process_buf(m_se, &buf);  // starts RADOS I/O, replies later
  } else {
    m_ops->post([this, buf] { fuse_session_process_buf(m_se, &buf); });
  }
}

}  // namespace

uint64_t ring_resident_bytes() {
  const Ring* r = g_ring;
  return r ? r->resident() : 0;
}

RingFigures& ring_figures() {
  static RingFigures f;
  return f;
}

std::unique_ptr<FuseRing> FuseRing::install(fuse_session* se, unsigned entries_per_queue) {
  if (read_sys("/sys/module/fuse/parameters/enable_uring").rfind('Y', 0) != 0) {
    spdlog::warn(
        "--io-uring: this kernel's FUSE over io_uring is off or missing (Linux 6.14+ with "
        "/sys/module/fuse/parameters/enable_uring set to Y); requests go by /dev/fuse");
    return nullptr;
  }
  const unsigned queues = uring::queues_from_cpu_list(read_sys("/sys/devices/system/cpu/possible"));
  if (queues == 0) {
    spdlog::warn("--io-uring: cannot read this machine's possible CPUs; requests go by /dev/fuse");
    return nullptr;
  }
  auto ring = std::make_unique<Ring>(se, entries_per_queue, queues);
  std::string why;
  if (!ring->init(&why)) {
    spdlog::warn("--io-uring: {}; requests go by /dev/fuse", why);
    return nullptr;
  }
  fuse_custom_io io{};
  io.writev = &Ring::io_writev;
  io.read = &Ring::io_read;
  io.splice_receive = &Ring::io_splice;
  g_ring = ring.get();
  int r = fuse_session_custom_io(se, &io, fuse_session_fd(se));
  if (r != 0) {
    g_ring = nullptr;
    spdlog::warn("--io-uring: libfuse refused a custom transport ({}); requests go by /dev/fuse",
                 strerror(-r));
    return nullptr;
  }
  return ring;
}

}  // namespace rbdfs::ll
