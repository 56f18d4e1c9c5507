#include "core/io_request.h"

#include <vector>

namespace rbdfs::core {

void ImageRequest::fail(int err) {
  int expected = 0;
  first_error.compare_exchange_strong(expected, err);
}

void ImageRequest::reserve_parts(size_t n, uint64_t length) {
  data.m_parts.reserve(n);
  data.m_length = length;
}

void ImageRequest::add_part(ObjectExtent ext) {
  data.m_parts.push_back(ReadData::Part{std::move(ext), {}});
}

const ObjectExtent& ImageRequest::part_extent(size_t i) const { return data.m_parts[i].ext; }

librados::bufferlist* ImageRequest::part_reply(size_t i) { return &data.m_parts[i].bl; }

void ImageRequest::put() {
  if (pending.fetch_sub(1) != 1) return;
  int err = first_error.load();
  // Drop our reference to the image before calling back: the caller may be
  // waiting on the callback to release the last reference, and an image
  // (and its cluster) must never be destroyed on a librados thread.
  std::shared_ptr<void> keep = std::move(owner);
  if (early_acked) cluster->release_writearound(early_acked);
  std::vector<IoCallback> drained;
  if (write_seq) drained = writes->end(write_seq, early_acked ? err : 0);
  keep.reset();
  // Whoever waits on a drain still holds the image, so the reset above was
  // not the last reference in that case.
  for (auto& f : drained) f(Status());
  if (read_cb) {
    ReadCallback cb = std::move(read_cb);
    if (err) {
      cb(Errno(err));
    } else {
      data.index();
      cb(std::move(data));
    }
  } else if (io_cb) {
    IoCallback cb = std::move(io_cb);
    cb(err ? Status(Errno(err)) : Status());
  }
}

namespace {

struct ObjectRequest {
  enum class State { START, OBJECT, DONE };
  State state = State::START;
  std::shared_ptr<ImageRequest> req;
  librados::AioCompletion* completion = nullptr;
  librados::bufferlist* read_into = nullptr;  // reads: the part's reply
  bool is_read = false;
  bool ignore_enoent = false;

  // OBJECT -> DONE: RADOS answered.
  static void object_done(librados::completion_t, void* arg) {
    auto* o = static_cast<ObjectRequest*>(arg);
    int r = o->completion->get_return_value();
    o->completion->release();
    o->finish(r);
  }
  void finish(int r) {
    state = State::DONE;
    if (is_read) {
      // An absent object reads as zeros: its part stays empty.
      if (r < 0 && r != -ENOENT) req->fail(-r);
    } else if (r < 0 && !(r == -ENOENT && ignore_enoent)) {
      req->fail(-r);
    }
    req->cluster->release_slot();
    auto image_req = std::move(req);
    delete this;
    image_req->put();
  }
  // START -> OBJECT, or DONE at once when sending failed.
  ObjectRequest* start() {
    req->pending.fetch_add(1);
    req->cluster->acquire_slot();
    completion = librados::Rados::aio_create_completion(this, &ObjectRequest::object_done);
    state = State::OBJECT;
    return this;
  }
  // Sending failed: the completion will never fire.
  void send_failed(int r) {
    completion->release();
    finish(r);
  }
};

}  // namespace

void submit_object_read(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                        const std::string& oid, size_t part, uint64_t snap_id) {
  const ObjectExtent& ext = req->part_extent(part);
  auto* o = new ObjectRequest;
  o->req = req;
  o->is_read = true;
  o->read_into = req->part_reply(part);
  o->start();
  int r = data.aio_read(oid, o->completion, o->read_into, ext.length, ext.offset, snap_id);
  if (r < 0) o->send_failed(r);  // else `o` may be gone already
}

void submit_object_write(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                         const std::string& oid, librados::ObjectWriteOperation* op,
                         const cls::SnapContext& snapc, bool ignore_enoent) {
  auto* o = new ObjectRequest;
  o->req = req;
  o->ignore_enoent = ignore_enoent;
  o->start();
  int r;
  if (snapc.seq == 0 && snapc.snaps.empty()) {
    r = data.aio_operate(oid, o->completion, op);
  } else {
    std::vector<librados::snap_t> snaps(snapc.snaps.begin(), snapc.snaps.end());
    r = data.aio_operate(oid, o->completion, op, snapc.seq, snaps);
  }
  if (r < 0) o->send_failed(r);  // else `o` may be gone already
}

}  // namespace rbdfs::core
