// rbdfs-exercise: a seeded random exerciser. It applies the same random
// operations to an RBD image (through a mounted rbdfs or through core) and to
// a local model (a sparse file), and compares them: every read at once, and
// every --check-every operations the whole image against the model, against
// a full read through the target and against `rbd export` (the oracle).
//
//   rbdfs-exercise --seed N --image POOL/IMAGE [--ops N] [--check-every N]
//                  [--target core | --target mount:/MNT/POOL/IMAGE]
//                  [-c CONF] [--id ID] [--model-dir DIR]
//                  [--max-len BYTES] [--max-size BYTES] [--no-snaps] [--no-direct]
//                  [--from-image]
//                  [--op-timeout S] [-v]
//
//   --seed N         the run: the same seed (and image layout and starting
//                    size) gives the same operations every time
//   --image P[/N]/I  the image (N: its RBD namespace); it exists, holds zeros (e.g. fresh from
//                    `rbd create`) and may not be bigger than --max-size
//   --ops N          operations to run (default 1000); a prefix of a longer
//                    run is the same operations, so --ops minimises
//   --check-every N  full comparison every N operations (default 50; 0: only
//                    at the end)
//   --target core    Image::read/write/discard/resize/flush/snap_* (default)
//   --target mount:PATH  the image's file on a mounted rbdfs, PATH =
//                    MNT/POOL/IMAGE; snapshots are MNT/POOL/.snap/IMAGE/NAME
//   -c CONF, --id ID the cluster, for core and for the rbd commands (-c also
//                    sets CEPH_CONF)
//   --model-dir DIR  where the model files go (default $TMPDIR, then /tmp);
//                    removed on success, kept on failure
//   --max-len B      longest write/read/punch (default 3M)
//   --max-size B     no operation reaches past this (default 24M)
//   --no-snaps       no snapshot operations
//   --no-direct      no O_DIRECT second descriptor (mount) / aligned writer
//   --from-image     the image need not hold zeros: the model starts as `rbd
//                    export` of it (a clone: its parent's data)
//   --op-timeout S   an operation or check that takes longer than S seconds
//                    is reported as a hang and ends the run (default 300, 0:
//                    none)
//   -v               print every operation on stderr
//
// Operations, by weighted random choice from std::mt19937_64(seed): write,
// read, truncate (down or up), punch hole (PUNCH_HOLE|KEEP_SIZE), zero range
// (ZERO_RANGE with or without KEEP_SIZE), allocate (fallocate mode 0, with
// or without KEEP_SIZE: may only grow), fsync, close+reopen (sometimes with
// O_TRUNC), lseek SEEK_DATA/SEEK_HOLE (mount only: a hole must read as
// zeros), snapshot create (at most 3 live: the oldest is removed first;
// names are reused), snapshot read (a range or all of it, against the model
// saved when it was taken), snapshot remove, and 4096-aligned writes and
// reads through a second, O_DIRECT, descriptor (core: plain writes and
// reads), and bursts of 2-6 disjoint writes at once from threads (all
// O_DIRECT or all through the first descriptor; core: Image::write and
// grow_to from several threads). Through core, writes and fallocate that extend call grow_to first,
// as the filesystem does. Offsets are aimed at stripe-unit, object and
// object-set edges and at the current end; writes may extend the image.
// Sizes are compared after every op that may change them. Byte o written by
// op n holds (o % 251 + n) mod 256, so a wrong byte tells which op (mod 256)
// wrote it. Snapshots take about a second each (a new osdmap).
//
// Exit status: 0 and one summary line when everything matched; 1 with a
// report on stderr (seed, op, first differing offset and bytes, the last 20
// ops, the command that replays it) on a mismatch or an unexpected error;
// 2 on bad usage.
#include <cstdlib>
#include <string>

#include "tools/exercise/exerciser.h"

using namespace rbdfs::exercise;

namespace {

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) o.argv.emplace_back(argv[i]);
  auto need = [&](int& i, const std::string& a) -> std::string {
    if (i + 1 >= argc) usage(a + " needs a value");
    return argv[++i];
  };
  auto need_u64 = [&](int& i, const std::string& a) {
    std::string v = need(i, a);
    uint64_t x = 0;
    if (!parse_u64(v, &x)) usage(a + ": not a number: " + v);
    return x;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed") {
      o.seed = need_u64(i, a);
      o.seed_given = true;
    } else if (a == "--ops") {
      o.ops = need_u64(i, a);
    } else if (a == "--check-every") {
      o.check_every = need_u64(i, a);
    } else if (a == "--target") {
      std::string t = need(i, a);
      if (t == "core")
        o.mount_path.clear();
      else if (t.rfind("mount:", 0) == 0 && t.size() > 6)
        o.mount_path = t.substr(6);
      else
        usage("--target core | mount:MNT/POOL/IMAGE, got " + t);
    } else if (a == "-c" || a == "--conf") {
      o.cluster.conf = need(i, a);
    } else if (a == "--id" || a == "-i") {
      o.cluster.id = need(i, a);
    } else if (a == "--image") {
      std::string s = need(i, a);
      auto slash = s.rfind('/');  // POOL/IMAGE or POOL/NAMESPACE/IMAGE
      if (slash == std::string::npos || slash == 0 || slash + 1 == s.size())
        usage("--image POOL[/NAMESPACE]/IMAGE, got " + s);
      o.pool = s.substr(0, slash);
      o.image = s.substr(slash + 1);
    } else if (a == "--model-dir") {
      o.model_dir = need(i, a);
    } else if (a == "--max-len") {
      o.max_len = need_u64(i, a);
    } else if (a == "--max-size") {
      o.max_size = need_u64(i, a);
    } else if (a == "--no-snaps") {
      o.snaps = false;
    } else if (a == "--no-direct") {
      o.direct = false;
    } else if (a == "--from-image") {
      o.from_image = true;
    } else if (a == "-v") {
      o.verbose = true;
    } else if (a == "--op-timeout") {
      o.op_timeout = need_u64(i, a);
    } else {
      usage("unknown argument " + a);
    }
  }
  if (!o.seed_given) usage("--seed N is required");
  if (o.pool.empty()) usage("--image POOL/IMAGE is required");
  if (o.max_len == 0) usage("--max-len must be at least 1");
  if (o.model_dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    o.model_dir = t && *t ? t : "/tmp";
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  spdlog::set_pattern("rbdfs-exercise: %l: %v");
  Options o = parse_args(argc, argv);
  if (!o.cluster.conf.empty()) ::setenv("CEPH_CONF", o.cluster.conf.c_str(), 1);
  Exerciser ex(o);
  return ex.run();
}
