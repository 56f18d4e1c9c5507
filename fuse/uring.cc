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
constexpr uint64_t STOP_TAG = ~0ull;
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

class Ring final : public FuseRing {
 public:
  Ring(fuse_session* se, unsigned want, unsigned queues)
      : m_se(se), m_want(want), m_queues(queues), m_ops(std::make_unique<WorkQueue>(OP_THREADS)) {}

  ~Ring() override {
    stop();
    if (m_have_ring) io_uring_queue_exit(&m_ring);
    for (auto& e : m_entries) munmap(e.mem, LEAD + m_payload);
    g_ring = nullptr;
  }

  bool init(std::string* why) {
    // One ring for every queue: one submission per possible entry, and
    // room for all their completions.
    const unsigned most = m_want * m_queues;
    io_uring_params p{};
    p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    p.cq_entries = 2 * most + 8;
    int r = io_uring_queue_init_params(most + 8, &m_ring, &p);
    if (r < 0) {
      *why = std::string("io_uring_setup: ") + strerror(-r);
      return false;
    }
    m_have_ring = true;
    return true;
  }

  void stop() override {
    m_stopped.store(true);
    if (m_thread.joinable()) {
      {
        std::lock_guard<std::mutex> l(m_sq_mu);
        io_uring_sqe* sqe = next_sqe();
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, STOP_TAG);
        io_uring_submit(&m_ring);
      }
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
    return g_ring->writev(fd, iov, count);
  }

 private:
  struct Entry {
    char* mem = nullptr;  // [header buffer ... | payload], LEAD + payload bytes
    ReqHeader* hdr = nullptr;
    char* payload = nullptr;
    uint16_t qid = 0;
    iovec reg[2]{};      // read by the kernel while REGISTER is issued
    bool again = false;  // registered anew (below): a second failure ends it
  };

  ssize_t writev(int fd, iovec* iov, int count);
  ssize_t send_init(int fd, iovec* iov, int count);
  bool make_entries();
  void register_entries();
  void run();
  void deliver(Entry* e);
  io_uring_sqe* next_sqe();  // m_sq_mu held
  void prep(io_uring_sqe* sqe, Entry* e, uint32_t cmd, uint64_t commit_id);

  fuse_session* const m_se;
  const unsigned m_want, m_queues;
  unsigned m_per_queue = 0;
  size_t m_payload = 0;
  io_uring m_ring{};
  bool m_have_ring = false;
  std::vector<Entry> m_entries;  // fixed once the INIT reply is out
  std::atomic<bool> m_init_seen{false};
  std::atomic<bool> m_stopped{false};
  std::thread m_thread;
  std::mutex m_sq_mu;  // the submission queue (prep + submit; never RADOS or libfuse)
  std::mutex m_map_mu;
  std::unordered_map<uint64_t, Entry*> m_in_use;  // GUARDED_BY(m_map_mu): unique -> entry
  std::unique_ptr<WorkQueue> m_ops;
};

// A reply: into its entry and committed (which also fetches the entry's
// next request), or to /dev/fuse when the request did not come by the ring.
ssize_t Ring::writev(int fd, iovec* iov, int count) {
  if (!m_init_seen.exchange(true)) return send_init(fd, iov, count);
  const auto* oh = static_cast<const OutHeader*>(iov[0].iov_base);
  Entry* e = nullptr;
  if (oh->unique != 0) {  // 0: a notification, always by /dev/fuse
    std::lock_guard<std::mutex> l(m_map_mu);
    auto it = m_in_use.find(oh->unique);
    if (it != m_in_use.end()) {
      e = it->second;
      m_in_use.erase(it);
    }
  }
  if (!e) return ::writev(fd, iov, count);
  size_t total = iov[0].iov_len, n = 0;
  for (int i = 1; i < count; ++i) total += iov[i].iov_len;
  // After the unmount the kernel has failed the request already.
  if (m_stopped.load()) return static_cast<ssize_t>(total);
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
  const uint64_t commit = e->hdr->ent.commit_id;
  std::lock_guard<std::mutex> l(m_sq_mu);
  prep(next_sqe(), e, uring::CMD_COMMIT_AND_FETCH, commit);
  int r = io_uring_submit(&m_ring);
  if (r < 0) {
    spdlog::error("FUSE over io_uring: committing a reply: {}", strerror(-r));
    errno = -r;
    return -1;
  }
  return static_cast<ssize_t>(total);
}

// The INIT reply, the session's first: it goes out offering the ring, then
// every queue gets its entries (the kernel holds new requests back until
// each queue has one). Without entries it goes out unchanged.
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
  register_entries();
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

void Ring::register_entries() {
  std::lock_guard<std::mutex> l(m_sq_mu);
  for (auto& e : m_entries) prep(next_sqe(), &e, uring::CMD_REGISTER, 0);
  int r = io_uring_submit(&m_ring);
  if (r < 0) {
    // Nothing registered: the kernel would hold every request back.
    // A registration it refuses turns the ring off for the connection, so
    // make it refuse one.
    spdlog::error("FUSE over io_uring: registering entries: {}", strerror(-r));
    Entry& bad = m_entries[0];  // none is in use: the ring never ran
    bad.reg[1].iov_len = 0;
    bad.again = true;
    prep(next_sqe(), &bad, uring::CMD_REGISTER, 0);
    io_uring_submit(&m_ring);
    return;
  }
  auto& f = ring_figures();
  f.queues.store(m_queues);
  f.entries.store(m_per_queue);
  f.active.store(true);
  spdlog::info("FUSE over io_uring: {} queue(s) of {} entries, {} KiB each", m_queues, m_per_queue,
               m_payload >> 10);
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

// The ring thread: reaps what the kernel delivers, until stop().
void Ring::run() {
  pthread_setname_np(pthread_self(), "rbdfs-ring");
  bool warned = false;
  for (;;) {
    io_uring_cqe* cqe;
    int r = io_uring_wait_cqe(&m_ring, &cqe);
    if (r == -EINTR) continue;
    if (r < 0) {
      spdlog::error("FUSE over io_uring: waiting for requests: {}", strerror(-r));
      return;
    }
    unsigned head, seen = 0;
    bool stop = false;
    io_uring_for_each_cqe(&m_ring, head, cqe) {
      ++seen;
      if (cqe->user_data == STOP_TAG) {
        stop = true;
      } else if (cqe->res == 0) {
        auto* e = reinterpret_cast<Entry*>(cqe->user_data);
        e->again = false;
        deliver(e);
      } else if (cqe->res == -ENOTCONN || cqe->res == -ECANCELED) {
        // The unmount - or, by the kernel's code (fuse_uring_cancel), the
        // thread that committed the entry's last reply has exited (say a
        // librados instance replaced after a blocklisting): the entry is
        // cancelled while the connection lives on. Registered anew from
        // this thread; if that fails too, it was the unmount. (Not seen
        // in the tests: user.rbdfs.fuse counts it as registered_again.)
        auto* e = reinterpret_cast<Entry*>(cqe->user_data);
        if (!e->again && !m_stopped.load()) {
          e->again = true;
          ring_figures().registered_again.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> l(m_sq_mu);
          prep(next_sqe(), e, uring::CMD_REGISTER, 0);
          io_uring_submit(&m_ring);
        }
      } else if (!warned) {
        // the kernel refused the ring: requests come by /dev/fuse
        spdlog::warn(
            "FUSE over io_uring: the kernel failed a ring entry ({}); requests go by "
            "/dev/fuse",
            strerror(-cqe->res));
        ring_figures().active.store(false);
        warned = true;
      }
    }
    io_uring_cq_advance(&m_ring, seen);
    if (stop) return;
  }
}

void Ring::deliver(Entry* e) {
  InHeader in;
  std::memcpy(&in, e->hdr->in_out, sizeof in);
  size_t op_len;
  if (!uring::request_layout(in, e->hdr->ent.payload_sz, &op_len)) {
    // never answered: the kernel ends it at the unmount
    spdlog::error("FUSE over io_uring: request {} (opcode {}) of impossible length {}", in.unique,
                  in.opcode, in.len);
    return;
  }
  char* start = e->payload - op_len - sizeof in;
  std::memcpy(start, &in, sizeof in);
  std::memcpy(start + sizeof in, e->hdr->op_in, op_len);
  {
    std::lock_guard<std::mutex> l(m_map_mu);
    m_in_use[in.unique] = e;
  }
  ring_figures().requests.fetch_add(1, std::memory_order_relaxed);
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
