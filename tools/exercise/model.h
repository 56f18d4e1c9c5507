// The local model: a sparse file (and copies for snapshots) that every
// operation is applied to as well.
#pragma once

#include "tools/exercise/common.h"

namespace rbdfs::exercise {

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
    if (got != n) throw Failure{"model " + m_path + ": short read at " + num(off), ""};
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

}  // namespace rbdfs::exercise
