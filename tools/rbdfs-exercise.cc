// rbdfs-exercise: a seeded random exerciser. It applies the same random
// operations to an RBD image (through a mounted rbdfs or through core) and to
// a local model (a sparse file), and compares them: every read at once, and
// every --check-every operations the whole image against the model, against
// a full read through the target and against `rbd export` (the oracle).
//
//   rbdfs-exercise --seed N --image POOL/IMAGE [--ops N] [--check-every N]
//                  [--target core | --target mount:/MNT/POOL/IMAGE]
//                  [-c CONF] [--id ID] [--model-dir DIR]
//                  [--max-len BYTES] [--max-size BYTES] [--no-snaps] [--no-direct]
//                  [--op-timeout S] [-v]
//
//   --seed N         the run: the same seed (and image layout and starting
//                    size) gives the same operations every time
//   --image P/I      the image; it exists, holds zeros (e.g. fresh from
//                    `rbd create`) and may not be bigger than --max-size
//   --ops N          operations to run (default 1000); a prefix of a longer
//                    run is the same operations, so --ops minimises
//   --check-every N  full comparison every N operations (default 50; 0: only
//                    at the end)
//   --target core    Image::read/write/discard/resize/flush/snap_* (default)
//   --target mount:PATH  the image's file on a mounted rbdfs, PATH =
//                    MNT/POOL/IMAGE; snapshots are MNT/POOL/.snap/IMAGE/NAME
//   -c CONF, --id ID the cluster, for core and for the rbd commands (-c also
//                    sets CEPH_CONF)
//   --model-dir DIR  where the model files go (default $TMPDIR, then /tmp);
//                    removed on success, kept on failure
//   --max-len B      longest write/read/punch (default 3M)
//   --max-size B     no operation reaches past this (default 24M)
//   --no-snaps       no snapshot operations
//   --no-direct      no O_DIRECT second descriptor (mount) / aligned writer
//   --op-timeout S   an operation or check that takes longer than S seconds
//                    is reported as a hang and ends the run (default 300, 0:
//                    none)
//   -v               print every operation on stderr
//
// Operations, by weighted random choice from std::mt19937_64(seed): write,
// read, truncate (down or up), punch hole (PUNCH_HOLE|KEEP_SIZE), zero range
// (ZERO_RANGE with or without KEEP_SIZE), allocate (fallocate mode 0, with
// or without KEEP_SIZE: may only grow), fsync, close+reopen (sometimes with
// O_TRUNC), lseek SEEK_DATA/SEEK_HOLE (mount only: a hole must read as
// zeros), snapshot create (at most 3 live: the oldest is removed first;
// names are reused), snapshot read (a range or all of it, against the model
// saved when it was taken), snapshot remove, and 4096-aligned writes and
// reads through a second, O_DIRECT, descriptor (core: plain writes and
// reads), and bursts of 2-6 disjoint writes at once from threads (all
// O_DIRECT or all through the first descriptor; core: Image::write and
// grow_to from several threads). Through core, writes and fallocate that extend call grow_to first,
// as the filesystem does. Offsets are aimed at stripe-unit, object and
// object-set edges and at the current end; writes may extend the image.
// Sizes are compared after every op that may change them. Byte o written by
// op n holds (o % 251 + n) mod 256, so a wrong byte tells which op (mod 256)
// wrote it. Snapshots take about a second each (a new osdmap).
//
// Exit status: 0 and one summary line when everything matched; 1 with a
// report on stderr (seed, op, first differing offset and bytes, the last 20
// ops, the command that replays it) on a mismatch or an unexpected error;
// 2 on bad usage.
#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/cluster.h"
#include "core/pool.h"

using rbdfs::core::Cluster;
using rbdfs::core::ClusterConfig;
using rbdfs::core::Image;
using rbdfs::core::Layout;
using rbdfs::core::Pool;
using rbdfs::core::Status;

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;
constexpr uint64_t DIO_ALIGN = 4096;
constexpr uint64_t CHUNK = 1 * MiB;  // comparisons go chunk by chunk
constexpr size_t HISTORY = 20;
constexpr size_t MAX_SNAPS = 3;   // live snapshots at most
constexpr uint64_t SNAP_NAMES = 5;  // ex0 .. ex4, reused

// A mismatch or an unexpected error: what happened, and details (lines).
struct Failure {
  std::string what;
  std::string detail;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "rbdfs-exercise: %s (see the header of tools/rbdfs-exercise.cc)\n",
               why.c_str());
  std::exit(2);
}

std::string errno_text(int e) {
  const char* name = strerrorname_np(e);
  return std::string(std::strerror(e)) + " (" + (name ? name : std::to_string(e)) + ")";
}

[[noreturn]] void sys_fail(const std::string& call, int e) {
  throw Failure{call + ": " + errno_text(e), ""};
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string num(uint64_t v) { return std::to_string(v) + " (" + hex(v) + ")"; }

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno) return false;
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k')
    mul = KiB, ++end;
  else if (*end == 'M')
    mul = MiB, ++end;
  else if (*end == 'G')
    mul = 1024 * MiB, ++end;
  if (*end) return false;
  *out = v * mul;
  return true;
}

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./_-", c);
  });
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The byte op `op` writes at image offset `off`.
uint8_t pattern(uint64_t off, uint64_t op) { return static_cast<uint8_t>(off % 251 + op); }

void fill_pattern(char* buf, uint64_t off, uint64_t len, uint64_t op) {
  for (uint64_t i = 0; i < len; ++i) buf[i] = static_cast<char>(pattern(off + i, op));
}

// ---------------------------------------------------------------------------
// Error-checked I/O on file descriptors.

void pwrite_full(int fd, const char* buf, uint64_t len, uint64_t off, const std::string& what) {
  uint64_t done = 0;
  while (done < len) {
    ssize_t r = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      sys_fail("pwrite(" + what + ", off " + std::to_string(off + done) + ", len " +
                   std::to_string(len - done) + ")",
               errno);
    }
    if (r == 0) throw Failure{"pwrite(" + what + ") wrote nothing at " + num(off + done), ""};
    done += static_cast<uint64_t>(r);
  }
}

// Reads until `len` bytes or the end of the file; returns the bytes read.
// With `one_short` (O_DIRECT), a short read is taken as the end.
uint64_t pread_full(int fd, char* buf, uint64_t len, uint64_t off, const std::string& what,
                    bool one_short = false) {
  uint64_t done = 0;
  while (done < len) {
    const uint64_t want = len - done;
    ssize_t r = ::pread(fd, buf + done, want, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      sys_fail("pread(" + what + ", off " + std::to_string(off + done) + ", len " +
                   std::to_string(want) + ")",
               errno);
    }
    if (r == 0) break;
    done += static_cast<uint64_t>(r);
    if (one_short && static_cast<uint64_t>(r) < want) break;
  }
  return done;
}

uint64_t fd_size(int fd, const std::string& what) {
  struct stat st{};
  if (::fstat(fd, &st) < 0) sys_fail("fstat(" + what + ")", errno);
  return static_cast<uint64_t>(st.st_size);
}

// A buffer aligned for O_DIRECT.
struct AlignedBuf {
  explicit AlignedBuf(uint64_t n) {
    void* p = nullptr;
    int r = ::posix_memalign(&p, DIO_ALIGN, std::max<uint64_t>(n, DIO_ALIGN));
    if (r != 0) sys_fail("posix_memalign", r);
    data = static_cast<char*>(p);
  }
  ~AlignedBuf() { std::free(data); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  char* data = nullptr;
};

// ---------------------------------------------------------------------------
// Comparing

size_t first_diff(const char* a, const char* b, size_t n) {
  if (std::memcmp(a, b, n) == 0) return n;
  size_t i = 0;
  while (a[i] == b[i]) ++i;
  return i;
}

std::string hex_bytes(const char* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(static_cast<uint8_t>(p[i])));
    if (i) s += ' ';
    s += b;
  }
  return s;
}

// ---------------------------------------------------------------------------
// The model: a sparse local file.

class Model {
 public:
  // A new empty model file in `dir`.
  explicit Model(const std::string& dir, const std::string& tag) {
    std::string t = dir + "/rbdfs-exercise-" + tag + "-XXXXXX";
    std::vector<char> name(t.begin(), t.end());
    name.push_back('\0');
    m_fd = ::mkstemp(name.data());
    if (m_fd < 0) sys_fail("mkstemp(" + t + ")", errno);
    m_path = name.data();
  }
  ~Model() {
    if (m_fd >= 0) ::close(m_fd);
    if (m_remove) ::unlink(m_path.c_str());
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& path() const { return m_path; }
  uint64_t size() const { return m_size; }
  void keep() { m_remove = false; }

  void write(uint64_t off, const char* buf, uint64_t len) {
    pwrite_full(m_fd, buf, len, off, "model " + m_path);
    m_size = std::max(m_size, off + len);
  }
  uint64_t read(uint64_t off, uint64_t len, char* out) const {
    if (off >= m_size) return 0;
    uint64_t n = std::min(len, m_size - off);
    uint64_t got = pread_full(m_fd, out, n, off, "model " + m_path);
    if (got != n)
      throw Failure{"model " + m_path + ": short read at " + num(off), ""};
    return n;
  }
  void truncate(uint64_t size) {
    if (::ftruncate(m_fd, static_cast<off_t>(size)) < 0) sys_fail("ftruncate(model)", errno);
    m_size = size;
  }
  // Zeros [off, off+len) inside the current size.
  void punch(uint64_t off, uint64_t len) {
    if (off >= m_size) return;
    uint64_t n = std::min(len, m_size - off);
    if (::fallocate(m_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                    static_cast<off_t>(n)) == 0)
      return;
    if (errno != EOPNOTSUPP) sys_fail("fallocate(model, PUNCH_HOLE)", errno);
    std::vector<char> zeros(std::min(n, CHUNK), 0);
    for (uint64_t done = 0; done < n;) {
      uint64_t k = std::min<uint64_t>(zeros.size(), n - done);
      pwrite_full(m_fd, zeros.data(), k, off + done, "model");
      done += k;
    }
  }
  void zero(uint64_t off, uint64_t len, bool keep_size) {
    if (!keep_size && off + len > m_size) truncate(off + len);
    punch(off, len);
  }
  // A sparse copy: the snapshot's model.
  std::unique_ptr<Model> copy(const std::string& dir, const std::string& tag) const {
    auto m = std::make_unique<Model>(dir, tag);
    m->truncate(m_size);
    std::vector<char> buf(CHUNK);
    for (uint64_t off = 0; off < m_size; off += CHUNK) {
      uint64_t n = read(off, CHUNK, buf.data());
      bool zero = std::all_of(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n),
                              [](char c) { return c == 0; });
      if (!zero) m->write(off, buf.data(), n);
    }
    return m;
  }
  // The file's size must be the tracked one.
  void self_check() const {
    uint64_t s = fd_size(m_fd, "model");
    if (s != m_size)
      throw Failure{"model file size " + num(s) + " != tracked size " + num(m_size), ""};
  }

 private:
  int m_fd = -1;
  std::string m_path;
  uint64_t m_size = 0;
  bool m_remove = true;
};

// ---------------------------------------------------------------------------
// Targets

class SnapReader {
 public:
  virtual ~SnapReader() = default;
  virtual uint64_t size() = 0;
  virtual uint64_t read(uint64_t off, uint64_t len, char* out) = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;
  virtual Layout layout() = 0;
  virtual uint64_t size() = 0;
  virtual void write(uint64_t off, const char* buf, uint64_t len) = 0;
  virtual uint64_t read(uint64_t off, uint64_t len, char* out) = 0;
  virtual void truncate(uint64_t size) = 0;
  virtual void punch(uint64_t off, uint64_t len) = 0;
  virtual void zero(uint64_t off, uint64_t len, bool keep_size) = 0;
  // fallocate mode 0: nothing to allocate in RBD, but may grow the image.
  virtual void allocate(uint64_t off, uint64_t len, bool keep_size) = 0;
  virtual void fsync() = 0;
  // lseek(SEEK_DATA or SEEK_HOLE): false when the target has no such
  // thing; *out = -1 for ENXIO.
  virtual bool seek(uint64_t off, bool data, int64_t* out) = 0;
  // Close and open again; with `trunc`, the open has O_TRUNC.
  virtual void reopen(bool trunc) = 0;
  // The second writer: aligned offsets and lengths, aligned buffers.
  virtual void direct_write(uint64_t off, const char* buf, uint64_t len) = 0;
  virtual uint64_t direct_read(uint64_t off, uint64_t len, char* out) = 0;
  virtual void snap_create(const std::string& snap) = 0;
  virtual void snap_remove(const std::string& snap) = 0;
  virtual std::unique_ptr<SnapReader> snap_open(const std::string& snap) = 0;
};

// A file of a mounted rbdfs.
class MountTarget final : public Target {
 public:
  MountTarget(std::string path, bool direct) : m_path(std::move(path)), m_direct(direct) {
    auto slash = m_path.rfind('/');
    if (slash == std::string::npos || slash + 1 == m_path.size())
      usage("--target mount:MNT/POOL/IMAGE, got " + m_path);
    m_snapdir = m_path.substr(0, slash) + "/.snap/" + m_path.substr(slash + 1);
    open_fds();
  }
  ~MountTarget() override {
    if (m_fd >= 0) ::close(m_fd);
    if (m_dfd >= 0) ::close(m_dfd);
  }
  std::string name() const override { return "mount " + m_path; }

  Layout layout() override {
    return Layout::make(xattr_u64("user.rbd.object_size"), xattr_u64("user.rbd.stripe_unit"),
                        xattr_u64("user.rbd.stripe_count"));
  }
  uint64_t size() override { return fd_size(m_fd, m_path); }
  void write(uint64_t off, const char* buf, uint64_t len) override {
    pwrite_full(m_fd, buf, len, off, m_path);
  }
  uint64_t read(uint64_t off, uint64_t len, char* out) override {
    return pread_full(m_fd, out, len, off, m_path);
  }
  void truncate(uint64_t size) override {
    if (::ftruncate(m_fd, static_cast<off_t>(size)) < 0)
      sys_fail("ftruncate(" + m_path + ", " + std::to_string(size) + ")", errno);
  }
  void punch(uint64_t off, uint64_t len) override {
    falloc(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len, "PUNCH_HOLE|KEEP_SIZE");
  }
  void zero(uint64_t off, uint64_t len, bool keep_size) override {
    falloc(FALLOC_FL_ZERO_RANGE | (keep_size ? FALLOC_FL_KEEP_SIZE : 0), off, len,
           keep_size ? "ZERO_RANGE|KEEP_SIZE" : "ZERO_RANGE");
  }
  void allocate(uint64_t off, uint64_t len, bool keep_size) override {
    falloc(keep_size ? FALLOC_FL_KEEP_SIZE : 0, off, len, keep_size ? "KEEP_SIZE" : "0");
  }
  bool seek(uint64_t off, bool data, int64_t* out) override {
    off_t r = ::lseek(m_fd, static_cast<off_t>(off), data ? SEEK_DATA : SEEK_HOLE);
    if (r < 0 && errno != ENXIO)
      sys_fail("lseek(" + m_path + ", " + std::to_string(off) + (data ? ", SEEK_DATA)" : ", SEEK_HOLE)"),
               errno);
    *out = r < 0 ? -1 : static_cast<int64_t>(r);
    return true;
  }
  void fsync() override {
    if (::fsync(m_fd) < 0) sys_fail("fsync(" + m_path + ")", errno);
    if (m_dfd >= 0 && ::fsync(m_dfd) < 0) sys_fail("fsync(" + m_path + ", O_DIRECT fd)", errno);
  }
  void reopen(bool trunc) override {
    int fd = m_fd, dfd = m_dfd;
    m_fd = m_dfd = -1;
    if (::close(fd) < 0) sys_fail("close(" + m_path + ")", errno);
    if (dfd >= 0 && ::close(dfd) < 0) sys_fail("close(" + m_path + ", O_DIRECT fd)", errno);
    open_fds(trunc);
  }
  void direct_write(uint64_t off, const char* buf, uint64_t len) override {
    pwrite_full(m_dfd, buf, len, off, m_path + " O_DIRECT");
  }
  uint64_t direct_read(uint64_t off, uint64_t len, char* out) override {
    return pread_full(m_dfd, out, len, off, m_path + " O_DIRECT", true);
  }
  void snap_create(const std::string& snap) override {
    std::string p = m_snapdir + "/" + snap;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) sys_fail("open(" + p + ", O_CREAT|O_EXCL) to take a snapshot", errno);
    if (::close(fd) < 0) sys_fail("close(" + p + ")", errno);
  }
  void snap_remove(const std::string& snap) override {
    std::string p = m_snapdir + "/" + snap;
    if (::unlink(p.c_str()) < 0) sys_fail("unlink(" + p + ")", errno);
  }
  std::unique_ptr<SnapReader> snap_open(const std::string& snap) override {
    class Reader final : public SnapReader {
     public:
      explicit Reader(std::string p) : m_p(std::move(p)) {
        m_fd = ::open(m_p.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) sys_fail("open(" + m_p + ")", errno);
      }
      ~Reader() override { ::close(m_fd); }
      Reader(const Reader&) = delete;
      Reader& operator=(const Reader&) = delete;
      uint64_t size() override { return fd_size(m_fd, m_p); }
      uint64_t read(uint64_t off, uint64_t len, char* out) override {
        return pread_full(m_fd, out, len, off, m_p);
      }

     private:
      std::string m_p;
      int m_fd = -1;
    };
    return std::make_unique<Reader>(m_snapdir + "/" + snap);
  }

 private:
  void open_fds(bool trunc = false) {
    m_fd = ::open(m_path.c_str(), O_RDWR | O_CLOEXEC | (trunc ? O_TRUNC : 0));
    if (m_fd < 0) sys_fail("open(" + m_path + (trunc ? ", O_RDWR|O_TRUNC)" : ", O_RDWR)"), errno);
    if (m_direct) {
      m_dfd = ::open(m_path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
      if (m_dfd < 0) sys_fail("open(" + m_path + ", O_RDWR|O_DIRECT)", errno);
    }
  }
  void falloc(int mode, uint64_t off, uint64_t len, const char* what) {
    if (::fallocate(m_fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)) < 0)
      sys_fail(std::string("fallocate(") + m_path + ", " + what + ", off " + std::to_string(off) +
                   ", len " + std::to_string(len) + ")",
               errno);
  }
  uint64_t xattr_u64(const char* attr) {
    char buf[64];
    ssize_t n = ::getxattr(m_path.c_str(), attr, buf, sizeof buf - 1);
    if (n < 0) sys_fail(std::string("getxattr(") + m_path + ", " + attr + ")", errno);
    buf[n] = '\0';
    uint64_t v = 0;
    if (!parse_u64(buf, &v)) throw Failure{std::string(attr) + " is not a number: " + buf, ""};
    return v;
  }

  std::string m_path, m_snapdir;
  bool m_direct;
  int m_fd = -1, m_dfd = -1;
};

[[noreturn]] void core_fail(const std::string& call, const rbdfs::core::Errno& e) {
  sys_fail(call, e.code());
}

// The image through rbdfs' core, as the filesystem drives it.
class CoreTarget final : public Target {
 public:
  CoreTarget(const ClusterConfig& cfg, std::string pool, std::string image)
      : m_pool_name(std::move(pool)), m_image_name(std::move(image)) {
    std::string msg;
    auto c = Cluster::connect(cfg, &msg);
    if (!c.ok()) throw Failure{"connecting: " + msg, ""};
    m_cluster = *c;
    auto p = Pool::open(m_cluster, m_pool_name);
    if (!p.ok()) core_fail("opening pool " + m_pool_name, p.err());
    m_pool = *p;
    open_image();
  }
  ~CoreTarget() override {
    if (m_img) (void)m_img->flush();
  }
  std::string name() const override { return "core " + m_pool_name + "/" + m_image_name; }

  Layout layout() override { return m_img->header()->layout; }
  uint64_t size() override { return m_img->header()->size; }
  void write(uint64_t off, const char* buf, uint64_t len) override {
    grow(off + len);
    check(m_img->write(off, buf, len), "Image::write", off, len);
  }
  uint64_t read(uint64_t off, uint64_t len, char* out) override {
    return read_at(rbdfs::core::cls::NOSNAP, off, len, out);
  }
  void truncate(uint64_t size) override {
    check(m_img->resize(size), "Image::resize", size, 0);
  }
  void punch(uint64_t off, uint64_t len) override {
    check(m_img->discard(off, len), "Image::discard", off, len);
  }
  void zero(uint64_t off, uint64_t len, bool keep_size) override {
    if (!keep_size) grow(off + len);
    check(m_img->discard(off, len), "Image::discard", off, len);
  }
  void allocate(uint64_t off, uint64_t len, bool keep_size) override {
    if (!keep_size) grow(off + len);
  }
  bool seek(uint64_t, bool, int64_t*) override { return false; }
  void fsync() override { check(m_img->flush(), "Image::flush", 0, 0); }
  void reopen(bool trunc) override {
    check(m_img->flush(), "Image::flush", 0, 0);
    m_img.reset();
    open_image();
    if (trunc) check(m_img->resize(0), "Image::resize", 0, 0);  // what open(O_TRUNC) does
  }
  void direct_write(uint64_t off, const char* buf, uint64_t len) override { write(off, buf, len); }
  uint64_t direct_read(uint64_t off, uint64_t len, char* out) override {
    return read(off, len, out);
  }
  void snap_create(const std::string& snap) override {
    auto id = m_img->snap_create(snap);
    if (!id.ok()) core_fail("Image::snap_create(" + snap + ")", id.err());
  }
  void snap_remove(const std::string& snap) override {
    Status s = m_img->snap_remove(snap);
    if (!s.ok()) core_fail("Image::snap_remove(" + snap + ")", s.err());
  }
  std::unique_ptr<SnapReader> snap_open(const std::string& snap) override {
    class Reader final : public SnapReader {
     public:
      Reader(CoreTarget* t, uint64_t id, uint64_t size) : m_t(t), m_id(id), m_size(size) {}
      uint64_t size() override { return m_size; }
      uint64_t read(uint64_t off, uint64_t len, char* out) override {
        return m_t->read_at(m_id, off, len, out);
      }

     private:
      CoreTarget* m_t;
      uint64_t m_id, m_size;
    };
    auto h = m_img->header();
    const auto* s = h->find_snap(snap);
    if (!s) throw Failure{"snapshot " + snap + " not in the image's header", ""};
    return std::make_unique<Reader>(this, s->id, s->image_size);
  }

 private:
  void open_image() {
    Image::OpenOptions o;
    o.watch = false;
    auto img = m_pool->open_image(m_image_name, o);
    if (!img.ok()) core_fail("opening image " + m_pool_name + "/" + m_image_name, img.err());
    m_img = *img;
    if (!m_img->read_only_reason().empty())
      throw Failure{"image is read-only for rbdfs: " + m_img->read_only_reason(), ""};
  }
  // What the filesystem does before a write or fallocate that extends.
  void grow(uint64_t end) {
    if (end > m_img->header()->size) check(m_img->grow_to(end), "Image::grow_to", end, 0);
  }
  uint64_t read_at(uint64_t snap, uint64_t off, uint64_t len, char* out) {
    auto r = m_img->read(snap, off, len);
    if (!r.ok())
      core_fail("Image::read(snap " + std::to_string(snap) + ", off " + std::to_string(off) +
                    ", len " + std::to_string(len) + ")",
                r.err());
    if (r->size() > len) throw Failure{"Image::read returned more than asked", ""};
    std::memcpy(out, r->data(), r->size());
    return r->size();
  }
  static void check(const Status& s, const char* call, uint64_t a, uint64_t b) {
    if (!s.ok())
      core_fail(std::string(call) + "(" + std::to_string(a) + (b ? ", " + std::to_string(b) : "") +
                    ")",
                s.err());
  }

  std::string m_pool_name, m_image_name;
  std::shared_ptr<Cluster> m_cluster;
  std::shared_ptr<Pool> m_pool;
  std::shared_ptr<Image> m_img;
};

// ---------------------------------------------------------------------------
// The rbd CLI: the oracle.

struct RbdCli {
  std::string conf, id;

  std::string command(const std::string& args) const {
    std::string c = "rbd";
    if (!conf.empty()) c += " -c " + shell_quote(conf);
    if (!id.empty()) c += " --id " + shell_quote(id);
    return c + " " + args;
  }
  static void close_pipe(FILE* f, const std::string& cmd) {
    int st = ::pclose(f);
    if (st == -1) sys_fail("pclose(" + cmd + ")", errno);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      throw Failure{"`" + cmd + "` failed (wait status " + std::to_string(st) + ")", ""};
  }
  // The size from `rbd info --format json`, parsed here.
  uint64_t info_size(const std::string& spec) const {
    std::string cmd = command("info --format json " + shell_quote(spec));
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) sys_fail("popen(" + cmd + ")", errno);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    close_pipe(f, cmd);
    auto at = out.find("\"size\":");
    if (at == std::string::npos) throw Failure{"no \"size\" in `" + cmd + "`: " + out, ""};
    at += 7;
    while (at < out.size() && out[at] == ' ') ++at;
    uint64_t v = 0;
    size_t digits = 0;
    for (; at < out.size() && out[at] >= '0' && out[at] <= '9'; ++at, ++digits)
      v = v * 10 + static_cast<uint64_t>(out[at] - '0');
    if (!digits) throw Failure{"unreadable \"size\" in `" + cmd + "`: " + out, ""};
    return v;
  }
};

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
  COUNT
};
constexpr size_t KINDS = static_cast<size_t>(Kind::COUNT);
const std::array<const char*, KINDS> KIND_NAMES = {
    "write",     "read",        "truncate",  "punch",       "zero",
    "allocate",  "seek",        "fsync",     "reopen",      "snap-create",
    "snap-read", "snap-remove", "direct-write", "direct-read", "burst"};

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
    return (kind == Kind::WRITE || kind == Kind::DIRECT_WRITE) && o >= off && o < off + len;
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
  uint64_t m_start_size = 0;
  uint64_t m_max_size = 0;
  std::deque<Op> m_history;
  std::deque<Snap> m_snaps;
  std::array<uint64_t, KINDS> m_counts{};
  std::array<double, KINDS> m_secs{};  // time spent per kind
  uint64_t m_checks = 0;
  double m_check_secs = 0;
  std::vector<char> m_buf_a, m_buf_b, m_buf_c;
  Watchdog m_watchdog;  // last: stopped first
};

uint64_t Exerciser::jitter(uint64_t base) {
  uint64_t d;
  switch (below(8)) {
    case 0:
    case 1:
    case 2:
      return base;
    case 3:
    case 4:
      d = between(1, 16);
      break;
    case 5:
    case 6:
      d = between(1, 4096);
      break;
    default:
      d = between(1, std::max<uint64_t>(m_layout.stripe_unit / 2, 1));
      break;
  }
  if (below(2)) return base + d;
  return base >= d ? base - d : 0;
}

// A point in [0, limit], often on or near a stripe-unit, object or
// object-set edge, or the current end; mostly inside the current size (plus
// an object set), so that the image does not just grow to --max-size.
uint64_t Exerciser::pick_point(uint64_t limit) {
  const uint64_t su = m_layout.stripe_unit, os = m_layout.object_size, per = m_layout.period();
  const uint64_t all = limit;
  if (chance(75)) limit = std::min(limit, std::max(m_model->size(), per));
  uint64_t p;
  switch (below(10)) {
    case 0:
    case 1:
      p = jitter(below(limit / su + 1) * su);
      break;
    case 2:
      p = jitter(below(limit / os + 1) * os);
      break;
    case 3:
      p = jitter(below(limit / per + 1) * per);
      break;
    case 4:
    case 5:
      p = jitter(m_model->size());
      break;
    case 6:
      p = jitter(0);
      break;
    default:
      p = below(limit + 1);
      break;
  }
  return std::min(p, all);
}

// A length in [1, min(max_len, room)].
uint64_t Exerciser::pick_len(uint64_t off, uint64_t room) {
  const uint64_t su = m_layout.stripe_unit;
  uint64_t len;
  switch (below(10)) {
    case 0:
    case 1:
    case 2:
      len = between(1, 512);
      break;
    case 3:
    case 4:
      len = between(1, 64 * KiB);
      break;
    case 5: {  // to (about) the next stripe-unit edge, or a few past it
      uint64_t edge = jitter((off / su + 1 + below(3)) * su);
      len = edge > off ? edge - off : 1;
      break;
    }
    case 6: {
      const uint64_t sizes[] = {su, m_layout.object_size, m_layout.period()};
      len = jitter(sizes[below(3)]);
      break;
    }
    default:
      len = between(1, m_o.max_len);
      break;
  }
  return std::clamp<uint64_t>(len, 1, std::max<uint64_t>(1, std::min(m_o.max_len, room)));
}

Op Exerciser::generate(uint64_t n) {
  struct Weight {
    Kind kind;
    uint64_t w;
  };
  std::vector<Weight> ws = {{Kind::WRITE, 28}, {Kind::READ, 14},  {Kind::TRUNCATE, 6},
                            {Kind::PUNCH, 6},  {Kind::ZERO, 6},   {Kind::ALLOCATE, 2},
                            {Kind::SEEK, 2},   {Kind::FSYNC, 4},  {Kind::REOPEN, 2}};
  if (m_o.snaps) {
    ws.push_back({Kind::SNAP_CREATE, 1});  // about a second each (a new osdmap)
    if (!m_snaps.empty()) {
      ws.push_back({Kind::SNAP_READ, 4});
      ws.push_back({Kind::SNAP_REMOVE, 1});
    }
  }
  if (m_o.direct && m_max_size >= DIO_ALIGN) {
    ws.push_back({Kind::DIRECT_WRITE, 10});
    ws.push_back({Kind::DIRECT_READ, 5});
  }
  ws.push_back({Kind::BURST, 3});
  uint64_t total = 0;
  for (const auto& w : ws) total += w.w;
  uint64_t r = below(total);
  Op op;
  op.n = n;
  op.size_before = m_model->size();
  for (const auto& w : ws) {
    if (r < w.w) {
      op.kind = w.kind;
      break;
    }
    r -= w.w;
  }
  const uint64_t maxs = m_max_size;
  switch (op.kind) {
    case Kind::WRITE:
    case Kind::READ:
    case Kind::PUNCH:
    case Kind::ZERO:
    case Kind::ALLOCATE:
    case Kind::SEEK:
      op.off = pick_point(maxs - 1);
      op.len = pick_len(op.off, maxs - op.off);
      op.keep_size = chance(50);
      break;
    case Kind::TRUNCATE:
      op.off = pick_point(maxs);
      break;
    case Kind::REOPEN:
      op.trunc = chance(10);
      break;
    case Kind::DIRECT_WRITE:
    case Kind::DIRECT_READ: {
      const uint64_t dmax = maxs / DIO_ALIGN * DIO_ALIGN;
      op.off = pick_point(dmax - DIO_ALIGN) / DIO_ALIGN * DIO_ALIGN;
      uint64_t dlen = std::max<uint64_t>(m_o.max_len / DIO_ALIGN * DIO_ALIGN, DIO_ALIGN);
      uint64_t len = pick_len(op.off, dmax - op.off);
      len = (len + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
      op.len = std::min({len, dlen, dmax - op.off});
      break;
    }
    case Kind::SNAP_READ:
      op.snap = below(m_snaps.size());
      op.whole = chance(25);
      op.off = pick_point(maxs - 1);
      op.len = pick_len(op.off, maxs - op.off);
      break;
    case Kind::SNAP_REMOVE:
      op.snap = below(m_snaps.size());
      break;
    case Kind::BURST: {
      op.direct = m_o.direct && maxs >= 2 * DIO_ALIGN && chance(50);
      const uint64_t k = between(2, 6);
      const uint64_t align = op.direct ? DIO_ALIGN : 1;
      const uint64_t top = maxs / align * align;  // ends stay at or below
      const uint64_t cap = std::max(m_o.max_len / k, align);
      std::vector<std::pair<uint64_t, uint64_t>> cand;
      for (uint64_t i = 0; i < k; ++i) {
        uint64_t off = pick_point(top - align) / align * align;
        uint64_t len = std::min(pick_len(off, top - off), cap);
        len = std::min((len + align - 1) / align * align, top - off);
        cand.emplace_back(off, len);
      }
      std::sort(cand.begin(), cand.end());
      for (const auto& c : cand)  // keep them disjoint
        if (op.parts.empty() || c.first >= op.parts.back().first + op.parts.back().second)
          op.parts.push_back(c);
      break;
    }
    case Kind::SNAP_CREATE: {
      // Names come back: a snapshot may take the name of one removed
      // earlier, even of the one this op removes first.
      auto live = [&](const std::string& name) {
        for (size_t i = m_snaps.size() >= MAX_SNAPS ? 1 : 0; i < m_snaps.size(); ++i)
          if (m_snaps[i].name == name) return true;
        return false;
      };
      uint64_t k = below(SNAP_NAMES);
      while (live("ex" + std::to_string(k))) k = (k + 1) % SNAP_NAMES;
      op.snap_name = "ex" + std::to_string(k);
      break;
    }
    default:
      break;
  }
  return op;
}

// SEEK_DATA/SEEK_HOLE against the model: ENXIO at or past the end; a
// result in [off, size]; what SEEK_DATA skips (up to the end for ENXIO)
// holds only zeros. Data may hold zeros too, so that is all.
void Exerciser::check_seek(const Op& op, int64_t r) {
  const uint64_t size = m_model->size();
  const char* how = op.keep_size ? "SEEK_DATA" : "SEEK_HOLE";
  if (op.off >= size) {
    if (r != -1)
      throw Failure{std::string(how) + " at " + num(op.off) + ", at or past the end " + num(size) +
                        ", gave " + std::to_string(r) + ", not ENXIO",
                    ""};
    return;
  }
  if (r == -1 && !op.keep_size)
    throw Failure{std::string(how) + " at " + num(op.off) + " inside the image (size " +
                      num(size) + ") gave ENXIO",
                  ""};
  uint64_t to = r == -1 ? size : static_cast<uint64_t>(r);
  if (r != -1 && (to < op.off || to > size || (op.keep_size && to == size)))
    throw Failure{std::string(how) + " at " + num(op.off) + " gave " + num(to) +
                      ", outside [off, size" + (op.keep_size ? ")" : "]") + " (size " + num(size) +
                      ")",
                  ""};
  if (!op.keep_size) return;
  m_buf_b.resize(CHUNK);
  for (uint64_t o = op.off; o < to; o += CHUNK) {
    uint64_t n = m_model->read(o, std::min(CHUNK, to - o), m_buf_b.data());
    for (uint64_t i = 0; i < n; ++i)
      if (m_buf_b[i] != 0)
        throw Failure{std::string(how) + " at " + num(op.off) + " gave " +
                          (r == -1 ? std::string("ENXIO (no data up to the end)") : num(to)) +
                          ", but the model has data at " + num(o + i) + " (byte " +
                          hex(static_cast<uint8_t>(m_buf_b[i])) + ")",
                      ""};
  }
}

void Exerciser::expect_size(const char* what, uint64_t got) {
  if (got != m_model->size())
    throw Failure{std::string(what) + " size is " + num(got) + ", the model's is " +
                      num(m_model->size()),
                  ""};
}

std::string Exerciser::pattern_hint(uint64_t off, uint8_t got) const {
  if (got == 0) return "";
  unsigned residue = static_cast<uint8_t>(got - static_cast<uint8_t>(off % 251));
  std::string s = "    the byte found is what an op #n with n % 256 == " +
                  std::to_string(residue) + " writes there";
  std::string recent;
  for (const auto& h : m_history)
    if (h.writes_at(off) && h.n % 256 == residue) recent += " #" + std::to_string(h.n);
  if (!recent.empty()) s += "; recent writers of that offset that match:" + recent;
  return s + "\n";
}

// Compares a read of `off` with what the model says.
void Exerciser::compare_read(const char* what, uint64_t off, uint64_t want_n, const char* want,
                             uint64_t got_n, const char* got, const std::string& got_name) {
  uint64_t n = std::min(want_n, got_n);
  size_t i = first_diff(want, got, n);
  if (i == n && want_n == got_n) return;
  Failure f;
  if (i < n) {
    size_t run = i;
    while (run < n && want[run] != got[run]) ++run;
    uint64_t at = off + i;
    size_t show = std::min<size_t>(16, n - i);
    f.what = std::string(what) + ": " + got_name + " differs from the model at offset " + num(at);
    f.detail = "    expected (model) " + hex_bytes(want + i, show) + "\n    got (" + got_name +
               ")  " + hex_bytes(got + i, show) + "\n    differing run: [" + hex(at) + ", " +
               hex(off + run) + ") (" + std::to_string(run - i) +
               " bytes; more may follow); bytes compared: [" + hex(off) + ", " + hex(off + n) +
               ")\n" + pattern_hint(at, static_cast<uint8_t>(got[i]));
  } else {
    f.what = std::string(what) + ": " + got_name + " returned " + std::to_string(got_n) +
             " bytes at " + num(off) + ", the model has " + std::to_string(want_n);
  }
  throw f;
}

void Exerciser::execute(Op& op) {
  const uint64_t n = op.n;
  switch (op.kind) {
    case Kind::WRITE: {
      m_buf_a.resize(op.len);
      fill_pattern(m_buf_a.data(), op.off, op.len, n);
      m_target->write(op.off, m_buf_a.data(), op.len);
      m_model->write(op.off, m_buf_a.data(), op.len);
      if (op.off + op.len > op.size_before) expect_size("after a write past the end, the target's",
                                                        m_target->size());
      break;
    }
    case Kind::DIRECT_WRITE: {
      AlignedBuf b(op.len);
      fill_pattern(b.data, op.off, op.len, n);
      m_target->direct_write(op.off, b.data, op.len);
      m_model->write(op.off, b.data, op.len);
      if (op.off + op.len > op.size_before)
        expect_size("after a direct write past the end, the target's", m_target->size());
      break;
    }
    case Kind::BURST: {
      std::vector<std::unique_ptr<AlignedBuf>> bufs;
      for (const auto& [o, l] : op.parts) {
        bufs.push_back(std::make_unique<AlignedBuf>(l));
        fill_pattern(bufs.back()->data, o, l, n);
      }
      std::vector<Failure> errors(op.parts.size());
      std::vector<char> failed(op.parts.size(), 0);
      {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < op.parts.size(); ++i)
          threads.emplace_back([&, i] {
            try {
              const auto& [o, l] = op.parts[i];
              if (op.direct)
                m_target->direct_write(o, bufs[i]->data, l);
              else
                m_target->write(o, bufs[i]->data, l);
            } catch (const Failure& f) {
              errors[i] = f;
              failed[i] = 1;
            }
          });
        for (auto& t : threads) t.join();
      }
      for (size_t i = 0; i < op.parts.size(); ++i)
        if (failed[i]) throw errors[i];
      uint64_t end = 0;
      for (size_t i = 0; i < op.parts.size(); ++i) {
        const auto& [o, l] = op.parts[i];
        m_model->write(o, bufs[i]->data, l);
        end = std::max(end, o + l);
      }
      if (end > op.size_before)
        expect_size("after a burst of writes past the end, the target's", m_target->size());
      break;
    }
    case Kind::READ: {
      m_buf_a.resize(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = m_target->read(op.off, op.len, m_buf_a.data());
      uint64_t want = m_model->read(op.off, op.len, m_buf_b.data());
      compare_read("read", op.off, want, m_buf_b.data(), got, m_buf_a.data(), "the target");
      break;
    }
    case Kind::DIRECT_READ: {
      AlignedBuf b(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = m_target->direct_read(op.off, op.len, b.data);
      uint64_t want = m_model->read(op.off, op.len, m_buf_b.data());
      compare_read("direct read", op.off, want, m_buf_b.data(), got, b.data, "the target");
      break;
    }
    case Kind::TRUNCATE:
      m_target->truncate(op.off);
      m_model->truncate(op.off);
      expect_size("after truncate, the target's", m_target->size());
      break;
    case Kind::PUNCH:
      m_target->punch(op.off, op.len);
      m_model->punch(op.off, op.len);
      expect_size("after punch hole, the target's", m_target->size());
      break;
    case Kind::ZERO:
      m_target->zero(op.off, op.len, op.keep_size);
      m_model->zero(op.off, op.len, op.keep_size);
      expect_size("after zero range, the target's", m_target->size());
      break;
    case Kind::FSYNC:
      m_target->fsync();
      break;
    case Kind::ALLOCATE:
      m_target->allocate(op.off, op.len, op.keep_size);
      if (!op.keep_size && op.off + op.len > m_model->size()) m_model->truncate(op.off + op.len);
      expect_size("after allocate, the target's", m_target->size());
      break;
    case Kind::SEEK: {
      int64_t r = 0;
      if (!m_target->seek(op.off, op.keep_size, &r)) break;
      check_seek(op, r);
      break;
    }
    case Kind::REOPEN:
      m_target->reopen(op.trunc);
      if (op.trunc) m_model->truncate(0);
      expect_size("after reopen, the target's", m_target->size());
      break;
    case Kind::SNAP_CREATE: {
      if (m_snaps.size() >= MAX_SNAPS) {
        m_target->snap_remove(m_snaps.front().name);
        m_snaps.pop_front();
      }
      m_target->snap_create(op.snap_name);
      m_snaps.push_back({op.snap_name, m_model->copy(m_dir, "snap")});
      break;
    }
    case Kind::SNAP_REMOVE: {
      op.snap_name = m_snaps[op.snap].name;
      m_target->snap_remove(op.snap_name);
      m_snaps.erase(m_snaps.begin() + static_cast<ptrdiff_t>(op.snap));
      break;
    }
    case Kind::SNAP_READ: {
      const Snap& s = m_snaps[op.snap];
      op.snap_name = s.name;
      if (op.whole) {
        compare_snapshot(s, false);
        break;
      }
      auto r = m_target->snap_open(s.name);
      uint64_t ssize = r->size();
      if (ssize != s.model->size())
        throw Failure{"snapshot " + s.name + " size is " + num(ssize) + ", its model's is " +
                          num(s.model->size()),
                      ""};
      m_buf_a.resize(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = r->read(op.off, op.len, m_buf_a.data());
      uint64_t want = s.model->read(op.off, op.len, m_buf_b.data());
      compare_read(("snapshot " + s.name + " read").c_str(), op.off, want, m_buf_b.data(), got,
                   m_buf_a.data(), "the target");
      break;
    }
    default:
      break;
  }
}

// A whole snapshot through the target (and `rbd export` with `with_rbd`)
// against its model.
void Exerciser::compare_snapshot(const Snap& s, bool with_rbd) {
  auto r = m_target->snap_open(s.name);
  const Model& m = *s.model;
  if (r->size() != m.size())
    throw Failure{"snapshot " + s.name + " size is " + num(r->size()) + ", its model's is " +
                      num(m.size()),
                  ""};
  m_buf_a.resize(CHUNK);
  m_buf_b.resize(CHUNK);
  m_buf_c.resize(CHUNK);
  FILE* f = nullptr;
  std::string cmd;
  if (with_rbd) {
    cmd = m_rbd.command("export --no-progress " + shell_quote(m_spec + "@" + s.name) + " -");
    f = ::popen(cmd.c_str(), "r");
    if (!f) sys_fail("popen(" + cmd + ")", errno);
  }
  std::string what = "snapshot " + s.name + " full compare";
  uint64_t off = 0;
  do {  // once even when empty: the target must read nothing then
    uint64_t want = m.read(off, CHUNK, m_buf_b.data());
    uint64_t got = r->read(off, CHUNK, m_buf_a.data());
    compare_read(what.c_str(), off, want, m_buf_b.data(), got, m_buf_a.data(), "the target");
    if (f) {
      uint64_t e = std::fread(m_buf_c.data(), 1, CHUNK, f);
      compare_read(what.c_str(), off, want, m_buf_b.data(), e, m_buf_c.data(), "rbd export");
    }
    off += CHUNK;
  } while (off < m.size());
  if (f) {
    if (std::fread(m_buf_c.data(), 1, 1, f) != 0)
      throw Failure{what + ": `" + cmd + "` gives more than the model's " +
                        std::to_string(m.size()) + " bytes",
                    ""};
    RbdCli::close_pipe(f, cmd);
  }
}

// fsync, then the model, `rbd export`, a full read through the target and
// the three sizes must agree; then every live snapshot.
void Exerciser::check(bool final) {
  ++m_checks;
  const auto t0 = std::chrono::steady_clock::now();
  struct Timer {
    std::chrono::steady_clock::time_point t0;
    double* total;
    ~Timer() {
      *total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } timer{t0, &m_check_secs};
  m_target->fsync();
  m_model->self_check();
  expect_size("the target's", m_target->size());
  expect_size("`rbd info`", m_rbd.info_size(m_spec));
  const uint64_t size = m_model->size();
  std::string cmd = m_rbd.command("export --no-progress " + shell_quote(m_spec) + " -");
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) sys_fail("popen(" + cmd + ")", errno);
  m_buf_a.resize(CHUNK);
  m_buf_b.resize(CHUNK);
  m_buf_c.resize(CHUNK);
  for (uint64_t off = 0; off < size; off += CHUNK) {
    uint64_t want = m_model->read(off, CHUNK, m_buf_b.data());
    uint64_t e = std::fread(m_buf_c.data(), 1, CHUNK, f);
    compare_read("full compare", off, want, m_buf_b.data(), e, m_buf_c.data(), "rbd export");
    uint64_t got = m_target->read(off, CHUNK, m_buf_a.data());
    compare_read("full compare", off, want, m_buf_b.data(), got, m_buf_a.data(),
                 "a read through the target");
  }
  if (std::fread(m_buf_c.data(), 1, 1, f) != 0)
    throw Failure{"full compare: `" + cmd + "` gives more than the model's " +
                      std::to_string(size) + " bytes",
                  ""};
  RbdCli::close_pipe(f, cmd);
  // nothing past the end through the target either
  uint64_t past = m_target->read(size, 1, m_buf_a.data());
  if (past != 0) throw Failure{"full compare: the target reads a byte past the model's end", ""};
  for (const auto& s : m_snaps) compare_snapshot(s, final);
}

// The command line that ran, with --ops `ops`.
std::string Exerciser::replay_command(uint64_t ops) const {
  std::string s = m_o.argv.empty() ? "rbdfs-exercise" : shell_quote(m_o.argv[0]);
  bool have_ops = false;
  for (size_t i = 1; i < m_o.argv.size(); ++i) {
    if (m_o.argv[i] == "--ops" && i + 1 < m_o.argv.size()) {
      s += " --ops " + std::to_string(ops);
      ++i;
      have_ops = true;
      continue;
    }
    s += " " + shell_quote(m_o.argv[i]);
  }
  if (!have_ops) s += " --ops " + std::to_string(ops);
  return s;
}

void Exerciser::report(const Failure& f, uint64_t op, const std::string& op_text) {
  if (m_model) m_model->keep();
  std::string out = report_text(f, op, op_text);
  std::fputs(out.c_str(), stderr);
}

void Exerciser::arm_watchdog(uint64_t op, const std::string& op_text) {
  if (!m_watchdog.enabled()) return;
  m_watchdog.arm(report_text(Failure{"no answer within " + std::to_string(m_o.op_timeout) +
                                         " s (--op-timeout): a hang",
                                     ""},
                             op, op_text));
}

std::string Exerciser::report_text(const Failure& f, uint64_t op,
                                   const std::string& op_text) const {
  std::string out = "rbdfs-exercise: FAILED: seed " + std::to_string(m_o.seed) + ", op " +
                    std::to_string(op) + " of " + std::to_string(m_o.ops) + ", target " +
                    (m_target ? m_target->name() : std::string("(none)")) + "\n";
  out += "  op: " + op_text + "\n";
  out += "  " + f.what + "\n" + f.detail;
  if (!m_history.empty()) {
    out += "  last " + std::to_string(m_history.size()) + " ops:\n";
    for (const auto& h : m_history) out += "    " + h.describe() + "\n";
  }
  out += "  image layout: object_size " + std::to_string(m_layout.object_size) +
         ", stripe_unit " + std::to_string(m_layout.stripe_unit) + ", stripe_count " +
         std::to_string(m_layout.stripe_count) + ", starting size " +
         std::to_string(m_start_size) + "\n";
  if (m_model) out += "  model kept: " + m_model->path() + "\n";
  std::string create = "rbd create --size " + std::to_string(m_start_size) + "B --object-size " +
                       std::to_string(m_layout.object_size) + "B";
  if (m_layout.stripe_count != 1 || m_layout.stripe_unit != m_layout.object_size)
    create += " --stripe-unit " + std::to_string(m_layout.stripe_unit) + "B --stripe-count " +
              std::to_string(m_layout.stripe_count) + " --image-feature layering,striping";
  else
    create += " --image-feature layering";
  out += "  replay on a fresh image (" + create + " " + m_spec + "):\n    " +
         replay_command(std::max<uint64_t>(op, 1)) + "\n";
  return out;
}

int Exerciser::run() {
  m_spec = m_o.pool + "/" + m_o.image;
  m_dir = m_o.model_dir;
  auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  Op current;
  std::string phase = "(setup)";
  try {
    if (m_o.mount_path.empty())
      m_target = std::make_unique<CoreTarget>(m_o.cluster, m_o.pool, m_o.image);
    else
      m_target = std::make_unique<MountTarget>(m_o.mount_path, m_o.direct);
    m_layout = m_target->layout();
    if (!m_layout.valid())
      throw Failure{"the image's layout is not valid: object_size " +
                        std::to_string(m_layout.object_size) + ", stripe_unit " +
                        std::to_string(m_layout.stripe_unit),
                    ""};
    m_start_size = m_target->size();
    m_max_size = std::max(m_o.max_size, m_start_size);
    if (m_max_size == 0) usage("--max-size 0");
    m_model = std::make_unique<Model>(m_dir, "model");
    m_model->truncate(m_start_size);
    phase = "(initial check)";
    arm_watchdog(0, phase);
    // The image must start as zeros: one look through the target and rbd.
    check(false);
    for (n = 1; n <= m_o.ops; ++n) {
      current = generate(n);
      phase = current.describe();
      m_history.push_back(current);
      if (m_history.size() > HISTORY) m_history.pop_front();
      if (m_o.verbose) std::fprintf(stderr, "%s\n", phase.c_str());
      arm_watchdog(n, phase);
      const auto t_op = std::chrono::steady_clock::now();
      execute(current);
      m_history.back() = current;  // with the snapshot name filled in
      ++m_counts[static_cast<size_t>(current.kind)];
      m_secs[static_cast<size_t>(current.kind)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_op).count();
      if (m_o.check_every && n % m_o.check_every == 0 && n != m_o.ops) {
        phase = "(check after op #" + std::to_string(n) + ") after " + current.describe();
        arm_watchdog(n, phase);
        check(false);
      }
    }
    n = m_o.ops;
    phase = "(final check after op #" + std::to_string(n) + ")";
    arm_watchdog(n, phase);
    check(true);
    m_watchdog.disarm();
  } catch (const Failure& f) {
    m_watchdog.disarm();
    if (!m_history.empty() && m_history.back().n == current.n) m_history.back() = current;
    report(f, n, phase);
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string counts;
  for (size_t k = 0; k < KINDS; ++k)
    if (m_counts[k]) {
      char t[32];
      std::snprintf(t, sizeof t, " %.1fs", m_secs[k]);
      counts += std::string(counts.empty() ? "" : ", ") + KIND_NAMES[k] + " " +
                std::to_string(m_counts[k]) + (m_secs[k] >= 0.05 ? t : "");
    }
  std::printf(
      "rbdfs-exercise: ok: seed %llu, %llu ops on %s in %.1f s (%s; %llu checks, %.1f s), size "
      "%llu\n",
      static_cast<unsigned long long>(m_o.seed), static_cast<unsigned long long>(m_o.ops),
      m_target->name().c_str(), secs, counts.c_str(), static_cast<unsigned long long>(m_checks),
      m_check_secs, static_cast<unsigned long long>(m_model->size()));
  return 0;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) o.argv.emplace_back(argv[i]);
  auto need = [&](int& i, const std::string& a) -> std::string {
    if (i + 1 >= argc) usage(a + " needs a value");
    return argv[++i];
  };
  auto need_u64 = [&](int& i, const std::string& a) {
    std::string v = need(i, a);
    uint64_t x = 0;
    if (!parse_u64(v, &x)) usage(a + ": not a number: " + v);
    return x;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed") {
      o.seed = need_u64(i, a);
      o.seed_given = true;
    } else if (a == "--ops") {
      o.ops = need_u64(i, a);
    } else if (a == "--check-every") {
      o.check_every = need_u64(i, a);
    } else if (a == "--target") {
      std::string t = need(i, a);
      if (t == "core")
        o.mount_path.clear();
      else if (t.rfind("mount:", 0) == 0 && t.size() > 6)
        o.mount_path = t.substr(6);
      else
        usage("--target core | mount:MNT/POOL/IMAGE, got " + t);
    } else if (a == "-c" || a == "--conf") {
      o.cluster.conf = need(i, a);
    } else if (a == "--id" || a == "-i") {
      o.cluster.id = need(i, a);
    } else if (a == "--image") {
      std::string s = need(i, a);
      auto slash = s.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == s.size())
        usage("--image POOL/IMAGE, got " + s);
      o.pool = s.substr(0, slash);
      o.image = s.substr(slash + 1);
    } else if (a == "--model-dir") {
      o.model_dir = need(i, a);
    } else if (a == "--max-len") {
      o.max_len = need_u64(i, a);
    } else if (a == "--max-size") {
      o.max_size = need_u64(i, a);
    } else if (a == "--no-snaps") {
      o.snaps = false;
    } else if (a == "--no-direct") {
      o.direct = false;
    } else if (a == "-v") {
      o.verbose = true;
    } else if (a == "--op-timeout") {
      o.op_timeout = need_u64(i, a);
    } else {
      usage("unknown argument " + a);
    }
  }
  if (!o.seed_given) usage("--seed N is required");
  if (o.pool.empty()) usage("--image POOL/IMAGE is required");
  if (o.max_len == 0) usage("--max-len must be at least 1");
  if (o.model_dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    o.model_dir = t && *t ? t : "/tmp";
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  spdlog::set_pattern("rbdfs-exercise: %l: %v");
  Options o = parse_args(argc, argv);
  if (!o.cluster.conf.empty()) ::setenv("CEPH_CONF", o.cluster.conf.c_str(), 1);
  Exerciser ex(o);
  return ex.run();
}
