#include <catch2/catch.hpp>

#include "core/features.h"
#include "fuse/options.h"

using rbdfs::ll::Options;
using rbdfs::ll::parse_options;

namespace {
bool parse(std::vector<const char*> args, Options* o, std::string* err) {
  args.insert(args.begin(), "rbdfs");
  return parse_options(static_cast<int>(args.size()), args.data(), o, err);
}
}  // namespace

TEST_CASE("help and version need no mountpoint", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"--help"}, &o, &err));
  CHECK(o.help);
  REQUIRE(parse({"-V"}, &o, &err));
  CHECK(o.version);
  CHECK(rbdfs::ll::usage_text("rbdfs").find("--mon-host") != std::string::npos);
  CHECK(rbdfs::ll::usage_text("rbdfs").find("--mountpoint") == std::string::npos);
}

TEST_CASE("one positional is the mountpoint, two are source and mountpoint", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/mnt/x"}, &o, &err));
  CHECK(o.mountpoint == "/mnt/x");
  CHECK(o.source == "ceph");
  CHECK(o.cluster == "ceph");
  REQUIRE(parse({"prod", "/mnt/y"}, &o, &err));
  CHECK(o.source == "prod");
  CHECK(o.cluster == "prod");
  CHECK(o.mountpoint == "/mnt/y");
  CHECK_FALSE(parse({}, &o, &err));
  CHECK(err == "missing MOUNTPOINT");
  CHECK_FALSE(parse({"a", "b", "c"}, &o, &err));
}

TEST_CASE("mount.fuse3 style -o options", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"ceph", "/mnt", "-o",
                 "rw,conf=/etc/ceph/x.conf,id=admin,dev,suid,_netdev,pool=rbd,"
                 "pool=two,allow_other,read_only,object_size=64K"},
                &o, &err));
  CHECK(o.conf == "/etc/ceph/x.conf");
  CHECK(o.id == "admin");
  CHECK(o.pools == std::vector<std::string>{"rbd", "two"});
  CHECK(o.read_only);
  CHECK(o.object_size == 65536);
  CHECK(o.fuse_opts == std::vector<std::string>{"rw", "dev", "suid", "allow_other", "ro"});
}

TEST_CASE("short options and their errors", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse(
      {"/m", "-c", "c.conf", "-i", "bob", "-k", "k", "-m", "127.0.0.1:6789", "-p", "rbd", "-f"}, &o,
      &err));
  CHECK(o.conf == "c.conf");
  CHECK(o.id == "bob");
  CHECK(o.keyring == "k");
  CHECK(o.mon_host == "127.0.0.1:6789");
  CHECK(o.foreground);
  CHECK_FALSE(o.debug);

  CHECK_FALSE(parse({"/m", "--object-size", "3M"}, &o, &err));
  CHECK(err.find("power of two") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--image-features", "layering,bogus"}, &o, &err));
  CHECK(err.find("bogus") != std::string::npos);
  CHECK_FALSE(parse({"/m", "-o", "conf"}, &o, &err));
  CHECK(err.find("needs a value") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--name", "admin"}, &o, &err));
  CHECK_FALSE(parse({"/m", "-i", "a", "-n", "client.a"}, &o, &err));
  CHECK_FALSE(parse({"/m", "--no-such-option"}, &o, &err));
  CHECK_FALSE(parse({"/m", "--delete", "burn"}, &o, &err));
  CHECK_FALSE(parse({"/m", "--log-level", "loud"}, &o, &err));
  REQUIRE(parse({"/m", "-d"}, &o, &err));
  CHECK(o.debug);
  CHECK(o.foreground);
  CHECK(o.log_level == "debug");
}

TEST_CASE("sizes and features", "[options]") {
  uint64_t v = 0;
  CHECK(rbdfs::ll::parse_size("4M", &v));
  CHECK(v == 4u << 20);
  CHECK(rbdfs::ll::parse_size("64K", &v));
  CHECK(v == 65536);
  CHECK(rbdfs::ll::parse_size("123", &v));
  CHECK(v == 123);
  CHECK_FALSE(rbdfs::ll::parse_size("", &v));
  CHECK_FALSE(rbdfs::ll::parse_size("4Q", &v));
  CHECK_FALSE(rbdfs::ll::parse_size("x", &v));
  std::string err;
  CHECK(rbdfs::core::parse_feature_list("layering,striping", &v, &err));
  CHECK(v == 3);
  CHECK(rbdfs::core::parse_feature_list("61", &v, &err));
  CHECK(v == 61);
  CHECK(rbdfs::core::feature_names(61) ==
        "layering, exclusive-lock, object-map, fast-diff, deep-flatten");
  CHECK(rbdfs::core::feature_names(1ull << 40) == "0x10000000000");
}

TEST_CASE("write-around budget", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/m"}, &o, &err));
  CHECK(o.writearound_mb == 64);
  REQUIRE(parse({"/m", "--writearound", "0"}, &o, &err));
  CHECK(o.writearound_mb == 0);
  REQUIRE(parse({"/m", "-o", "writearound=16"}, &o, &err));
  CHECK(o.writearound_mb == 16);
  CHECK_FALSE(parse({"/m", "--writearound", "5000"}, &o, &err));
  CHECK(err.find("--writearound") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--writearound", "-1"}, &o, &err));
}

TEST_CASE("read gathering depth", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/m"}, &o, &err));
  CHECK(o.gather_reads == 16);
  REQUIRE(parse({"/m", "-o", "gather-reads=0"}, &o, &err));
  CHECK(o.gather_reads == 0);
  REQUIRE(parse({"/m", "--gather-reads", "off"}, &o, &err));
  CHECK(o.gather_reads == -1);
  CHECK_FALSE(parse({"/m", "--gather-reads", "-3"}, &o, &err));
  CHECK(err.find("--gather-reads") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--gather-reads", "lots"}, &o, &err));
  CHECK(err.find("--gather-reads") != std::string::npos);
}

TEST_CASE("FUSE over io_uring: off unless asked, depth bounded", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/m"}, &o, &err));
  CHECK_FALSE(o.io_uring);
  CHECK(o.io_uring_depth == 16);
  REQUIRE(parse({"/m", "-o", "io_uring,io_uring_depth=32"}, &o, &err));  // as fstab has it
  CHECK(o.io_uring);
  CHECK(o.io_uring_depth == 32);
  for (const auto& w : o.fuse_opts) CHECK(w.find("io_uring") == std::string::npos);
  REQUIRE(parse({"/m", "--io-uring"}, &o, &err));
  CHECK(o.io_uring);
  CHECK_FALSE(parse({"/m", "--io-uring-depth", "1"}, &o, &err));
  CHECK(err.find("--io-uring-depth") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--io-uring-depth", "257"}, &o, &err));
  CHECK_FALSE(parse({"/m", "-o", "io_uring=1"}, &o, &err));
  CHECK(err.find("takes no value") != std::string::npos);
}

TEST_CASE("ownership defaults: uid=, gid=, umask= (as sshfs), trash_force", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/m"}, &o, &err));
  CHECK(o.uid == -1);
  CHECK(o.gid == -1);
  CHECK(o.umask == 022);
  CHECK_FALSE(o.trash_force);
  Options p;
  REQUIRE(parse({"/m", "-o", "uid=107,gid=108,umask=0077,allow_other,trash_force"}, &p, &err));
  CHECK(p.uid == 107);
  CHECK(p.gid == 108);
  CHECK(p.umask == 077);
  CHECK(p.trash_force);
  CHECK(p.fuse_opts == std::vector<std::string>{"allow_other"});  // ours never reach libfuse
  CHECK_FALSE(parse({"/m", "-o", "uid=qemu"}, &o, &err));
  CHECK(err.find("--uid") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--gid", "-5"}, &o, &err));
  CHECK_FALSE(parse({"/m", "-o", "umask=0999"}, &o, &err));
  CHECK(err.find("--umask") != std::string::npos);
  CHECK_FALSE(parse({"/m", "-o", "umask"}, &o, &err));
}

TEST_CASE("data pool of created images", "[options]") {
  Options o;
  std::string err;
  REQUIRE(parse({"/m"}, &o, &err));
  CHECK(o.data_pool.empty());
  REQUIRE(parse({"/m", "--data-pool", "ecpool"}, &o, &err));
  CHECK(o.data_pool == "ecpool");
  REQUIRE(parse({"/m", "-o", "rw,data_pool=ec2,object_size=64K"}, &o, &err));
  CHECK(o.data_pool == "ec2");
  CHECK(o.object_size == 65536);
  REQUIRE(parse({"/m", "-o", "data-pool=ec3"}, &o, &err));
  CHECK(o.data_pool == "ec3");
  CHECK_FALSE(parse({"/m", "-o", "data_pool"}, &o, &err));
  CHECK(err.find("needs a value") != std::string::npos);
  CHECK_FALSE(parse({"/m", "--data-pool", ""}, &o, &err));
  CHECK(err.find("--data-pool") != std::string::npos);
  CHECK(rbdfs::ll::usage_text("rbdfs").find("--data-pool") != std::string::npos);
}
