// The striper against a naive byte-at-a-time model of RBD striping.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "core/names.h"
#include "core/striper.h"

using namespace rbdfs::core;

namespace {

struct Loc {
  uint64_t objno, off;
};

// Where one image byte lives, straight from the definition.
Loc naive(const Layout& l, uint64_t byte) {
  uint64_t su = l.stripe_unit, sc = l.stripe_count, spo = l.object_size / su;
  uint64_t blockno = byte / su, stripeno = blockno / sc, stripepos = blockno % sc;
  uint64_t objno = (stripeno / spo) * sc + stripepos;
  return {objno, (stripeno % spo) * su + byte % su};
}

Layout random_layout(std::mt19937_64& rng) {
  uint64_t order = 12 + rng() % 5;  // 4K..64K objects keep the model fast
  uint64_t os = 1ull << order;
  uint64_t su = os >> (rng() % 4);  // os, os/2, os/4, os/8
  if (su < 512) su = os;
  uint64_t sc = 1 + rng() % 5;
  return Layout::make(os, su, sc);
}

void check_against_model(const Layout& l, uint64_t off, uint64_t len) {
  auto exts = map_extent(l, off, len);
  // Every buffer byte is covered once, at the model's place.
  std::vector<int> covered(len, 0);
  uint64_t total = 0;
  uint64_t prev_obj = 0;
  bool first = true;
  for (const auto& e : exts) {
    if (!first) REQUIRE(e.object_no > prev_obj);  // one extent per object, sorted
    first = false;
    prev_obj = e.object_no;
    uint64_t in_obj = 0, blen = 0;
    for (const auto& b : e.buffer) {
      for (uint64_t i = 0; i < b.length; ++i) {
        uint64_t byte = off + b.buffer_offset + i;
        Loc loc = naive(l, byte);
        REQUIRE(loc.objno == e.object_no);
        REQUIRE(loc.off == e.offset + in_obj + i);
        REQUIRE(covered[b.buffer_offset + i] == 0);
        covered[b.buffer_offset + i] = 1;
        REQUIRE(object_to_image(l, loc.objno, loc.off) == byte);
        REQUIRE(object_of(l, byte) == loc.objno);
      }
      in_obj += b.length;
      blen += b.length;
    }
    REQUIRE(blen == e.length);
    REQUIRE(e.offset + e.length <= l.object_size);
    total += e.length;
  }
  REQUIRE(total == len);
}

}  // namespace

TEST_CASE("layout normalisation follows librbd", "[striper]") {
  CHECK(Layout::make(4 << 20, 0, 0) == Layout{4 << 20, 4 << 20, 1});
  CHECK(Layout::make(4 << 20, 65536, 1) == Layout{4 << 20, 4 << 20, 1});
  CHECK(Layout::make(1 << 20, 65536, 4) == Layout{1 << 20, 65536, 4});
  CHECK(Layout{1 << 20, 65536, 4}.valid());
  CHECK_FALSE(Layout{1 << 20, 3000, 4}.valid());
  CHECK_FALSE(Layout{1 << 20, 2 << 20, 4}.valid());
}

TEST_CASE("default layout is plain chunking", "[striper]") {
  Layout l = Layout::make(4 << 20, 0, 0);
  auto e = map_extent(l, (4 << 20) - 4, 11);
  REQUIRE(e.size() == 2);
  CHECK(e[0].object_no == 0);
  CHECK(e[0].offset == (4 << 20) - 4);
  CHECK(e[0].length == 4);
  CHECK(e[1].object_no == 1);
  CHECK(e[1].offset == 0);
  CHECK(e[1].length == 7);
  CHECK(e[1].buffer[0].buffer_offset == 4);
  CHECK(object_name("rbd_data.abc", 0x1f) == "rbd_data.abc.000000000000001f");
  CHECK(map_extent(l, 123, 0).empty());
}

TEST_CASE("fancy striping: 64K x 4 on 1M objects", "[striper]") {
  Layout l = Layout::make(1 << 20, 65536, 4);
  // byte 65536 is the second stripe unit: object 1, offset 0
  auto e = map_extent(l, 65536, 1);
  REQUIRE(e.size() == 1);
  CHECK(e[0].object_no == 1);
  CHECK(e[0].offset == 0);
  // 4 units later we are back in object 0 at offset 64K
  e = map_extent(l, 4 * 65536, 1);
  CHECK(e[0].object_no == 0);
  CHECK(e[0].offset == 65536);
  // the second object set starts at 4 MiB
  e = map_extent(l, 4 << 20, 1);
  CHECK(e[0].object_no == 4);
  // a 1 MiB read covers four objects, four units each
  e = map_extent(l, 0, 1 << 20);
  REQUIRE(e.size() == 4);
  for (const auto& x : e) {
    CHECK(x.length == 262144);
    CHECK(x.buffer.size() == 4);
  }
  CHECK(object_count(l, 5000123) == 8);
  CHECK(object_count(l, 0) == 0);
  CHECK(object_count(l, 1) == 1);
  CHECK(object_count(l, 65537) == 2);
}

TEST_CASE("striper matches the byte model over random layouts and ranges", "[striper]") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
  for (int iter = 0; iter < 40; ++iter) {
    Layout l = random_layout(rng);
    INFO("os=" << l.object_size << " su=" << l.stripe_unit << " sc=" << l.stripe_count);
    uint64_t span = l.period() * 3;
    uint64_t off = rng() % span;
    uint64_t len = 1 + rng() % (l.period() + 7);
    INFO("off=" << off << " len=" << len);
    check_against_model(l, off, len);
  }
}

TEST_CASE("object count and valid length match the byte model", "[striper]") {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 60; ++iter) {
    Layout l = random_layout(rng);
    uint64_t size = rng() % (l.period() * 3 + 1);
    INFO("os=" << l.object_size << " su=" << l.stripe_unit << " sc=" << l.stripe_count
               << " size=" << size);
    std::map<uint64_t, uint64_t> valid;  // objno -> highest offset + 1
    for (uint64_t b = 0; b < size; ++b) {
      Loc loc = naive(l, b);
      valid[loc.objno] = std::max(valid[loc.objno], loc.off + 1);
    }
    uint64_t count = valid.empty() ? 0 : valid.rbegin()->first + 1;
    REQUIRE(object_count(l, size) == count);
    for (uint64_t o = 0; o < count + l.stripe_count; ++o) {
      uint64_t expect = valid.count(o) ? valid[o] : 0;
      REQUIRE(object_valid_length(l, o, size) == expect);
    }
  }
}

TEST_CASE("object_image_extents inverts the byte model", "[striper]") {
  std::mt19937_64 rng(GENERATE(11u, 12u, 13u));
  for (int iter = 0; iter < 60; ++iter) {
    Layout l = random_layout(rng);
    uint64_t objno = rng() % (3 * l.stripe_count);
    uint64_t off = rng() % l.object_size;
    uint64_t len = rng() % (l.object_size + 5);  // may run past the object's end
    INFO("os=" << l.object_size << " su=" << l.stripe_unit << " sc=" << l.stripe_count
               << " obj=" << objno << " off=" << off << " len=" << len);
    auto runs = object_image_extents(l, objno, off, len);
    uint64_t expect_off = off, covered = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      REQUIRE(r.length > 0);
      REQUIRE(r.object_offset == expect_off);  // contiguous, in object order
      if (i > 0) {                             // merged wherever the image is contiguous
        REQUIRE(runs[i - 1].image_offset + runs[i - 1].length < r.image_offset);
      }
      for (uint64_t k = 0; k < r.length; k += 1 + rng() % 97) {
        Loc loc = naive(l, r.image_offset + k);
        REQUIRE(loc.objno == objno);
        REQUIRE(loc.off == r.object_offset + k);
      }
      expect_off += r.length;
      covered += r.length;
    }
    REQUIRE(covered == std::min(len, l.object_size - off));
  }
}
