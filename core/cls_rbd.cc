#include "core/cls_rbd.h"

#include "core/encoding.h"

namespace rbdfs::core::cls {

namespace {

constexpr size_t MAX_ENTRIES = 1u << 24;  // sanity bound on decoded counts

template <typename T>
Result<T> finish(const Decoder& d, T value) {
  if (!d.ok()) return Errno(EIO);
  return value;
}

void enc_utime(Encoder* e, const UTime& t) { e->utime(t.sec, t.nsec); }
UTime dec_utime_from(Decoder* d) {
  UTime t;
  t.sec = d->u32();
  t.nsec = d->u32();
  return t;
}

void enc_trash_spec(Encoder* e, const TrashSpec& s) {
  size_t tok = e->start_struct(2, 1);
  e->u8(s.source);
  e->str(s.name);
  enc_utime(e, s.deletion_time);
  enc_utime(e, s.deferment_end_time);
  e->u8(s.state);
  e->end_struct(tok);
}

TrashSpec dec_trash_spec_from(Decoder* d) {
  TrashSpec s;
  uint8_t v = 0, compat = 0;
  Decoder b = d->start_struct(&v, &compat);
  s.source = b.u8();
  s.name = b.str();
  s.deletion_time = dec_utime_from(&b);
  s.deferment_end_time = dec_utime_from(&b);
  if (v >= 2) s.state = b.u8();
  if (!b.ok()) d->fail();
  return s;
}

}  // namespace

std::string enc_dir_list(std::string_view start_after, uint64_t max_return) {
  Encoder e;
  e.str(start_after);
  e.u64(max_return);
  return std::move(e).bytes();
}

std::string enc_snap_id(uint64_t snap_id) {
  Encoder e;
  e.u64(snap_id);
  return std::move(e).bytes();
}

std::string enc_get_features(uint64_t snap_id, bool read_only) {
  Encoder e;
  e.u64(snap_id);
  e.u8(read_only ? 1 : 0);
  return std::move(e).bytes();
}

std::string enc_string(std::string_view s) {
  Encoder e;
  e.str(s);
  return std::move(e).bytes();
}

std::string enc_create(uint64_t size, uint8_t order, uint64_t features,
                       std::string_view object_prefix, int64_t data_pool_id) {
  Encoder e;
  e.u64(size);
  e.u8(order);
  e.u64(features);
  e.str(object_prefix);
  e.i64(data_pool_id);
  return std::move(e).bytes();
}

std::string enc_parent_attach(const ParentSpec& parent, uint64_t overlap, bool reattach) {
  Encoder e;
  size_t t = e.start_struct(1, 1);
  e.i64(parent.pool_id);
  e.str(parent.pool_namespace);
  e.str(parent.image_id);
  e.u64(parent.snap_id);
  e.end_struct(t);
  e.u64(overlap);
  e.u8(reattach ? 1 : 0);
  return std::move(e).bytes();
}

std::string enc_op_features_set(uint64_t op_features, uint64_t mask) {
  Encoder e;
  e.u64(op_features);
  e.u64(mask);
  return std::move(e).bytes();
}

std::string enc_child_attach(uint64_t snap_id, int64_t child_pool, std::string_view child_id,
                             std::string_view child_namespace) {
  Encoder e;
  e.u64(snap_id);
  size_t t = e.start_struct(2, 1);
  e.i64(child_pool);
  e.str(child_id);
  e.str(child_namespace);
  e.end_struct(t);
  return std::move(e).bytes();
}

std::string enc_remove_child(const ParentSpec& parent, std::string_view child_id) {
  Encoder e;
  e.i64(parent.pool_id);
  e.str(parent.image_id);
  e.u64(parent.snap_id);
  e.str(child_id);
  return std::move(e).bytes();
}

std::string enc_dir_add_image(std::string_view name, std::string_view id) {
  Encoder e;
  e.str(name);
  e.str(id);
  return std::move(e).bytes();
}

std::string enc_dir_remove_image(std::string_view name, std::string_view id) {
  return enc_dir_add_image(name, id);
}

std::string enc_dir_rename_image(std::string_view src, std::string_view dest, std::string_view id) {
  Encoder e;
  e.str(src);
  e.str(dest);
  e.str(id);
  return std::move(e).bytes();
}

std::string enc_set_size(uint64_t size) { return enc_snap_id(size); }

std::string enc_set_stripe_unit_count(uint64_t unit, uint64_t count) {
  Encoder e;
  e.u64(unit);
  e.u64(count);
  return std::move(e).bytes();
}

std::string enc_snapshot_add(uint64_t snap_id, std::string_view name) {
  Encoder e;
  e.str(name);
  e.u64(snap_id);
  size_t tok = e.start_struct(1, 1);  // SnapshotNamespace: user
  e.u32(SNAP_NS_USER);
  e.end_struct(tok);
  return std::move(e).bytes();
}

std::string enc_snapshot_rename(uint64_t snap_id, std::string_view new_name) {
  Encoder e;
  e.u64(snap_id);
  e.str(new_name);
  return std::move(e).bytes();
}

std::string enc_trash_add(std::string_view id, const TrashSpec& spec) {
  Encoder e;
  e.str(id);
  enc_trash_spec(&e, spec);
  return std::move(e).bytes();
}

std::string enc_trash_state_set(std::string_view id, uint8_t state, uint8_t expect_state) {
  Encoder e;
  e.str(id);
  e.u8(state);
  e.u8(expect_state);
  return std::move(e).bytes();
}

std::string enc_trash_list(std::string_view start_after, uint64_t max_return) {
  return enc_dir_list(start_after, max_return);
}

std::string enc_u8(uint8_t v) {
  Encoder e;
  e.u8(v);
  return std::move(e).bytes();
}

std::string enc_metadata_set(const std::map<std::string, std::string>& kv) {
  Encoder e;
  e.u32(static_cast<uint32_t>(kv.size()));
  for (const auto& [k, v] : kv) {
    e.str(k);
    e.str(v);  // a bufferlist: length, then bytes
  }
  return std::move(e).bytes();
}

std::string enc_metadata_list(std::string_view start_after, uint64_t max_return) {
  return enc_dir_list(start_after, max_return);
}

std::string enc_set_flags(uint64_t flags, uint64_t mask, uint64_t snap_id) {
  Encoder e;
  e.u64(flags);
  e.u64(mask);
  e.u64(snap_id);
  return std::move(e).bytes();
}

Result<std::map<std::string, std::string>> dec_string_map(std::string_view in) {
  Decoder d(in);
  std::map<std::string, std::string> out;
  uint32_t n = d.u32();
  if (n > MAX_ENTRIES || n > d.remaining() / 8) return Errno(EIO);
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    std::string k = d.str();
    std::string v = d.str();
    out.emplace(std::move(k), std::move(v));
  }
  return finish(d, std::move(out));
}

Result<std::string> dec_string(std::string_view in) {
  Decoder d(in);
  std::string s = d.str();
  return finish(d, std::move(s));
}

Result<SizeInfo> dec_size(std::string_view in) {
  Decoder d(in);
  SizeInfo s;
  s.order = d.u8();
  s.size = d.u64();
  return finish(d, s);
}

Result<FeaturesInfo> dec_features(std::string_view in) {
  Decoder d(in);
  FeaturesInfo f;
  f.features = d.u64();
  f.incompatible = d.u64();
  return finish(d, f);
}

Result<StripeInfo> dec_stripe(std::string_view in) {
  Decoder d(in);
  StripeInfo s;
  s.unit = d.u64();
  s.count = d.u64();
  return finish(d, s);
}

Result<SnapContext> dec_snapcontext(std::string_view in) {
  Decoder d(in);
  SnapContext c;
  c.seq = d.u64();
  uint32_t n = d.u32();
  if (n > d.remaining() / 8) return Errno(EIO);
  c.snaps.reserve(n);
  for (uint32_t i = 0; i < n; ++i) c.snaps.push_back(d.u64());
  return finish(d, std::move(c));
}

Result<SnapshotInfo> dec_snapshot_info(std::string_view in) {
  Decoder d(in);
  SnapshotInfo s;
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  s.id = b.u64();
  uint8_t nv = 0, ncompat = 0;
  Decoder ns = b.start_struct(&nv, &ncompat);
  s.ns_type = ns.u32();
  s.name = b.str();
  s.image_size = b.u64();
  s.timestamp = dec_utime_from(&b);
  s.child_count = b.u32();  // le32 on the wire
  if (!b.ok() || !ns.ok()) return Errno(EIO);
  return finish(d, std::move(s));
}

Result<ParentSpec> dec_parent(std::string_view in) {
  Decoder d(in);
  ParentSpec p;
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  p.pool_id = b.i64();
  p.pool_namespace = b.str();
  p.image_id = b.str();
  p.snap_id = b.u64();
  if (!b.ok()) return Errno(EIO);
  return finish(d, std::move(p));
}

Result<int64_t> dec_i64(std::string_view in) {
  Decoder d(in);
  int64_t v = d.i64();
  return finish(d, v);
}

Result<uint64_t> dec_u64(std::string_view in) {
  Decoder d(in);
  uint64_t v = d.u64();
  return finish(d, v);
}

Result<std::optional<uint64_t>> dec_optional_u64(std::string_view in) {
  Decoder d(in);
  uint8_t present = d.u8();
  std::optional<uint64_t> v;
  if (present) v = d.u64();
  if (present > 1) return Errno(EIO);
  return finish(d, v);
}

Result<uint8_t> dec_u8(std::string_view in) {
  Decoder d(in);
  uint8_t v = d.u8();
  return finish(d, v);
}

Result<UTime> dec_utime(std::string_view in) {
  Decoder d(in);
  UTime t = dec_utime_from(&d);
  return finish(d, t);
}

Result<TrashSpec> dec_trash_spec(std::string_view in) {
  Decoder d(in);
  TrashSpec s = dec_trash_spec_from(&d);
  return finish(d, std::move(s));
}

Result<std::map<std::string, TrashSpec>> dec_trash_list(std::string_view in) {
  Decoder d(in);
  std::map<std::string, TrashSpec> out;
  uint32_t n = d.u32();
  if (n > MAX_ENTRIES || n > d.remaining() / 8) return Errno(EIO);
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    std::string id = d.str();
    TrashSpec s = dec_trash_spec_from(&d);
    out.emplace(std::move(id), std::move(s));
  }
  return finish(d, std::move(out));
}

Result<std::vector<std::string>> dec_string_list(std::string_view in) {
  Decoder d(in);
  std::vector<std::string> out;
  uint32_t n = d.u32();
  if (n > MAX_ENTRIES || n > d.remaining() / 4) return Errno(EIO);
  for (uint32_t i = 0; i < n && d.ok(); ++i) out.push_back(d.str());
  return finish(d, std::move(out));
}

}  // namespace rbdfs::core::cls
