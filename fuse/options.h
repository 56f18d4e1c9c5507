// Command line of the rbdfs binary.
//
//   rbdfs [SOURCE] MOUNTPOINT [options]
//
// Every long option also works as `-o key=value` (or `-o key` for flags), so
// that mount(8), mount.fuse3 and fstab can pass them. Generic mount options
// (rw, ro, dev, suid, ...) and libfuse's own (allow_other, ...) are passed on
// to libfuse; fstab-only words (_netdev, defaults, auto, nofail, ...) are
// dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rbdfs::ll {

enum class DeleteMode { TRASH, REMOVE };

struct Options {
  std::string source = "ceph";  // cluster name, shown as fsname
  std::string mountpoint;

  // cluster connection
  std::string conf;          // -c/--conf
  std::string cluster;       // --cluster (defaults to SOURCE)
  std::string id;            // -i/--id
  std::string name;          // -n/--name client.NAME
  std::string keyring;       // -k/--keyring
  std::string mon_host;      // -m/--mon-host
  int connect_timeout = 10;  // seconds

  // what to show and how
  std::vector<std::string> pools;  // -p/--pool, repeatable
  bool read_only = false;
  // Images created through the mount; empty / 0: the cluster's defaults
  // (rbd_default_features, rbd_default_order), as `rbd create`.
  std::string image_features;
  uint64_t object_size = 0;
  // Their data objects' pool (`rbd create --data-pool`); empty: the
  // cluster's rbd_default_data_pool, else the image's own pool.
  std::string data_pool;
  DeleteMode delete_mode = DeleteMode::TRASH;
  bool trash_force = false;  // rm in .trash/ before the deferment end time
  // Owner and permission bits of what has none stored (directories, images
  // never chowned or chmodded through a mount); -1: the mounting user's.
  int64_t uid = -1;
  int64_t gid = -1;
  unsigned umask = 022;
  unsigned max_threads = 64;
  unsigned writearound_mb = 64;  // --writearound: early-acknowledged writes, MiB
  int gather_reads = 16;         // --gather-reads: reads under way before gathering; -1: off
  bool io_uring = false;         // --io-uring: FUSE over io_uring when the kernel offers it
  unsigned io_uring_depth = 16;  // --io-uring-depth: entries per CPU queue

  // process
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  std::string log_level = "info";
  std::string log_file;

  bool help = false;
  bool version = false;

  // options for libfuse, each a "-o" word (e.g. "allow_other", "max_read=…")
  std::vector<std::string> fuse_opts;
};

// Parses argv. On failure returns false and sets *error to one line that
// says what was wrong.
bool parse_options(int argc, const char* const* argv, Options* out, std::string* error);

// The text of --help.
std::string usage_text(const char* prog);

// "4M", "64K", "1G", "4194304" -> bytes; false when malformed.
bool parse_size(const std::string& text, uint64_t* out);

// "layering,striping" or a number -> feature bits; false when unknown.
bool parse_features(const std::string& text, uint64_t* out, std::string* error);

}  // namespace rbdfs::ll
