#include "core/image.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <limits>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/io_request.h"

namespace rbdfs::core {

using detail::cls_write;
using librados::bufferlist;
using ceph::bufferptr;
namespace buffer = ceph::buffer;

// ---------------------------------------------------------------------------
// Open, header, gate

Image::Image(std::shared_ptr<Cluster> cluster, librados::IoCtx md, std::string what)
    : m_cluster(std::move(cluster)), m_md(std::move(md)), m_writes(std::move(what)) {}

Image::~Image() = default;  // m_watch: unwatch, wait for a notify in flight

Result<std::shared_ptr<Image>> Image::open(std::shared_ptr<Cluster> cluster, librados::IoCtx md,
                                           const std::string& pool, const std::string& name,
                                           const OpenOptions& options) {
  auto id = options.id.empty() ? detail::image_id(md, pool, name) : Result<std::string>(options.id);
  if (!id.ok()) return id.err();
  auto h = read_header(md, pool, name, *id);
  if (!h.ok()) return h.err();
  if (!h->unreadable_reason.empty()) {
    spdlog::warn("image {}/{}: cannot open: {}", pool, name, h->unreadable_reason);
    return Errno(EOPNOTSUPP);
  }
  std::shared_ptr<Image> img(new Image(std::move(cluster), std::move(md), pool + "/" + name));
  img->m_force_read_only = options.read_only;
  img->m_header_oid = header_object(*id);
  std::weak_ptr<Image> weak = img;
  img->m_watch = std::make_unique<HeaderWatch>(img->m_cluster, img->m_md, img->m_header_oid,
                                               pool + "/" + name, [weak](uint64_t notifier) {
                                                 if (auto i = weak.lock())
                                                   i->handle_header_change(notifier);
                                               });
  if (h->data_pool_id >= 0) {
    auto io = img->m_cluster->open_pool_id(h->data_pool_id);
    if (!io.ok()) {
      spdlog::error("image {}/{}: cannot open data pool {}: {}", pool, name, h->data_pool_id,
                    io.err().message());
      return io.err();
    }
    img->m_data = std::move(*io);
  } else {
    img->m_data.dup(img->m_md);
  }
  if (options.read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
  img->m_header = std::make_shared<const ImageHeader>(std::move(*h));
  if (options.watch) {
    Status w = img->m_watch->watch();
    if (!w.ok())
      spdlog::warn("image {}/{}: cannot watch header: {}", pool, name, w.err().message());
  }
  return img;
}

std::shared_ptr<const ImageHeader> Image::header() const {
  std::lock_guard<std::mutex> l(m_header_mu);
  return m_header;
}

Status Image::refresh() {
  std::shared_ptr<const ImageHeader> cur;
  uint64_t gen;
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    cur = m_header;
    gen = m_header_gen;
  }
  auto h = read_header(m_md, cur->pool, cur->name, cur->id);
  if (!h.ok()) return h.err();
  if (m_force_read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
  bool pending;
  {
    std::lock_guard<std::mutex> l(m_size_mu);
    pending = m_bg_sent != 0;
  }
  std::lock_guard<std::mutex> l(m_header_mu);
  if (m_header_gen != gen || pending) {
    // We grew the image while the header was read, or a background grow
    // has not landed: what was read may predate our size. Never shrink
    // below what we recorded or are recording.
    h->size = std::max(h->size, m_size_floor);
  } else {
    // Read after everything we recorded landed: the object is the truth
    // (another client may have shrunk the image).
    m_size_floor = 0;
  }
  m_recorded = h->size;
  ++m_header_gen;
  m_header = std::make_shared<const ImageHeader>(std::move(*h));
  return {};
}

void Image::set_cached_size(uint64_t size) {
  auto next = std::make_shared<ImageHeader>(*m_header);
  next->size = size;
  m_header = std::move(next);
  ++m_header_gen;
}

Status Image::prepare_write(const ImageHeader& h) const {
  // The seam for exclusive-lock and object-map: take the lock and mark the
  // objects about to be written EXISTS here, before the data write.
  if (!h.read_only_reason.empty()) return Errno(EROFS);
  return {};
}

void Image::handle_header_change(uint64_t notifier_id) {
  // A snapshot may be about to be taken: let our writes land first (their
  // errors stay for the writers), then pick up the new snapshot context
  // before the notify is acknowledged.
  spdlog::debug("image {}: header changed by client {}", header()->name, notifier_id);
  (void)drain();
  Status s = refresh();
  if (!s.ok() && s.error() != ENOENT)
    spdlog::warn("image {}: refresh after header notify failed: {}", header()->name,
                 s.err().message());
}

void Image::notify_header_update() { m_watch->post_update(); }

// ---------------------------------------------------------------------------
// I/O: image requests fanned out to object requests (core/io_request.h)

std::shared_ptr<ImageRequest> Image::new_request() {
  auto req = std::make_shared<ImageRequest>();
  req->owner = shared_from_this();
  req->cluster = m_cluster.get();
  req->writes = &m_writes;
  return req;
}

uint64_t Image::error_mark() const { return m_writes.error_mark(); }

Status Image::check_errors(std::atomic<uint64_t>* cursor, bool advance) const {
  return m_writes.check_errors(cursor, advance);
}

void Image::aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb) {
  auto h = header();
  auto at = h->size_at(snap_id);
  if (!at.ok()) {
    cb(at.err());
    return;
  }
  uint64_t size = *at;
  if (off >= size || len == 0) {
    cb(ReadData());
    return;
  }
  len = std::min(len, size - off);
  auto req = new_request();
  req->read_cb = std::move(cb);
  // Every part exists before the first submit: completions write into
  // them while later parts are still being submitted.
  std::vector<ObjectExtent> exts = map_extent(h->layout, off, len);
  req->reserve_parts(exts.size(), len);
  for (auto& ext : exts) req->add_part(std::move(ext));
  for (size_t i = 0; i < req->parts(); ++i)
    submit_object_read(req, m_data, object_name(h->object_prefix, req->part_extent(i).object_no), i,
                       snap_id);
  req->put();
}

void Image::aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb, bool stable) {
  if (len > std::numeric_limits<unsigned>::max()) {
    cb(Errno(EINVAL));
    return;
  }
  write_shared(off, buffer::copy(data, static_cast<unsigned>(len)), std::move(cb), stable);
}

void Image::aio_write(uint64_t off, WriteBuffer data, IoCallback cb, bool stable) {
  if (data.size() > std::numeric_limits<unsigned>::max()) {
    cb(Errno(EINVAL));
    return;
  }
  auto len = static_cast<unsigned>(data.size());
  write_shared(off, bufferptr(buffer::claim_malloc(len, data.release())), std::move(cb), stable);
}

void Image::write_shared(uint64_t off, bufferptr data, IoCallback cb, bool stable) {
  auto h = header();
  if (Status s = prepare_write(*h); !s.ok()) {
    cb(s);
    return;
  }
  const uint64_t len = data.length();
  if (off > h->size || len > h->size - off) {
    cb(Errno(EFBIG));
    return;
  }
  if (len == 0) {
    cb({});
    return;
  }
  auto req = new_request();
  req->io_cb = std::move(cb);
  req->write_seq = m_writes.begin();
  for (const auto& ext : map_extent(h->layout, off, len)) {
    librados::ObjectWriteOperation op;
    bufferlist bl;
    for (const auto& b : ext.buffer)  // shares `data`, copies nothing
      bl.append(data, static_cast<unsigned>(b.buffer_offset), static_cast<unsigned>(b.length));
    if (ext.offset == 0 && ext.length == h->layout.object_size)
      op.write_full(bl);
    else
      op.write(ext.offset, bl);
    submit_object_write(req, m_data, object_name(h->object_prefix, ext.object_no), &op, h->snapc,
                        false);
  }
  // Write-around: acknowledge now if the budget allows; flush reports.
  if (!stable && m_cluster->reserve_writearound(len)) {
    req->early_acked = len;
    IoCallback ack = std::move(req->io_cb);
    req->io_cb = nullptr;
    req->put();
    ack({});
    return;
  }
  req->put();
}

void Image::aio_discard(uint64_t off, uint64_t len, IoCallback cb) {
  auto h = header();
  if (Status s = prepare_write(*h); !s.ok()) {
    cb(s);
    return;
  }
  if (off >= h->size || len == 0) {
    cb({});
    return;
  }
  len = std::min(len, h->size - off);
  auto req = new_request();
  req->io_cb = std::move(cb);
  req->write_seq = m_writes.begin();
  const uint64_t os = h->layout.object_size;
  for (const auto& ext : map_extent(h->layout, off, len)) {
    librados::ObjectWriteOperation op;
    uint64_t valid = object_valid_length(h->layout, ext.object_no, h->size);
    uint64_t end = ext.offset + ext.length;
    if (ext.offset == 0 && (ext.length == os || end >= valid)) {
      op.remove();
    } else if (end >= valid) {
      op.assert_exists();
      op.truncate(ext.offset);
    } else {
      op.assert_exists();
      op.zero(ext.offset, ext.length);
    }
    submit_object_write(req, m_data, object_name(h->object_prefix, ext.object_no), &op, h->snapc,
                        true);
  }
  req->put();
}

void Image::aio_drain(IoCallback cb) { m_writes.drain(std::move(cb)); }

void Image::aio_flush(IoCallback cb) {
  // The caller holds the image until cb runs.
  aio_drain([this, cb = std::move(cb)](Status s) {
    cb(s.ok() ? m_writes.check_errors(&m_own_cursor, true) : s);
  });
}

Result<std::string> Image::read(uint64_t snap_id, uint64_t off, uint64_t len) {
  std::promise<Result<std::string>> p;
  auto f = p.get_future();
  aio_read(snap_id, off, len, [&p](Result<ReadData> r) {
    if (r.ok())
      p.set_value(r->to_string());
    else
      p.set_value(Errno(r.error()));
  });
  return f.get();
}

Status Image::write(uint64_t off, const char* data, uint64_t len) {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_write(off, data, len, [&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::discard(uint64_t off, uint64_t len) {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_discard(off, len, [&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::drain() {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_drain([&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::flush() {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_flush([&p](Status s) { p.set_value(s); });
  return f.get();
}

Result<uint64_t> Image::seek(uint64_t snap_id, uint64_t off, bool data) {
  auto h = header();
  auto size = h->size_at(snap_id);
  if (!size.ok()) return size.err();
  return seek_objects(m_md, m_data, *h, snap_id, *size, off, data);
}

}  // namespace rbdfs::core
