#include "core/io_request.h"

#include "core/image_impl.h"
#include "core/io_counters.h"

#include <spdlog/spdlog.h>

#include <cstring>

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
  lock_ref.reset();  // the lock lives in the image, still held below
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

void ImageRequest::sent_one() {
  if (unsent.fetch_sub(1) != 1 || !early_ack) return;
  IoCallback cb = std::move(early_ack);
  cb({});
}

void read_parent_runs(const std::shared_ptr<ImageImpl>& parent, uint64_t snap_id,
                      const std::vector<ImageRun>& runs, bool slotless,
                      std::function<void(Result<librados::bufferlist>)> cb) {
  // One parent read per run (never the span between them: with fancy
  // striping that is stripe_count times the data), each into its place.
  struct Join {
    ceph::bufferptr bp;
    std::atomic<size_t> left;
    std::atomic<int> error{0};
    std::function<void(Result<librados::bufferlist>)> cb;
  };
  uint64_t total = 0;
  for (const auto& run : runs) total += run.length;
  auto j = std::make_shared<Join>();
  j->bp = ceph::buffer::create(static_cast<unsigned>(total));
  j->left = runs.size();
  j->cb = std::move(cb);
  uint64_t at = 0;
  for (const auto& run : runs) {
    parent->read_for_child(snap_id, run.image_offset, run.length, slotless,
                           [j, at, len = run.length](Result<ReadData> r) {
                             if (r.ok()) {
                               r->copy_range(0, len, j->bp.c_str() + at);
                             } else {
                               int expected = 0;
                               j->error.compare_exchange_strong(expected, r.error());
                             }
                             if (j->left.fetch_sub(1) != 1) return;
                             if (int e = j->error.load()) {  // never "absent": that reads as zeros
                               j->cb(Errno(e == ENOENT ? EIO : e));
                               return;
                             }
                             librados::bufferlist bl;
                             bl.append(std::move(j->bp));
                             j->cb(std::move(bl));
                           });
    at += run.length;
  }
}

namespace {

struct ObjectRequest {
  enum class State {
    START,
    PRE_OBJECT_MAP,
    OBJECT,
    PARENT,
    COPYUP_READ,
    COPYUP_MAPS,
    COPYUP_DEEP,
    COPYUP,
    POST_OBJECT_MAP,
    DONE
  };
  State state = State::START;
  std::shared_ptr<ImageRequest> req;
  librados::AioCompletion* completion = nullptr;
  librados::bufferlist* read_into = nullptr;  // reads: the part's reply
  size_t part = 0;
  bool is_read = false;
  bool parent_tried = false;
  bool ignore_enoent = false;
  // writes
  librados::IoCtx* io = nullptr;
  std::string oid;
  librados::ObjectWriteOperation op;
  uint64_t snap_seq = 0;
  std::vector<librados::snap_t> snaps;  // descending; empty: no snapshots
  MapSteps steps;
  bool counts_when_sent = true;  // false: counted as ordered once queued in the map
  // clones
  std::unique_ptr<Copyup> copyup;
  librados::bufferlist copyup_data;  // empty: the parent has only zeros here
  bool deep_sent = false;
  bool head_mapped = false;
  bool copyup_counted = false;  // holds one of Cluster::MAX_COPYUPS
  std::atomic<size_t> maps_left{0};
  std::atomic<int> maps_error{0};

  // OBJECT -> POST_OBJECT_MAP or DONE: RADOS answered.
  static void object_done(librados::completion_t, void* arg) {
    auto* o = static_cast<ObjectRequest*>(arg);
    int r = o->completion->get_return_value();
    o->completion->release();
    if (o->copyup && o->state == State::OBJECT && r == -ENOENT) {
      o->copyup_read();
      return;
    }
    if (o->state == State::COPYUP_DEEP) {
      if (r < 0) {
        o->finish(r);
        return;
      }
      o->deep_sent = true;
      o->send_copyup();
      return;
    }
    if ((r == 0 || (r == -ENOENT && o->ignore_enoent)) && o->steps.post) {
      o->state = State::POST_OBJECT_MAP;
      // the object is gone whatever the map step comes to (a failed one
      // leaves the map flagged invalid, never wrong)
      o->steps.map->update(o->steps.objno, *o->steps.post, object_map::PENDING,
                           [o](int) { o->finish(0); });
      return;
    }
    o->finish(r);
  }
  // OBJECT -> PARENT: an absent object of a clone reads the parent's data
  // below the overlap, by image extents (the parent's layout may differ);
  // zeros past it.
  void read_through() {
    parent_tried = true;
    const ObjectExtent& ext = req->part_extent(part);
    uint64_t inside = object_valid_length(req->layout, ext.object_no, req->overlap);
    if (ext.offset >= inside) {
      finish(-ENOENT);
      return;
    }
    state = State::PARENT;
    auto runs = object_image_extents(req->layout, ext.object_no, ext.offset,
                                     std::min(ext.length, inside - ext.offset));
    read_parent_runs(req->parent, req->parent_snap, runs, true,
                     [this](Result<librados::bufferlist> r) {
                       if (!r.ok()) {
                         finish(-r.error());
                         return;
                       }
                       read_into->claim_append(*r);
                       finish(0);
                     });
  }
  void finish(int r) {
    if (is_read && r == -ENOENT && req->overlap && !parent_tried) {
      read_through();
      return;
    }
    state = State::DONE;
    if (is_read) {
      // An absent object reads as zeros: its part stays empty.
      if (r < 0 && r != -ENOENT) req->fail(-r);
    } else if (r < 0 && !(r == -ENOENT && ignore_enoent)) {
      req->fail(-r);
    }
    if (r == -ESHUTDOWN) req->cluster->note_blocklisted();
    if (copyup_counted) req->cluster->copyup_end();  // may start a queued one here
    if (!req->slotless) req->cluster->release_slot();
    auto image_req = std::move(req);
    delete this;
    image_req->put();
  }
  // START: a slot (before any map step, so nothing blocks on a librados
  // thread later).
  ObjectRequest* start() {
    req->pending.fetch_add(1);
    if (!req->slotless) req->cluster->acquire_slot();
    return this;
  }
  // -> OBJECT
  void send_read(librados::IoCtx& data, uint64_t len, uint64_t off, uint64_t snap_id) {
    completion = librados::Rados::aio_create_completion(this, &ObjectRequest::object_done);
    state = State::OBJECT;
    io_counters().object_reads.fetch_add(1, std::memory_order_relaxed);
    int r = data.aio_read(oid, completion, read_into, len, off, snap_id);
    if (r < 0) send_failed(r);  // else `this` may be gone already
  }
  void send_write() {
    std::shared_ptr<ImageRequest> image_req = req;  // `this` may be gone once sent
    completion = librados::Rados::aio_create_completion(this, &ObjectRequest::object_done);
    state = State::OBJECT;
    const bool count = counts_when_sent;  // read now: `this` may be gone once sent
    int r;
    if (snap_seq == 0 && snaps.empty())
      r = io->aio_operate(oid, completion, &op);
    else
      r = io->aio_operate(oid, completion, &op, snap_seq, snaps);
    if (r < 0) send_failed(r);  // else `this` may be gone already
    if (count) image_req->sent_one();
  }
  // OBJECT -> COPYUP_READ: the object is absent; the parent's data for the
  // whole object (this request holds the slot).
  void copyup_read() {
    state = State::COPYUP_READ;
    req->cluster->copyup_begin([this] {
      copyup_counted = true;
      copyup_parent_data();
    });
  }
  void copyup_parent_data() {
    read_parent_runs(req->parent, req->parent_snap, copyup->runs, true,
                     [this](Result<librados::bufferlist> r) {
                       if (!r.ok()) {
                         finish(-r.error());
                         return;
                       }
                       if (!r->is_zero()) copyup_data = std::move(*r);
                       if (copyup_data.length() && !copyup->snap_maps.empty() && copyup->md)
                         update_snap_maps();
                       else
                         send_copyup();
                     });
  }
  // -> COPYUP_MAPS: the snapshots' maps first, all at once (no
  // assert_locked: snapshot maps are not the lock owner's; a map that is
  // gone, with its snapshot, is fine).
  struct MapUpdate {
    ObjectRequest* o;
    librados::AioCompletion* c = nullptr;
    std::string oid;
  };
  void update_snap_maps() {
    state = State::COPYUP_MAPS;
    const size_t n = copyup->snap_maps.size();
    maps_left = n;
    for (size_t i = 0; i < n; ++i) {
      auto st = i == 0 || !copyup->fast_diff ? object_map::EXISTS : object_map::EXISTS_CLEAN;
      librados::ObjectWriteOperation mop;
      librados::bufferlist in;
      in.append(object_map::enc_update(copyup->objno, copyup->objno + 1, st));
      mop.exec("rbd", "object_map_update", in);
      auto* u = new MapUpdate{this, nullptr, copyup->snap_maps[i]};
      u->c = librados::Rados::aio_create_completion(u, &ObjectRequest::snap_map_done);
      int r = copyup->md->aio_operate(u->oid, u->c, &mop);
      if (r < 0) {
        u->c->release();
        u->c = nullptr;
        snap_map_done(nullptr, u);  // counted as done
      }
    }
  }
  static void snap_map_done(librados::completion_t, void* arg) {
    auto* u = static_cast<MapUpdate*>(arg);
    ObjectRequest* o = u->o;
    int r = u->c ? u->c->get_return_value() : -EIO;
    if (u->c) u->c->release();
    if (r < 0 && r != -ENOENT) {  // a map that would miss the object: nothing written (librbd)
      spdlog::warn("object map {}: copy-up update of object {} failed: {}", u->oid,
                   o->copyup->objno, strerror(-r));
      int expected = 0;
      o->maps_error.compare_exchange_strong(expected, r);
    }
    delete u;
    if (o->maps_left.fetch_sub(1) != 1) return;
    if (int e = o->maps_error.load())
      o->finish(e);
    else
      o->send_copyup();
  }
  // -> COPYUP_DEEP or COPYUP
  void send_copyup() {
    if (copyup->copy_only && !copyup_data.length()) {
      finish(0);  // the parent has only zeros here: the object reads the same absent
      return;
    }
    if (copyup->copy_only && steps.map && !head_mapped) {
      // the head object is about to exist: its map entry first (a write's
      // pre-step did it already)
      head_mapped = true;
      // EXISTS, as librbd's flatten copy-up (its empty write) leaves it: the
      // op below changes the head after the snapshots, whoever else writes
      steps.map->update(copyup->objno, object_map::EXISTS, std::nullopt, [this](int go) {
        if (go < 0)
          finish(go);
        else
          send_copyup();
      });
      return;
    }
    librados::ObjectWriteOperation cop;
    const bool deep = copyup_data.length() && !snaps.empty() && !deep_sent;
    completion = librados::Rados::aio_create_completion(this, &ObjectRequest::object_done);
    int r;
    if (deep) {
      state = State::COPYUP_DEEP;
      cop.exec("rbd", "copyup", copyup_data);
      std::vector<librados::snap_t> none;
      r = io->aio_operate(oid, completion, &cop, 0, none);
    } else {
      state = State::COPYUP;
      if (copyup_data.length() && !deep_sent) cop.exec("rbd", "copyup", copyup_data);
      if (copyup->create) cop.create(false);
      copyup->ops(cop);
      if (snap_seq == 0 && snaps.empty())
        r = io->aio_operate(oid, completion, &cop);
      else
        r = io->aio_operate(oid, completion, &cop, snap_seq, snaps);
    }
    if (r < 0) send_failed(r);
  }
  // Sending failed: the completion will never fire.
  void send_failed(int r) {
    completion->release();
    finish(r);
  }
};

}  // namespace

void submit_object_read(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                        const std::string& oid, size_t part, uint64_t snap_id, HeadObjectMap* map) {
  const ObjectExtent& ext = req->part_extent(part);
  auto* o = new ObjectRequest;
  o->req = req;
  o->is_read = true;
  o->oid = oid;
  o->read_into = req->part_reply(part);
  o->part = part;
  o->start();
  if (!map) {
    o->send_read(data, ext.length, ext.offset, snap_id);
    return;
  }
  // after the writes queued for the object; an absent one reads as zeros
  librados::IoCtx* io = &data;
  uint64_t len = ext.length, off = ext.offset;
  map->read_turn(ext.object_no, [o, io, len, off, snap_id](int go) {
    if (go == HeadObjectMap::SKIP)
      o->finish(-ENOENT);
    else
      o->send_read(*io, len, off, snap_id);
  });
}

void submit_object_write(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                         const std::string& oid, librados::ObjectWriteOperation* op,
                         const cls::SnapContext& snapc, bool ignore_enoent, const MapSteps& steps,
                         std::unique_ptr<Copyup> copyup) {
  auto* o = new ObjectRequest;
  o->req = req;
  o->copyup = std::move(copyup);
  o->ignore_enoent = ignore_enoent;
  o->io = &data;
  o->oid = oid;
  o->op = std::move(*op);
  o->snap_seq = snapc.seq;
  o->snaps.assign(snapc.snaps.begin(), snapc.snaps.end());
  o->steps = steps;
  req->unsent.fetch_add(1);
  o->start();
  if (steps.map && steps.pre) {
    // Ordered from here on: every later write, discard or read of the
    // object queues behind it in the map. So the write counts as sent
    // (write-around may acknowledge it) without waiting for the update.
    o->state = ObjectRequest::State::PRE_OBJECT_MAP;
    o->counts_when_sent = false;
    std::shared_ptr<ImageRequest> image_req = req;
    steps.map->update(
        steps.objno, *steps.pre, std::nullopt,
        [o](int go) {
          if (go == HeadObjectMap::GO) {
            o->send_write();
            return;
          }
          // SKIP: nothing to do (a discard of an absent object); or the map
          // could not be kept, nor flagged invalid: the write fails
          o->finish(go == HeadObjectMap::SKIP ? 0 : go);
        },
        steps.skip_if_absent);
    image_req->sent_one();
    return;
  }
  o->send_write();
}

}  // namespace rbdfs::core
