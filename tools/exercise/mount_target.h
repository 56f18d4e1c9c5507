// The target as a file of a mounted rbdfs (snapshots in .snap/).
#pragma once

#include "tools/exercise/target.h"

namespace rbdfs::exercise {

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
      sys_fail(
          "lseek(" + m_path + ", " + std::to_string(off) + (data ? ", SEEK_DATA)" : ", SEEK_HOLE)"),
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
  uint64_t copy_range(const std::string& snap, uint64_t src_off, uint64_t dst_off,
                      uint64_t len) override {
    const std::string src = snap.empty() ? m_path : m_snapdir + "/" + snap;
    int in = snap.empty() ? m_fd : ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) sys_fail("open(" + src + ")", errno);
    auto from = static_cast<loff_t>(src_off), to = static_cast<loff_t>(dst_off);
    // up to the source's end as it is now: a copy within one file that
    // grows it would find more to copy on the next round
    const uint64_t end = fd_size(in, src);
    len = src_off >= end ? 0 : std::min(len, end - src_off);
    uint64_t done = 0;
    while (done < len) {  // a short count goes on from there; 0 is the source's end
      ssize_t r = ::copy_file_range(in, &from, m_fd, &to, len - done, 0);
      if (r < 0) {
        int e = errno;
        if (in != m_fd) ::close(in);
        sys_fail("copy_file_range(" + src + " at " + std::to_string(from) + ", " + m_path + " at " +
                     std::to_string(to) + ", " + std::to_string(len - done) + ")",
                 e);
      }
      if (r == 0) break;
      done += static_cast<uint64_t>(r);
    }
    if (in != m_fd) ::close(in);
    return done;
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

}  // namespace rbdfs::exercise
