#include "fuse/uring_protocol.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace rbdfs::ll::uring;

namespace {

// fuse_init_out as libfuse 3.14 sends it for protocol 7.x (64 bytes).
std::vector<char> init_reply(uint32_t flags, uint32_t max_write, uint16_t max_pages,
                             uint32_t flags2 = 0) {
  std::vector<char> b(64, 0);
  uint32_t major = 7, minor = 38;
  std::memcpy(&b[0], &major, 4);
  std::memcpy(&b[4], &minor, 4);
  std::memcpy(&b[12], &flags, 4);
  std::memcpy(&b[20], &max_write, 4);
  std::memcpy(&b[28], &max_pages, 2);
  std::memcpy(&b[32], &flags2, 4);
  return b;
}
uint32_t u32(const std::vector<char>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, &b[at], 4);
  return v;
}

}  // namespace

TEST_CASE("queues: one per possible CPU, from the kernel's list", "[uring]") {
  CHECK(queues_from_cpu_list("0-1\n") == 2);
  CHECK(queues_from_cpu_list("0") == 1);
  CHECK(queues_from_cpu_list("0-3,8-11") == 8);  // num_possible_cpus(), as the kernel counts
  CHECK(queues_from_cpu_list("0,5") == 2);
  CHECK(queues_from_cpu_list("") == 0);
  CHECK(queues_from_cpu_list("x") == 0);
  CHECK(queues_from_cpu_list("3-1") == 0);
  CHECK(queues_from_cpu_list("0-") == 0);
  CHECK(queues_from_cpu_list("0,,1") == 0);
}

TEST_CASE("INIT reply offers the ring and keeps the rest", "[uring]") {
  auto b = init_reply(0x1234, 1u << 20, 256, 0x5);
  const auto before = b;
  size_t payload = 0;
  REQUIRE(offer_ring(&b, 4096, &payload));
  CHECK(payload == (1u << 20));
  CHECK(u32(b, 12) == (0x1234u | (1u << 30)));  // FUSE_INIT_EXT: the kernel reads flags2
  CHECK(u32(b, 32) == (0x5u | (1u << 9)));      // FUSE_OVER_IO_URING is bit 41
  for (size_t i : {0u, 4u, 8u, 16u, 20u, 24u, 28u, 36u, 40u, 63u}) CHECK(b[i] == before[i]);

  SECTION("the payload is the largest of 8 KiB, max_write and max_pages") {
    auto c = init_reply(0, 1044480, 256);  // splice's max_write, a page short
    REQUIRE(offer_ring(&c, 4096, &payload));
    CHECK(payload == 256u * 4096);
    auto d = init_reply(0, 4096, 1);
    REQUIRE(offer_ring(&d, 4096, &payload));
    CHECK(payload == 8192);
  }
  SECTION("an unknown reply is left alone") {
    std::vector<char> short_reply(24, 0);
    CHECK_FALSE(offer_ring(&short_reply, 4096, &payload));
    auto wrong_major = init_reply(0, 1u << 20, 256);
    wrong_major[0] = 8;
    const auto copy = wrong_major;
    CHECK_FALSE(offer_ring(&wrong_major, 4096, &payload));
    CHECK(wrong_major == copy);
  }
}

TEST_CASE("entries per queue stay inside the buffer budget", "[uring]") {
  CHECK(entries_per_queue(16, 2, 1u << 20, 64u << 20) == 16);
  CHECK(entries_per_queue(32, 2, 1u << 20, 64u << 20) == 32);
  CHECK(entries_per_queue(64, 2, 1u << 20, 64u << 20) == 32);
  CHECK(entries_per_queue(16, 64, 1u << 20, 64u << 20) == 2);  // never under 2
  CHECK(entries_per_queue(16, 8, 1u << 20, 64u << 20) == 8);
  CHECK(entries_per_queue(16, 0, 1u << 20, 64u << 20) == 0);
}

TEST_CASE("a delivered request is laid out as read(2) gives it", "[uring]") {
  InHeader in{};
  size_t op = 0;
  in.len = 40 + 40 + 4096;  // WRITE: fuse_write_in, then the data
  REQUIRE(request_layout(in, 4096, &op));
  CHECK(op == 40);
  in.len = 40 + 6;  // LOOKUP: no opcode header, the name in the payload
  REQUIRE(request_layout(in, 6, &op));
  CHECK(op == 0);
  in.len = 40 + 40;  // READ: fuse_read_in only
  REQUIRE(request_layout(in, 0, &op));
  CHECK(op == 40);
  in.len = 30;  // shorter than its own header
  CHECK_FALSE(request_layout(in, 0, &op));
  in.len = 40 + 100;  // claims more payload than it has
  CHECK_FALSE(request_layout(in, 200, &op));
  in.len = 40 + 129;  // an opcode header bigger than op_in
  CHECK_FALSE(request_layout(in, 0, &op));
}
