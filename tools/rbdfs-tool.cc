// rbdfs-tool: drives rbdfs' core without a mount, for tests and debugging.
//
//   rbdfs-tool [-c CONF] [--id ID] [-k KEYRING] [-m MONS] [--timeout S] CMD ARGS
//
//   pools                          pools with the rbd application
//   ls POOL [--page-size N]        images (dir_list pages of N, default 1024)
//   info POOL/IMAGE                header as rbdfs reads it
//   cat POOL/IMAGE[@SNAP] [OFF [LEN]]   bytes to stdout
//   put POOL/IMAGE OFF             stdin written at OFF (image must be big enough)
//   discard POOL/IMAGE OFF LEN
//   create POOL/IMAGE SIZE [--order N] [--features LIST] [--stripe-unit N --stripe-count N]
//   resize POOL/IMAGE SIZE
//   rm POOL/IMAGE | rename POOL/A B | trash-mv POOL/IMAGE | trash-ls POOL
//   trash-restore POOL ID [NAME]
//   snap-ls POOL/IMAGE | snap-create POOL/IMAGE@SNAP | snap-rm POOL/IMAGE@SNAP
//   snap-rename POOL/IMAGE@SNAP NEW
//   lock-info POOL/IMAGE           who holds the exclusive lock (cls lock get_info)
//   object-map POOL/IMAGE[@SNAP]   the object map, one digit per object
//                                  (0 nonexistent, 1 exists, 2 pending, 3 exists-clean)
//
// Exit status: 0 on success, 1 on an error (one line on stderr with errno
// name), 2 on bad usage.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/exclusive_lock.h"
#include "core/object_map.h"
#include "core/features.h"
#include "core/pool.h"
#include "core/names.h"
#include "core/rados.h"

using namespace rbdfs::core;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "rbdfs-tool: %s\n", why.c_str());
  std::exit(2);
}

int fail(const std::string& what, const Errno& e) {
  std::fprintf(stderr, "rbdfs-tool: %s: %s (%s)\n", what.c_str(), e.message().c_str(),
               strerrorname_np(e.code()));
  return 1;
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k')
    mul = 1ull << 10, ++end;
  else if (*end == 'M')
    mul = 1ull << 20, ++end;
  else if (*end == 'G')
    mul = 1ull << 30, ++end;
  if (*end) return false;
  *out = v * mul;
  return true;
}

uint64_t need_u64(const std::string& s) {
  uint64_t v = 0;
  if (!parse_u64(s, &v)) usage("not a number: " + s);
  return v;
}

struct Spec {
  std::string pool, image, snap;
};

Spec parse_spec(const std::string& s, bool allow_snap) {
  Spec sp;
  auto slash = s.find('/');
  if (slash == std::string::npos) usage("expected POOL/IMAGE, got " + s);
  sp.pool = s.substr(0, slash);
  sp.image = s.substr(slash + 1);
  auto at = sp.image.find('@');
  if (at != std::string::npos) {
    if (!allow_snap) usage("no snapshot allowed here: " + s);
    sp.snap = sp.image.substr(at + 1);
    sp.image = sp.image.substr(0, at);
  }
  return sp;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  spdlog::set_pattern("rbdfs-tool: %l: %v");
  ClusterConfig cfg;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "-c" || a == "--conf")
      cfg.conf = val();
    else if (a == "--id" || a == "-i")
      cfg.id = val();
    else if (a == "-n" || a == "--name")
      cfg.name = val();
    else if (a == "-k" || a == "--keyring")
      cfg.keyring = val();
    else if (a == "-m" || a == "--mon-host")
      cfg.mon_host = val();
    else if (a == "--cluster")
      cfg.cluster = val();
    else if (a == "--timeout")
      cfg.connect_timeout = static_cast<int>(need_u64(val()));
    else if (a == "-v")
      spdlog::set_level(spdlog::level::debug);
    else
      args.push_back(a);
  }
  if (args.empty()) usage("no command (see the header of tools/rbdfs-tool.cc)");
  const std::string cmd = args[0];
  auto arg = [&](size_t i) -> const std::string& {
    if (i >= args.size()) usage("missing argument for " + cmd);
    return args[i];
  };

  std::string msg;
  auto cluster = Cluster::connect(cfg, &msg);
  if (!cluster.ok()) {
    std::fprintf(stderr, "rbdfs-tool: %s\n", msg.c_str());
    return 1;
  }
  auto c = *cluster;

  if (cmd == "pools") {
    auto pools = c->list_rbd_pools();
    if (!pools.ok()) return fail("listing pools", pools.err());
    for (const auto& p : *pools) std::cout << p << "\n";
    return 0;
  }

  auto open_pool = [&](const std::string& name) {
    auto p = Pool::open(c, name);
    if (!p.ok()) std::exit(fail("pool " + name, p.err()));
    return *p;
  };
  auto open_image = [&](const Spec& sp, bool ro) {
    auto pool = open_pool(sp.pool);
    Image::OpenOptions o;
    o.read_only = ro;
    o.watch = false;
    auto img = pool->open_image(sp.image, o);
    if (!img.ok()) std::exit(fail("image " + sp.pool + "/" + sp.image, img.err()));
    return *img;
  };

  if (cmd == "ls") {
    uint64_t page = 1024;
    if (args.size() > 3 && args[2] == "--page-size") page = need_u64(args[3]);
    auto imgs = open_pool(arg(1))->list_images(page);
    if (!imgs.ok()) return fail("listing " + arg(1), imgs.err());
    for (const auto& [name, id] : *imgs) std::cout << name << "\n";
    return 0;
  }
  if (cmd == "info") {
    auto img = open_image(parse_spec(arg(1), false), true);
    auto h = img->header();
    std::cout << "name: " << h->name << "\nid: " << h->id << "\nsize: " << h->size
              << "\norder: " << int(h->order) << "\nobject_prefix: " << h->object_prefix
              << "\nfeatures: " << feature_names(h->features)
              << "\nstripe_unit: " << h->layout.stripe_unit
              << "\nstripe_count: " << h->layout.stripe_count
              << "\ndata_pool_id: " << h->data_pool_id << "\nsnap_seq: " << h->snapc.seq
              << "\nsnapshots: " << h->snapshots.size() << "\nwritable: "
              << (h->read_only_reason.empty() ? "yes" : "no (" + h->read_only_reason + ")") << "\n";
    return 0;
  }
  if (cmd == "cat") {
    Spec sp = parse_spec(arg(1), true);
    auto img = open_image(sp, true);
    auto h = img->header();
    uint64_t snap = cls::NOSNAP, size = h->size;
    if (!sp.snap.empty()) {
      const auto* s = h->find_snap(sp.snap);
      if (!s) return fail("snapshot " + sp.snap, Errno(ENOENT));
      snap = s->id;
      size = s->image_size;
    }
    uint64_t off = args.size() > 2 ? need_u64(args[2]) : 0;
    uint64_t len = args.size() > 3 ? need_u64(args[3]) : (size > off ? size - off : 0);
    const uint64_t chunk = 16ull << 20;
    while (len > 0) {
      uint64_t n = std::min(chunk, len);
      auto data = img->read(snap, off, n);
      if (!data.ok()) return fail("read", data.err());
      if (data->empty()) break;
      std::fwrite(data->data(), 1, data->size(), stdout);
      off += data->size();
      len -= data->size();
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (cmd == "put") {
    auto img = open_image(parse_spec(arg(1), false), false);
    uint64_t off = need_u64(arg(2));
    std::vector<char> buf(16u << 20);
    for (;;) {
      size_t n = std::fread(buf.data(), 1, buf.size(), stdin);
      if (n == 0) break;
      Status s = img->write(off, buf.data(), n);
      if (!s.ok()) return fail("write at " + std::to_string(off), s.err());
      off += n;
    }
    Status s = img->flush();
    return s.ok() ? 0 : fail("flush", s.err());
  }
  if (cmd == "lat") {  // lat POOL/IMAGE N: N random 4 KiB writes then reads, one at a time
    auto img = open_image(parse_spec(arg(1), false), false);
    uint64_t n = need_u64(arg(2));
    uint64_t blocks = img->header()->size / 4096;
    std::string buf(4096, 'x');
    for (int pass = 0; pass < 2; ++pass) {
      auto t0 = std::chrono::steady_clock::now();
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t off = (i * 2654435761u % blocks) * 4096;
        Status s = pass == 0 ? img->write(off, buf.data(), buf.size())
                   : img->read(cls::NOSNAP, off, 4096).ok() ? Status()
                                                            : Status(Errno(EIO));
        if (!s.ok()) return fail("lat", s.err());
      }
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      std::cout << (pass == 0 ? "write" : "read") << " avg " << us / static_cast<long>(n)
                << " us\n";
    }
    return 0;
  }
  if (cmd == "discard") {
    auto img = open_image(parse_spec(arg(1), false), false);
    Status s = img->discard(need_u64(arg(2)), need_u64(arg(3)));
    return s.ok() ? 0 : fail("discard", s.err());
  }
  if (cmd == "resize") {
    auto img = open_image(parse_spec(arg(1), false), false);
    Status s = img->resize(need_u64(arg(2)));
    return s.ok() ? 0 : fail("resize", s.err());
  }
  if (cmd == "create") {
    Spec sp = parse_spec(arg(1), false);
    CreateSpec cs;  // what `rbd create` would make on this cluster, unless told
    auto d = c->create_defaults();
    if (!d.ok()) return fail("rbd_default_* options", d.err());
    cs.features = d->features;
    cs.order = d->order;
    cs.stripe_unit = d->stripe_unit;
    cs.stripe_count = d->stripe_count;
    cs.size = need_u64(arg(2));
    for (size_t i = 3; i < args.size(); ++i) {
      if (args[i] == "--order")
        cs.order = static_cast<uint8_t>(need_u64(arg(++i)));
      else if (args[i] == "--stripe-unit")
        cs.stripe_unit = need_u64(arg(++i));
      else if (args[i] == "--stripe-count")
        cs.stripe_count = need_u64(arg(++i));
      else if (args[i] == "--features") {
        std::string err;
        if (!parse_feature_list(arg(++i), &cs.features, &err)) usage(err);
      } else
        usage("unknown create option " + args[i]);
    }
    Status s = open_pool(sp.pool)->create_image(sp.image, cs);
    return s.ok() ? 0 : fail("create " + arg(1), s.err());
  }
  if (cmd == "rm") {
    Spec sp = parse_spec(arg(1), false);
    Status s = open_pool(sp.pool)->remove_image(sp.image);
    return s.ok() ? 0 : fail("rm " + arg(1), s.err());
  }
  if (cmd == "rename") {
    Spec sp = parse_spec(arg(1), false);
    Status s = open_pool(sp.pool)->rename_image(sp.image, arg(2));
    return s.ok() ? 0 : fail("rename " + arg(1), s.err());
  }
  if (cmd == "trash-mv") {
    Spec sp = parse_spec(arg(1), false);
    auto id = open_pool(sp.pool)->trash_move(sp.image);
    if (!id.ok()) return fail("trash-mv " + arg(1), id.err());
    std::cout << *id << "\n";
    return 0;
  }
  if (cmd == "trash-ls") {
    auto l = open_pool(arg(1))->trash_list();
    if (!l.ok()) return fail("trash-ls", l.err());
    for (const auto& [id, spec] : *l) std::cout << id << " " << spec.name << "\n";
    return 0;
  }
  if (cmd == "trash-restore") {
    Status s = open_pool(arg(1))->trash_restore(arg(2), args.size() > 3 ? args[3] : "");
    return s.ok() ? 0 : fail("trash-restore", s.err());
  }
  if (cmd == "snap-ls") {
    auto img = open_image(parse_spec(arg(1), false), true);
    for (const auto& s : img->header()->snapshots)
      std::cout << s.id << " " << s.name << " " << s.image_size << "\n";
    return 0;
  }
  if (cmd == "lock-info" || cmd == "object-map") {
    Spec sp = parse_spec(arg(1), cmd == "object-map");
    auto pool = open_pool(sp.pool);
    auto id = pool->image_id(sp.image);
    if (!id.ok()) return fail("image " + sp.image, id.err());
    if (cmd == "lock-info") {
      auto info = read_lock_info(ioctx(*pool), header_object(*id));
      if (!info.ok()) return fail(cmd, info.err());
      std::cout << "type: " << int(info->type) << "\ntag: " << info->tag << "\n";
      for (const auto& l : info->lockers)
        std::cout << "locker: client." << l.entity.num << " cookie: " << l.cookie
                  << " address: " << l.address << "\n";
      return 0;
    }
    std::optional<uint64_t> snap;
    if (!sp.snap.empty()) {
      auto img = open_image(sp, true);
      const auto* s = img->header()->find_snap(sp.snap);
      if (!s) return fail("snapshot " + sp.snap, Errno(ENOENT));
      snap = s->id;
    }
    auto map = load_object_map(ioctx(*pool), *id, snap);
    if (!map.ok()) return fail(cmd, map.err());
    std::string digits;
    for (uint64_t i = 0; i < map->size(); ++i)
      digits.push_back(static_cast<char>('0' + map->get(i)));
    std::cout << digits << "\n";
    return 0;
  }
  if (cmd == "snap-create" || cmd == "snap-rm" || cmd == "snap-rename") {
    Spec sp = parse_spec(arg(1), true);
    if (sp.snap.empty()) usage("expected POOL/IMAGE@SNAP");
    auto img = open_image(sp, false);
    Status s;
    if (cmd == "snap-create") {
      auto id = img->snap_create(sp.snap);
      if (!id.ok()) return fail(cmd, id.err());
      std::cout << *id << "\n";
      return 0;
    }
    s = cmd == "snap-rm" ? img->snap_remove(sp.snap) : img->snap_rename(sp.snap, arg(2));
    return s.ok() ? 0 : fail(cmd, s.err());
  }
  usage("unknown command " + cmd);
}
