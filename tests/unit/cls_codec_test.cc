// cls "rbd" encoders and decoders: known byte layouts (taken from a real
// Pacific OSD's replies), round trips, and every truncation of a valid reply
// failing cleanly with EIO.
#include <catch2/catch.hpp>

#include <random>

#include "core/cls_rbd.h"
#include "core/encoding.h"

using namespace rbdfs::core;

namespace {
std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

template <typename F>
void every_truncation_fails(const std::string& good, F decode) {
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n << " of " << good.size());
    auto r = decode(std::string_view(good.data(), n));
    CHECK_FALSE(r.ok());
    CHECK(r.error() == EIO);
  }
}
}  // namespace

TEST_CASE("snapshot_get reply of a real OSD", "[codec]") {
  // rbd snap create rbd/t2@s1 on Ceph 16.2.15; child_count is le32
  std::string reply = unhex(
      "01012c0000000400000000000000010104000000000000000200000073310000a000"
      "00000000657f076ba041cd0c00000000");
  auto s = cls::dec_snapshot_info(reply);
  REQUIRE(s.ok());
  CHECK(s->id == 4);
  CHECK(s->ns_type == cls::SNAP_NS_USER);
  CHECK(s->name == "s1");
  CHECK(s->image_size == 10u << 20);
  CHECK(s->timestamp.sec == 0x6b077f65);
  CHECK(s->child_count == 0);
  every_truncation_fails(reply, [](std::string_view v) { return cls::dec_snapshot_info(v); });
}

TEST_CASE("get_size puts the order first", "[codec]") {
  Encoder e;
  e.u8(22);
  e.u64(10485760);
  auto s = cls::dec_size(e.bytes());
  REQUIRE(s.ok());
  CHECK(s->order == 22);
  CHECK(s->size == 10485760);
  every_truncation_fails(e.bytes(), [](std::string_view v) { return cls::dec_size(v); });
}

TEST_CASE("dir_list map and its input", "[codec]") {
  CHECK(cls::enc_dir_list("", 1024) == unhex("000000000004000000000000"));
  Encoder e;
  e.u32(2);
  e.str("a");
  e.str("id1");
  e.str("b");
  e.str("id2");
  auto m = cls::dec_string_map(e.bytes());
  REQUIRE(m.ok());
  CHECK(m->at("a") == "id1");
  CHECK(m->at("b") == "id2");
  every_truncation_fails(e.bytes(), [](std::string_view v) { return cls::dec_string_map(v); });
  // a count far beyond the bytes present is refused without allocating
  Encoder huge;
  huge.u32(0xffffffff);
  CHECK(cls::dec_string_map(huge.bytes()).error() == EIO);
}

TEST_CASE("snap context", "[codec]") {
  Encoder e;
  e.u64(9);
  e.u32(2);
  e.u64(9);
  e.u64(4);
  auto c = cls::dec_snapcontext(e.bytes());
  REQUIRE(c.ok());
  CHECK(c->seq == 9);
  CHECK(c->snaps == std::vector<uint64_t>{9, 4});
  every_truncation_fails(e.bytes(), [](std::string_view v) { return cls::dec_snapcontext(v); });
}

TEST_CASE("versioned structs skip fields added by newer encoders", "[codec]") {
  Encoder e;
  size_t t = e.start_struct(7, 1);
  e.i64(3);
  e.str("");
  e.str("imgid");
  e.u64(12);
  e.u64(0xdead);  // a field from the future
  e.end_struct(t);
  auto p = cls::dec_parent(e.bytes());
  REQUIRE(p.ok());
  CHECK(p->pool_id == 3);
  CHECK(p->image_id == "imgid");
  CHECK(p->snap_id == 12);
  every_truncation_fails(e.bytes(), [](std::string_view v) { return cls::dec_parent(v); });
}

TEST_CASE("trash spec round trip", "[codec]") {
  cls::TrashSpec s;
  s.name = "img";
  s.deletion_time = {100, 5};
  s.deferment_end_time = {200, 6};
  s.state = cls::TRASH_STATE_MOVING;
  std::string in = cls::enc_trash_add("abc", s);
  Decoder d(in);
  CHECK(d.str() == "abc");
  std::string rest = in.substr(7);
  auto back = cls::dec_trash_spec(rest);
  REQUIRE(back.ok());
  CHECK(back->name == "img");
  CHECK(back->deletion_time.sec == 100);
  CHECK(back->deferment_end_time.nsec == 6);
  CHECK(back->state == cls::TRASH_STATE_MOVING);
  every_truncation_fails(rest, [](std::string_view v) { return cls::dec_trash_spec(v); });
}

TEST_CASE("namespace_list and image metadata", "[codec]") {
  // list<string>{"a", "bc"}
  std::string l = unhex("02000000") + unhex("01000000") + "a" + unhex("02000000") + "bc";
  auto names = cls::dec_string_list(l);
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"a", "bc"});
  every_truncation_fails(l, [](std::string_view v) { return cls::dec_string_list(v); });
  CHECK(cls::enc_u8(cls::DIR_STATE_ADD_DISABLED) == unhex("01"));
  // metadata_set: map<string, bufferlist>, sorted by key
  CHECK(cls::enc_metadata_set({{"rbdfs.uid", "7"}, {"a", ""}}) ==
        unhex("02000000") + unhex("01000000") + "a" + unhex("00000000") + unhex("09000000") +
            "rbdfs.uid" + unhex("01000000") + "7");
  auto m = cls::dec_string_map(cls::enc_metadata_set({{"k", "v"}}));
  REQUIRE(m.ok());
  CHECK(m->at("k") == "v");
}

TEST_CASE("create and snapshot_add inputs", "[codec]") {
  std::string c = cls::enc_create(1 << 20, 22, 1, "rbd_data.x", -1);
  CHECK(c == unhex("0000100000000000") + unhex("16") + unhex("0100000000000000") +
                 unhex("0a000000") + "rbd_data.x" + unhex("ffffffffffffffff"));
  std::string s = cls::enc_snapshot_add(4, "s1");
  CHECK(s == unhex("020000007331") + unhex("0400000000000000") + unhex("01010400000000000000"));
}

TEST_CASE("decoders survive random bytes", "[codec]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    (void)cls::dec_snapshot_info(junk);
    (void)cls::dec_string_map(junk);
    (void)cls::dec_snapcontext(junk);
    (void)cls::dec_parent(junk);
    (void)cls::dec_trash_list(junk);
    (void)cls::dec_string_list(junk);
  }
  SUCCEED("no crash, no out-of-bounds read (ASan build checks)");
}

TEST_CASE("parent_overlap_get: an overlap, or none", "[codec]") {
  Encoder e;
  e.u8(1);
  e.u64(5 << 20);
  auto o = cls::dec_optional_u64(e.bytes());
  REQUIRE(o.ok());
  CHECK(*o == std::optional<uint64_t>(5u << 20));
  every_truncation_fails(e.bytes(), [](std::string_view v) { return cls::dec_optional_u64(v); });
  auto none = cls::dec_optional_u64(std::string(1, '\0'));
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  CHECK(cls::dec_optional_u64(std::string(1, '\2')).error() == EIO);
}

TEST_CASE("clone encoders: the bytes cls_rbd decodes", "[codec]") {
  cls::ParentSpec p;
  p.pool_id = 2;
  p.image_id = "ab";
  p.snap_id = 7;
  // parent_attach: ENCODE_START(1,1) {s64 pool, ns, image, u64 snap}, u64 overlap, bool
  std::string a = cls::enc_parent_attach(p, 4096, false);
  REQUIRE(a.size() == 6 + 8 + 4 + 4 + 2 + 8 + 8 + 1);
  Decoder d(a);
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  CHECK(v == 1);
  CHECK(compat == 1);
  CHECK(b.i64() == 2);
  CHECK(b.str() == "");
  CHECK(b.str() == "ab");
  CHECK(b.u64() == 7);
  CHECK(d.u64() == 4096);
  CHECK(d.u8() == 0);
  CHECK(d.at_end());
  // child_attach: u64 snap, then ENCODE_START(2,1) {s64 pool, image id, ns}
  std::string c = cls::enc_child_attach(7, 3, "cid", "");
  Decoder dc(c);
  CHECK(dc.u64() == 7);
  Decoder bc = dc.start_struct(&v, &compat);
  CHECK(v == 2);
  CHECK(compat == 1);
  CHECK(bc.i64() == 3);
  CHECK(bc.str() == "cid");
  CHECK(bc.str() == "");
  CHECK(dc.at_end());
  // remove_child (v1): pool, image, snap, child id; op_features_set: two u64
  std::string rc = cls::enc_remove_child(p, "cid");
  Decoder dr(rc);
  CHECK(dr.i64() == 2);
  CHECK(dr.str() == "ab");
  CHECK(dr.u64() == 7);
  CHECK(dr.str() == "cid");
  CHECK(dr.at_end());
  CHECK(cls::enc_op_features_set(2, 2).size() == 16);
}
