// Operations, their generation from the seed, the watchdog, and the
// Exerciser that runs and checks them (methods in exerciser.cc).
#pragma once

#include "tools/exercise/common.h"
#include "tools/exercise/model.h"
#include "tools/exercise/target.h"
#include "tools/exercise/rbd_cli.h"

namespace rbdfs::exercise {

// ---------------------------------------------------------------------------
// Operations

enum class Kind {
  WRITE,
  READ,
  TRUNCATE,
  PUNCH,
  ZERO,
  ALLOCATE,
  SEEK,
  FSYNC,
  REOPEN,
  SNAP_CREATE,
  SNAP_READ,
  SNAP_REMOVE,
  DIRECT_WRITE,
  DIRECT_READ,
  BURST,
  COPY,
  COUNT
};
constexpr size_t KINDS = static_cast<size_t>(Kind::COUNT);
const std::array<const char*, KINDS> KIND_NAMES = {
    "write",        "read",        "truncate", "punch",       "zero",      "allocate",
    "seek",         "fsync",       "reopen",   "snap-create", "snap-read", "snap-remove",
    "direct-write", "direct-read", "burst",    "copy"};

struct Op {
  uint64_t n = 0;  // 1-based op number
  Kind kind = Kind::WRITE;
  uint64_t off = 0, len = 0;
  bool keep_size = false;    // zero, allocate; seek: SEEK_DATA (else SEEK_HOLE)
  bool trunc = false;        // reopen with O_TRUNC
  bool whole = false;        // snap-read: the whole snapshot
  size_t snap = 0;           // snap-read, snap-remove: index into the live snapshots
  std::string snap_name;     // filled when run
  uint64_t size_before = 0;  // the model's size before the op
  // burst: disjoint writes run at once, from threads; all through the
  // O_DIRECT descriptor (aligned) or all through the other one
  std::vector<std::pair<uint64_t, uint64_t>> parts;  // (off, len), by off
  bool direct = false;
  // copy (copy_file_range): from `src_off` of the image, or of snapshot
  // `snap` with `from_snap`, to `off`
  uint64_t src_off = 0;
  bool from_snap = false;

  std::string describe() const {
    std::string s = "#" + std::to_string(n) + " " + KIND_NAMES[static_cast<size_t>(kind)];
    auto range = [&] {
      return " off=" + std::to_string(off) + " len=" + std::to_string(len) + " [" + hex(off) +
             ", " + hex(off + len) + ")";
    };
    switch (kind) {
      case Kind::WRITE:
      case Kind::READ:
      case Kind::PUNCH:
      case Kind::DIRECT_WRITE:
      case Kind::DIRECT_READ:
        s += range();
        break;
      case Kind::ZERO:
      case Kind::ALLOCATE:
        s += range() + (keep_size ? " KEEP_SIZE" : "");
        break;
      case Kind::REOPEN:
        s += trunc ? " O_TRUNC" : "";
        break;
      case Kind::SEEK:
        s += std::string(keep_size ? " SEEK_DATA" : " SEEK_HOLE") + " off=" + num(off);
        break;
      case Kind::BURST:
        s += direct ? " O_DIRECT" : " cached";
        for (const auto& [o, l] : parts)
          s += " [" + std::to_string(o) + ", " + std::to_string(o + l) + ")";
        break;
      case Kind::TRUNCATE:
        s += " size=" + num(off);
        break;
      case Kind::COPY:
        s += " from " + (from_snap ? snap_name + " " : std::string()) +
             "off=" + std::to_string(src_off) + range();
        break;
      case Kind::SNAP_CREATE:
      case Kind::SNAP_REMOVE:
        s += " " + snap_name;
        break;
      case Kind::SNAP_READ:
        s += " " + snap_name + (whole ? " whole" : range());
        break;
      default:
        break;
    }
    return s + " (size before " + std::to_string(size_before) + ")";
  }
  bool writes_at(uint64_t o) const {
    if (kind == Kind::BURST)
      return std::any_of(parts.begin(), parts.end(),
                         [o](const auto& p) { return o >= p.first && o < p.first + p.second; });
    return (kind == Kind::WRITE || kind == Kind::DIRECT_WRITE || kind == Kind::COPY) && o >= off &&
           o < off + len;
  }
};

// Ends the process with a report when an operation (or a check) does not
// finish within the timeout: a hung mount or cluster must fail the run, not
// block it. It only watches; it never touches the run's state.
class Watchdog {
 public:
  explicit Watchdog(uint64_t secs) : m_secs(secs) {
    if (m_secs) m_thread = std::thread([this] { loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(m_mu);
      m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool enabled() const { return m_secs != 0; }
  // From now on, `report` is printed if the next arm() or disarm() does
  // not come within the timeout.
  void arm(std::string report) {
    {
      std::lock_guard<std::mutex> l(m_mu);
      m_report = std::move(report);
      m_armed = true;
      ++m_gen;
    }
    m_cv.notify_all();
  }
  void disarm() {
    {
      std::lock_guard<std::mutex> l(m_mu);
      m_armed = false;
      ++m_gen;
    }
    m_cv.notify_all();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(m_mu);
    while (!m_stop) {
      if (!m_armed) {
        m_cv.wait(l);
        continue;
      }
      const uint64_t gen = m_gen;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(m_secs);
      if (m_cv.wait_until(l, deadline, [&] { return m_stop || m_gen != gen; })) continue;
      std::fputs(m_report.c_str(), stderr);
      std::fflush(stderr);
      ::_exit(1);  // the main thread is stuck in a call that may never return
    }
  }

  const uint64_t m_secs;
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;   // GUARDED_BY(m_mu)
  bool m_armed = false;  // GUARDED_BY(m_mu)
  uint64_t m_gen = 0;    // GUARDED_BY(m_mu)
  std::string m_report;  // GUARDED_BY(m_mu)
  std::thread m_thread;
};

struct Options {
  uint64_t seed = 0;
  bool seed_given = false;
  uint64_t ops = 1000;
  uint64_t check_every = 50;
  std::string mount_path;  // empty: core
  ClusterConfig cluster;
  std::string pool, image;
  std::string model_dir;
  uint64_t max_len = 3 * MiB;
  uint64_t max_size = 24 * MiB;
  bool snaps = true;
  bool direct = true;
  bool from_image = false;  // the model starts as `rbd export` of the image (a clone)
  bool verbose = false;
  uint64_t op_timeout = 300;  // seconds; 0: none
  std::vector<std::string> argv;
};

class Exerciser {
 public:
  explicit Exerciser(const Options& o) : m_o(o), m_rng(o.seed), m_watchdog(o.op_timeout) {
    m_rbd.conf = o.cluster.conf;
    m_rbd.id = o.cluster.id;
  }

  int run();

 private:
  void load_model_from_image();
  std::string m_parent;  // --from-image: the clone's parent, as rbd info says
  struct Snap {
    std::string name;
    std::unique_ptr<Model> model;
  };

  // Random numbers: our own mapping from the engine, so that the sequence
  // does not depend on the standard library's distributions.
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = m_rng();
    while (x >= limit);
    return x % n;
  }
  uint64_t between(uint64_t lo, uint64_t hi) { return hi <= lo ? lo : lo + below(hi - lo + 1); }
  bool chance(unsigned pct) { return below(100) < pct; }

  uint64_t jitter(uint64_t base);
  uint64_t pick_point(uint64_t limit);
  uint64_t pick_len(uint64_t off, uint64_t room);
  Op generate(uint64_t n);
  void execute(Op& op);
  void check(bool final);
  void compare_snapshot(const Snap& s, bool with_rbd);
  void compare_read(const char* what, uint64_t off, uint64_t want_n, const char* want,
                    uint64_t got_n, const char* got, const std::string& got_name);
  void expect_size(const char* what, uint64_t got);
  void check_seek(const Op& op, int64_t r);
  std::string replay_command(uint64_t ops) const;
  void report(const Failure& f, uint64_t op, const std::string& op_text);
  std::string report_text(const Failure& f, uint64_t op, const std::string& op_text) const;
  // Before each op and check: what the watchdog prints if it hangs.
  void arm_watchdog(uint64_t op, const std::string& op_text);
  std::string pattern_hint(uint64_t off, uint8_t got) const;

  const Options& m_o;
  std::mt19937_64 m_rng;
  RbdCli m_rbd;
  std::string m_spec;  // POOL/IMAGE
  std::string m_dir;
  std::unique_ptr<Target> m_target;
  std::unique_ptr<Model> m_model;
  Layout m_layout;
  std::string m_features;     // from `rbd info`, e.g. ["layering","exclusive-lock"]
  bool m_object_map = false;  // checked with `rbd object-map check` at every check
  uint64_t m_start_size = 0;
  uint64_t m_max_size = 0;
  uint64_t m_seq_end = 0;  // where the last generated write ended
  std::deque<Op> m_history;
  std::deque<Snap> m_snaps;
  std::array<uint64_t, KINDS> m_counts{};
  std::array<double, KINDS> m_secs{};  // time spent per kind
  uint64_t m_checks = 0;
  double m_check_secs = 0;
  std::vector<char> m_buf_a, m_buf_b, m_buf_c;
  Watchdog m_watchdog;  // last: stopped first
};

}  // namespace rbdfs::exercise
