// Sequential write combining (core/write_combiner.h): the cp pattern, and
// random write sequences replayed through the plan against a model image.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "core/write_combiner.h"

using namespace rbdfs::core;

namespace {

// Drives plan_combine as Image does: one held extent (with, per byte, the
// id of the write it came from), sends applied to `sent` in order.
struct Sim {
  uint64_t os;
  std::vector<int> sent;  // per image byte: the write id that landed last (0: none)
  std::optional<ByteRange> held;
  std::vector<int> held_ids;  // per byte of `held`
  uint64_t last_end = UINT64_MAX;
  std::vector<ByteRange> sends;  // every object write, in order

  Sim(uint64_t object_size, uint64_t size) : os(object_size), sent(size, 0) {}

  void send(ByteRange r, const int* ids) {
    // one send never spans objects unless it is direct (split later by the striper)
    sends.push_back(r);
    for (uint64_t i = 0; i < r.len; ++i) sent[r.off + i] = ids[i];
  }
  void send_held() {
    if (!held) return;
    send(*held, held_ids.data());
    held.reset();
    held_ids.clear();
  }
  void write(int id, uint64_t off, uint64_t len) {
    CombinePlan p = plan_combine(held, off, len, os, last_end);
    last_end = off + len;
    std::vector<int> ids(len, id);
    REQUIRE(p.join + p.direct.len + p.hold.len == len);
    if (p.send_held_first) {
      REQUIRE(p.join == 0);
      send_held();
    }
    if (p.join) {
      REQUIRE(held);
      REQUIRE(off == held->end());
      held->len += p.join;
      held_ids.insert(held_ids.end(), ids.begin(), ids.begin() + static_cast<long>(p.join));
      REQUIRE(held->off / os == (held->end() - 1) / os);  // one object
      if (p.held_full) {
        REQUIRE(held->end() % os == 0);
        send_held();
      } else {
        REQUIRE(held->end() % os != 0);
      }
    }
    if (p.direct.len) {
      REQUIRE(p.direct.off == off + p.join);
      send(p.direct, ids.data() + p.join);
    }
    if (p.hold.len) {
      REQUIRE_FALSE(held);  // sent first, or never there
      REQUIRE(p.hold.end() == off + len);
      REQUIRE(p.hold.off / os == (p.hold.end() - 1) / os);
      REQUIRE(p.hold.end() % os != 0);
      held = p.hold;
      held_ids.assign(ids.end() - static_cast<long>(p.hold.len), ids.end());
    }
  }
};

}  // namespace

TEST_CASE("cp's pieces of 1 MiB or a page less (max_write with splice) become one write per object",
          "[combine]") {
  const uint64_t os = 4ull << 20, size = 16 * os;
  for (uint64_t piece : {1ull << 20, (1ull << 20) - 4096}) {
    Sim s(os, size);
    int id = 0;
    for (uint64_t off = 0; off < size; off += piece)
      s.write(++id, off, std::min(piece, size - off));
    s.send_held();
    REQUIRE(s.sends.size() == 16);
    for (uint64_t i = 0; i < 16; ++i) CHECK(s.sends[i] == ByteRange{i * os, os});
  }
}

TEST_CASE("a write that does not continue the held extent sends it first", "[combine]") {
  const uint64_t os = 1 << 16;
  auto p = plan_combine(ByteRange{0, 100}, 5000, 10, os, 100);
  CHECK(p.send_held_first);
  CHECK(p.join == 0);
  CHECK(p.direct == ByteRange{5000, 10});  // random: not held
  CHECK(p.hold.len == 0);
  // a continuation that crosses into the next objects: the held object is
  // completed, whole objects go direct, the tail is held
  p = plan_combine(ByteRange{100, 100}, 200, 3 * os, os, 200);
  CHECK_FALSE(p.send_held_first);
  CHECK(p.join == os - 200);
  CHECK(p.held_full);
  CHECK(p.direct == ByteRange{os, 2 * os});
  CHECK(p.hold == ByteRange{3 * os, 200});
  // nothing held, a write at an object's start that ends inside it: held
  p = plan_combine(std::nullopt, 2 * os, 10, os, 0);
  CHECK(p.hold == ByteRange{2 * os, 10});
  CHECK(p.direct.len == 0);
  // whole objects are never held
  p = plan_combine(std::nullopt, 2 * os, os, os, 0);
  CHECK(p.direct == ByteRange{2 * os, os});
  CHECK(p.hold.len == 0);
}

TEST_CASE("combining random write sequences lands what the writes wrote", "[combine]") {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    const uint64_t os = 1ull << (8 + rng() % 4), size = os * 8;
    Sim s(os, size);
    std::vector<int> model(size, 0);
    uint64_t cursor = 0;
    for (int id = 1; id <= 200; ++id) {
      uint64_t off, len;
      if (rng() % 3) {  // mostly sequential runs, of any size
        off = cursor % size;
        len = 1 + rng() % (2 * os);
      } else {
        off = rng() % size;
        len = 1 + rng() % os;
      }
      len = std::min(len, size - off);
      s.write(id, off, len);
      for (uint64_t i = 0; i < len; ++i) model[off + i] = id;
      cursor = off + len;
      if (rng() % 20 == 0) s.send_held();  // a flush, a read of the range
    }
    s.send_held();
    REQUIRE(s.sent == model);
  }
}
