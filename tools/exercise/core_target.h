// The target through rbdfs' core directly (Image, no mount).
#pragma once

#include "tools/exercise/target.h"

namespace rbdfs::exercise {

[[noreturn]] inline void core_fail(const std::string& call, const rbdfs::core::Errno& e) {
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
    const auto slash = m_pool_name.find('/');  // pool/namespace
    auto p = slash == std::string::npos ? Pool::open(m_cluster, m_pool_name)
                                        : Pool::open(m_cluster, m_pool_name.substr(0, slash),
                                                     m_pool_name.substr(slash + 1));
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
  uint64_t copy_range(const std::string& snap, uint64_t src_off, uint64_t dst_off,
                      uint64_t len) override {
    uint64_t snap_id = rbdfs::core::cls::NOSNAP;
    if (!snap.empty()) {
      const auto* s = m_img->header()->find_snap(snap);
      if (!s) core_fail("Image::copy_from(" + snap + ")", rbdfs::core::Errno(ENOENT));
      snap_id = s->id;
    }
    auto src_size = m_img->header()->size_at(snap_id);
    if (!src_size.ok()) core_fail("ImageHeader::size_at", src_size.err());
    if (src_off >= *src_size) return 0;
    const uint64_t n = std::min(len, *src_size - src_off);
    grow(dst_off + n);  // as the filesystem does first
    auto r = m_img->copy_from(*m_img, snap_id, src_off, dst_off, n);
    if (!r.ok())
      core_fail("Image::copy_from(" + std::to_string(src_off) + ", " + std::to_string(dst_off) +
                    ", " + std::to_string(n) + ")",
                r.err());
    return *r;
  }
  void write(uint64_t off, const char* buf, uint64_t len) override {
    grow(off + len);
    check(m_img->write(off, buf, len), "Image::write", off, len);
  }
  uint64_t read(uint64_t off, uint64_t len, char* out) override {
    return read_at(rbdfs::core::cls::NOSNAP, off, len, out);
  }
  void truncate(uint64_t size) override { check(m_img->resize(size), "Image::resize", size, 0); }
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
      core_fail(
          std::string(call) + "(" + std::to_string(a) + (b ? ", " + std::to_string(b) : "") + ")",
          s.err());
  }

  std::string m_pool_name, m_image_name;
  std::shared_ptr<Cluster> m_cluster;
  std::shared_ptr<Pool> m_pool;
  std::shared_ptr<Image> m_img;
};

}  // namespace rbdfs::exercise
