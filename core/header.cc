#include "core/header.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/names.h"

namespace rbdfs::core {

using detail::decoded;
using detail::to_bl;
using detail::view;
using librados::bufferlist;

namespace {

// One exec call inside a compound read op.
struct Exec {
  bufferlist out;
  int rval = 0;
};

void add_exec(librados::ObjectReadOperation* op, const char* method, const std::string& in, Exec* e,
              bool failok = false) {
  bufferlist inbl = to_bl(in);
  op->exec("rbd", method, inbl, &e->out, &e->rval);
  if (failok) op->set_op_flags2(LIBRADOS_OP_FLAG_FAILOK);
}

// A metadata value as a number in `base`; nullopt (ignored) unless it is
// one, whole, below 2^32.
std::optional<uint32_t> parse_owner_value(const std::string& v, int base) {
  if (v.empty() || v.size() > 11) return std::nullopt;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, base);
  if (*end != '\0' || v[0] == '-' || n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(n);
}

void read_owner(const std::map<std::string, std::string>& m, ImageHeader* h) {
  for (const auto& [k, v] : m) {
    if (k == OWNER_KEY_UID)
      h->owner_uid = parse_owner_value(v, 10);
    else if (k == OWNER_KEY_GID)
      h->owner_gid = parse_owner_value(v, 10);
    else if (k == OWNER_KEY_MODE)
      h->owner_mode = parse_owner_value(v, 8);
  }
  if (h->owner_mode) *h->owner_mode &= 0777;  // never setuid, setgid or sticky
}

}  // namespace

const cls::SnapshotInfo* ImageHeader::find_snap(const std::string& n) const {
  for (const auto& s : snapshots)
    if (s.name == n && s.ns_type == cls::SNAP_NS_USER) return &s;
  return nullptr;
}

const cls::SnapshotInfo* ImageHeader::find_snap_id(uint64_t snap_id) const {
  for (const auto& s : snapshots)
    if (s.id == snap_id) return &s;
  return nullptr;
}

Result<uint64_t> ImageHeader::size_at(uint64_t snap_id) const {
  if (snap_id == cls::NOSNAP) return size;
  const cls::SnapshotInfo* s = find_snap_id(snap_id);
  if (!s) return Errno(ENOENT);
  return s->image_size;
}

uint64_t ImageHeader::overlap_at(uint64_t snap_id) const {
  if (!parent.exists()) return 0;
  auto sz = size_at(snap_id);
  if (!sz.ok()) return 0;
  if (snap_id == cls::NOSNAP) return std::min(parent_overlap, *sz);
  auto it = snap_parent_overlap.find(snap_id);
  return it == snap_parent_overlap.end() ? 0 : std::min(it->second, *sz);
}

Result<ImageHeader> read_header(librados::IoCtx& md, const std::string& pool,
                                const std::string& name, const std::string& id) {
  const std::string oid = "rbd_header." + id;
  for (int attempt = 0;; ++attempt) {
    ImageHeader h;
    h.pool = pool;
    h.name = name;
    h.id = id;

    // One round trip for what every image has.
    Exec size, prefix, feat_ro, snapc, flags;
    librados::ObjectReadOperation op1;
    add_exec(&op1, "get_size", cls::enc_snap_id(cls::NOSNAP), &size);
    add_exec(&op1, "get_object_prefix", "", &prefix);
    add_exec(&op1, "get_features", cls::enc_get_features(cls::NOSNAP, true), &feat_ro);
    add_exec(&op1, "get_snapcontext", "", &snapc);
    add_exec(&op1, "get_flags", cls::enc_snap_id(cls::NOSNAP), &flags);
    int r = md.operate(oid, &op1, nullptr);
    if (r < 0) return Errno::from_rados(r);

    auto sz = decoded(cls::dec_size(view(size.out)), "get_size", oid);
    auto pf = decoded(cls::dec_string(view(prefix.out)), "get_object_prefix", oid);
    auto ft = decoded(cls::dec_features(view(feat_ro.out)), "get_features", oid);
    auto sc = decoded(cls::dec_snapcontext(view(snapc.out)), "get_snapcontext", oid);
    auto fl = decoded(cls::dec_u64(view(flags.out)), "get_flags", oid);
    if (!sz || !pf || !ft || !sc || !fl) return Errno(EIO);
    h.size = sz->size;
    h.order = sz->order;
    h.object_prefix = *pf;
    h.features = ft->features;
    h.snapc = *sc;
    h.flags = *fl;
    if (h.order < 12 || h.order > 32 || h.object_prefix.empty()) {
      spdlog::error("image {}/{}: implausible header (order {}, prefix '{}')", pool, name, h.order,
                    h.object_prefix);
      return Errno(EIO);
    }

    // Refuse what we cannot read.
    uint64_t cannot_read = ft->incompatible & ~FEATURES_READ_SUPPORTED;
    if (cannot_read) {
      h.unreadable_reason = "features rbdfs cannot read: " + feature_names(cannot_read);
      h.read_only_reason = h.unreadable_reason;
      h.layout = Layout::make(1ull << h.order, 0, 0);
      return h;
    }

    // Second round trip: optional parts.
    Exec stripe, data_pool, parent, ctime, mtime, meta;
    librados::ObjectReadOperation op2;
    bool want_stripe = h.features & FEATURE_STRIPINGV2;
    bool want_dp = h.features & FEATURE_DATA_POOL;
    if (want_stripe) add_exec(&op2, "get_stripe_unit_count", "", &stripe);
    if (want_dp) add_exec(&op2, "get_data_pool", "", &data_pool);
    add_exec(&op2, "parent_get", "", &parent, true);
    add_exec(&op2, "get_create_timestamp", "", &ctime, true);
    add_exec(&op2, "get_modify_timestamp", "", &mtime, true);
    // rbdfs's own metadata keys sort together, right after the prefix
    add_exec(&op2, "metadata_list", cls::enc_metadata_list(OWNER_KEY_PREFIX, 8), &meta, true);
    // snapshot records, in one go
    std::vector<Exec> snaps(h.snapc.snaps.size());
    for (size_t i = 0; i < snaps.size(); ++i)
      add_exec(&op2, "snapshot_get", cls::enc_snap_id(h.snapc.snaps[i]), &snaps[i], true);
    r = md.operate(oid, &op2, nullptr);
    if (r < 0) return Errno::from_rados(r);

    uint64_t su = 0, sc_count = 0;
    if (want_stripe) {
      auto st = decoded(cls::dec_stripe(view(stripe.out)), "get_stripe_unit_count", oid);
      if (!st) return Errno(EIO);
      su = st->unit;
      sc_count = st->count;
    }
    h.layout = Layout::make(1ull << h.order, su, sc_count);
    if (!h.layout.valid()) {
      spdlog::error("image {}/{}: invalid striping (object size {}, unit {}, count {})", pool, name,
                    h.layout.object_size, su, sc_count);
      return Errno(EIO);
    }
    if (want_dp) {
      auto dp = decoded(cls::dec_i64(view(data_pool.out)), "get_data_pool", oid);
      if (!dp) return Errno(EIO);
      h.data_pool_id = *dp;
    }
    if (parent.rval == 0) {
      auto p = decoded(cls::dec_parent(view(parent.out)), "parent_get", oid);
      if (!p) return Errno(EIO);
      h.parent = *p;
    }
    if (ctime.rval == 0) {
      if (auto t = cls::dec_utime(view(ctime.out))) h.create_timestamp = *t;
    }
    if (mtime.rval == 0) {
      if (auto t = cls::dec_utime(view(mtime.out))) h.modify_timestamp = *t;
    }
    if (meta.rval == 0) {
      if (auto m = cls::dec_string_map(view(meta.out)); m.ok()) read_owner(*m, &h);
    }
    bool raced = false;
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (snaps[i].rval == -ENOENT) {
        raced = true;  // removed between the two reads
        break;
      }
      if (snaps[i].rval < 0) return Errno::from_rados(snaps[i].rval);
      auto s = decoded(cls::dec_snapshot_info(view(snaps[i].out)), "snapshot_get", oid);
      if (!s) return Errno(EIO);
      h.snapshots.push_back(*s);
    }
    if (raced) {
      if (attempt < 5) continue;
      return Errno(EAGAIN);
    }
    std::sort(h.snapshots.begin(), h.snapshots.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });

    if (h.parent.exists()) {
      // Third round trip, clones only: the overlap at the head and at each
      // snapshot (parent_overlap_get; nullopt where there is no parent).
      librados::ObjectReadOperation op3;
      std::vector<Exec> ov(1 + h.snapshots.size());
      add_exec(&op3, "parent_overlap_get", cls::enc_snap_id(cls::NOSNAP), &ov[0]);
      for (size_t i = 0; i < h.snapshots.size(); ++i)
        add_exec(&op3, "parent_overlap_get", cls::enc_snap_id(h.snapshots[i].id), &ov[i + 1], true);
      r = md.operate(oid, &op3, nullptr);
      if (r < 0) return Errno::from_rados(r);
      for (size_t i = 0; i < ov.size(); ++i) {
        if (i > 0 && ov[i].rval == -ENOENT) {  // removed meanwhile
          raced = true;
          break;
        }
        if (ov[i].rval < 0) return Errno::from_rados(ov[i].rval);
        auto o = decoded(cls::dec_optional_u64(view(ov[i].out)), "parent_overlap_get", oid);
        if (!o) return Errno(EIO);
        if (i == 0) {
          h.parent_at_head = o->has_value();
          h.parent_overlap = o->value_or(0);
        } else if (o->has_value()) {
          h.snap_parent_overlap[h.snapshots[i - 1].id] = **o;
        }
      }
      if (raced) {
        if (attempt < 5) continue;
        return Errno(EAGAIN);
      }
    }
    if (h.features & FEATURE_MIGRATING) h.unreadable_reason = "image is being migrated";
    uint64_t cannot_write = h.features & ~FEATURES_WRITE_SUPPORTED;
    if (!h.unreadable_reason.empty())
      h.read_only_reason = h.unreadable_reason;
    else if (cannot_write)
      h.read_only_reason = "features rbdfs cannot write safely yet: " + feature_names(cannot_write);
    return h;
  }
}

}  // namespace rbdfs::core
