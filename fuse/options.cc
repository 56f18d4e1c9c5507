#include "options.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <sstream>

#include "core/features.h"

namespace po = boost::program_options;

namespace rbdfs::ll {

namespace {

// fstab/mount words that mean nothing to a FUSE filesystem
bool is_dropped_mount_word(const std::string& w) {
  static const char* const dropped[] = {"_netdev", "defaults", "auto",   "noauto",
                                        "user",    "nouser",   "users",  "nofail",
                                        "owner",   "group",    "comment"};
  for (const char* d : dropped)
    if (w == d) return true;
  return w.rfind("x-", 0) == 0 || w.rfind("comment=", 0) == 0;
}

// Our own options, by their long name. For each, whether it takes a value.
struct OwnOption {
  const char* name;
  bool takes_value;
};
// clang-format off
const OwnOption OWN_OPTIONS[] = {
    {"conf", true},         {"cluster", true},     {"id", true},
    {"name", true},         {"keyring", true},     {"mon-host", true},
    {"pool", true},         {"read-only", false},  {"image-features", true},
    {"object-size", true},  {"delete", true},      {"log-level", true},
    {"log-file", true},     {"max-threads", true}, {"connect-timeout", true},
    {"foreground", false},  {"debug", false},      {"writearound", true},
    {"uid", true},          {"gid", true},         {"umask", true},
    {"trash-force", false}, {"data-pool", true},   {"gather-reads", true},
    {"io-uring", false},    {"io-uring-depth", true},
};
// clang-format on

const OwnOption* find_own(const std::string& key) {
  for (const auto& o : OWN_OPTIONS)
    if (key == o.name) return &o;
  return nullptr;
}

std::string normalize_key(std::string k) {
  for (char& c : k)
    if (c == '_') c = '-';
  if (k == "mon-addr" || k == "mon-hosts") k = "mon-host";
  return k;
}

// Splits "-o a,b=c" words: ours become "--key=value" argv entries, the rest
// go to libfuse.
bool expand_o(const std::string& list, std::vector<std::string>* argv_out, Options* opts,
              std::string* error) {
  std::stringstream ss(list);
  std::string word;
  while (std::getline(ss, word, ',')) {
    if (word.empty()) continue;
    if (is_dropped_mount_word(word)) continue;
    auto eq = word.find('=');
    std::string key = normalize_key(word.substr(0, eq));
    if (const OwnOption* own = find_own(key)) {
      if (own->takes_value && eq == std::string::npos) {
        *error = "option -o " + key + " needs a value (" + key + "=...)";
        return false;
      }
      if (!own->takes_value && eq != std::string::npos) {
        *error = "option -o " + key + " takes no value";
        return false;
      }
      argv_out->push_back("--" + key + (eq == std::string::npos ? "" : word.substr(eq)));
      continue;
    }
    if (word == "ro") opts->read_only = true;
    opts->fuse_opts.push_back(word);
  }
  return true;
}

po::options_description own_options() {
  po::options_description d("rbdfs options");
  // clang-format off
  d.add_options()
    ("help,h", "show this help and exit")
    ("version,V", "show the version and exit")
    ("conf,c", po::value<std::string>(), "ceph.conf path (default: $CEPH_CONF, then /etc/ceph/$cluster.conf)")
    ("cluster", po::value<std::string>(), "cluster name (default: SOURCE, else ceph)")
    ("id,i", po::value<std::string>(), "client id, e.g. admin (client.ID)")
    ("name,n", po::value<std::string>(), "client name, e.g. client.admin")
    ("keyring,k", po::value<std::string>(), "keyring file")
    ("mon-host,m", po::value<std::string>(), "monitor addresses, comma separated")
    ("connect-timeout", po::value<int>(), "seconds to wait for the cluster (default 10)")
    ("pool,p", po::value<std::vector<std::string>>(), "show only this pool (repeatable)")
    ("read-only", "mount read-only")
    ("image-features", po::value<std::string>(), "features of images created through the mount (default: the cluster's rbd_default_features)")
    ("object-size", po::value<std::string>(), "object size of images created through the mount (default 4M)")
    ("data-pool", po::value<std::string>(), "pool for the data of images created through the mount, e.g. an erasure-coded one (default: the cluster's rbd_default_data_pool)")
    ("delete", po::value<std::string>(), "what unlink does: trash (default) or remove")
    ("trash-force", "rm in .trash/ removes images whose deferment time has not passed")
    ("uid", po::value<std::string>(), "owner of files and directories without one stored (default: the mounting user)")
    ("gid", po::value<std::string>(), "group of files and directories without one stored (default: the mounting group)")
    ("umask", po::value<std::string>(), "octal permission bits cleared where no mode is stored (default 022)")
    ("max-threads", po::value<unsigned>(), "FUSE worker threads (default 64)")
    ("writearound", po::value<unsigned>(), "MiB of writes acknowledged before RADOS has them, until fsync (default 64; 0: none)")
    ("gather-reads", po::value<std::string>(), "other full-size pieces under way on an image before the pieces of a large read go to RADOS as one read (default 16; 0: always; off: never)")
    ("io-uring", "take requests through FUSE over io_uring when the kernel offers it (Linux 6.14+, fuse module parameter enable_uring=Y), else through /dev/fuse")
    ("io-uring-depth", po::value<unsigned>(), "ring entries per CPU queue with --io-uring (default 16, 2 to 256; fewer when the 64 MiB of all queues' buffers cannot hold that many)")
    ("foreground,f", "stay in the foreground")
    ("debug,d", "debug: foreground, debug logging, libfuse debug output")
    ("single-thread,s", "single-threaded FUSE loop")
    ("log-level", po::value<std::string>(), "trace, debug, info, warn, error (default info)")
    ("log-file", po::value<std::string>(), "log to this file (default: stderr in the foreground, syslog when daemonized)")
    ("source", po::value<std::string>(), "")
    ("mountpoint", po::value<std::string>(), "");
  // clang-format on
  return d;
}

}  // namespace

bool parse_size(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &pos, 10);
  } catch (...) {
    return false;
  }
  std::string suffix = text.substr(pos);
  uint64_t mul = 1;
  if (suffix.empty() || suffix == "B")
    mul = 1;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB")
    mul = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB")
    mul = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB")
    mul = 1ull << 30;
  else if (suffix == "T" || suffix == "TiB")
    mul = 1ull << 40;
  else
    return false;
  if (v > UINT64_MAX / mul) return false;
  *out = v * mul;
  return true;
}

bool parse_features(const std::string& text, uint64_t* out, std::string* error) {
  return core::parse_feature_list(text, out, error);
}

bool parse_options(int argc, const char* const* argv, Options* out, std::string* error) {
  Options opts;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o") {
      if (i + 1 >= argc) {
        *error = "option -o needs a value";
        return false;
      }
      if (!expand_o(argv[++i], &args, &opts, error)) return false;
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      if (!expand_o(a.substr(2), &args, &opts, error)) return false;
    } else {
      args.push_back(a);
    }
  }

  po::options_description desc = own_options();
  po::positional_options_description pos;
  pos.add("source", 1).add("mountpoint", 1);
  po::variables_map vm;
  try {
    // With one positional it is the mountpoint: shift it ourselves.
    std::vector<std::string> positionals;
    auto parsed = po::command_line_parser(args)
                      .options(desc)
                      .positional(pos)
                      .style(po::command_line_style::unix_style)
                      .run();
    po::store(parsed, vm);
    for (const auto& o : parsed.options)
      if (o.position_key >= 2) {
        *error = "unexpected argument: " + o.value.front();
        return false;
      }
    po::notify(vm);
  } catch (const po::error& e) {
    *error = e.what();
    return false;
  }

  opts.help = vm.count("help") > 0;
  opts.version = vm.count("version") > 0;
  if (opts.help || opts.version) {
    *out = std::move(opts);
    return true;
  }

  if (vm.count("source") && vm.count("mountpoint")) {
    opts.source = vm["source"].as<std::string>();
    opts.mountpoint = vm["mountpoint"].as<std::string>();
  } else if (vm.count("source")) {
    opts.mountpoint = vm["source"].as<std::string>();
  } else {
    *error = "missing MOUNTPOINT";
    return false;
  }
  // "rbdfs#ceph" style sources (old fstab form) and "client.x@cluster"
  if (auto at = opts.source.find('@'); at != std::string::npos) {
    if (opts.name.empty()) opts.name = opts.source.substr(0, at);
    opts.source = opts.source.substr(at + 1);
  }
  if (opts.source.empty()) opts.source = "ceph";

  auto str = [&](const char* k, std::string* dst) {
    if (vm.count(k)) *dst = vm[k].as<std::string>();
  };
  str("conf", &opts.conf);
  str("cluster", &opts.cluster);
  str("id", &opts.id);
  str("name", &opts.name);
  str("keyring", &opts.keyring);
  str("mon-host", &opts.mon_host);
  str("log-level", &opts.log_level);
  str("log-file", &opts.log_file);
  str("data-pool", &opts.data_pool);
  if (opts.cluster.empty()) opts.cluster = opts.source;
  if (vm.count("data-pool") && opts.data_pool.empty()) {
    *error = "--data-pool needs a pool name";
    return false;
  }
  if (!opts.id.empty() && !opts.name.empty()) {
    *error = "give either --id or --name, not both";
    return false;
  }
  if (!opts.name.empty() && opts.name.rfind("client.", 0) != 0) {
    *error = "--name must look like client.NAME, got '" + opts.name + "'";
    return false;
  }
  if (vm.count("connect-timeout")) {
    opts.connect_timeout = vm["connect-timeout"].as<int>();
    if (opts.connect_timeout <= 0) {
      *error = "--connect-timeout must be a positive number of seconds";
      return false;
    }
  }
  if (vm.count("pool")) opts.pools = vm["pool"].as<std::vector<std::string>>();
  if (vm.count("read-only")) opts.read_only = true;
  // the kernel enforces it too (after any "rw" that mount(8) passed)
  if (opts.read_only) opts.fuse_opts.push_back("ro");
  if (vm.count("image-features")) {
    opts.image_features = vm["image-features"].as<std::string>();
    uint64_t f = 0;
    if (!parse_features(opts.image_features, &f, error)) return false;
  }
  if (vm.count("object-size")) {
    std::string s = vm["object-size"].as<std::string>();
    uint64_t v = 0;
    if (!parse_size(s, &v) || v < 4096 || v > (1ull << 25) || (v & (v - 1))) {
      *error = "--object-size must be a power of two from 4K to 32M, got '" + s + "'";
      return false;
    }
    opts.object_size = v;
  }
  if (vm.count("delete")) {
    std::string d = vm["delete"].as<std::string>();
    if (d == "trash")
      opts.delete_mode = DeleteMode::TRASH;
    else if (d == "remove")
      opts.delete_mode = DeleteMode::REMOVE;
    else {
      *error = "--delete must be trash or remove, got '" + d + "'";
      return false;
    }
  }
  if (vm.count("max-threads")) {
    opts.max_threads = vm["max-threads"].as<unsigned>();
    if (opts.max_threads == 0 || opts.max_threads > 1024) {
      *error = "--max-threads must be between 1 and 1024";
      return false;
    }
  }
  if (vm.count("trash-force")) opts.trash_force = true;
  opts.io_uring = vm.count("io-uring") > 0;
  if (vm.count("io-uring-depth")) {
    opts.io_uring_depth = vm["io-uring-depth"].as<unsigned>();
    if (opts.io_uring_depth < 2 || opts.io_uring_depth > 256) {
      *error = "--io-uring-depth must be between 2 and 256";
      return false;
    }
  }
  for (const char* k : {"uid", "gid"}) {
    if (!vm.count(k)) continue;
    const std::string v = vm[k].as<std::string>();
    char* end = nullptr;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end || v[0] == '-' || n >= UINT32_MAX) {
      *error = std::string("--") + k + " must be a number, got '" + v + "'";
      return false;
    }
    (std::string(k) == "uid" ? opts.uid : opts.gid) = static_cast<int64_t>(n);
  }
  if (vm.count("umask")) {
    const std::string v = vm["umask"].as<std::string>();
    char* end = nullptr;
    unsigned long n = std::strtoul(v.c_str(), &end, 8);
    if (v.empty() || *end || v[0] == '-' || n > 0777) {
      *error = "--umask must be octal, 0 to 0777, got '" + v + "'";
      return false;
    }
    opts.umask = static_cast<unsigned>(n);
  }
  if (vm.count("writearound")) {
    opts.writearound_mb = vm["writearound"].as<unsigned>();
    if (opts.writearound_mb > 4096) {
      *error = "--writearound must be between 0 and 4096 (MiB)";
      return false;
    }
  }
  if (vm.count("gather-reads")) {
    const std::string v = vm["gather-reads"].as<std::string>();
    char* end = nullptr;
    unsigned long n = std::strtoul(v.c_str(), &end, 10);
    if (v == "off") {
      opts.gather_reads = -1;
    } else if (v.empty() || *end || v[0] == '-' || n > 4096) {
      *error = "--gather-reads must be 0 to 4096 or off, got '" + v + "'";
      return false;
    } else {
      opts.gather_reads = static_cast<int>(n);
    }
  }
  opts.foreground = vm.count("foreground") > 0;
  opts.debug = vm.count("debug") > 0;
  opts.single_thread = vm.count("single-thread") > 0;
  if (opts.debug) {
    opts.foreground = true;
    if (!vm.count("log-level")) opts.log_level = "debug";
  }
  static const char* const levels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool level_ok = false;
  for (const char* l : levels) level_ok = level_ok || opts.log_level == l;
  if (!level_ok) {
    *error = "--log-level must be one of trace, debug, info, warn, error, off";
    return false;
  }
  *out = std::move(opts);
  return true;
}

std::string usage_text(const char* prog) {
  std::ostringstream o;
  o << "usage: " << prog << " [SOURCE] MOUNTPOINT [options]\n\n"
    << "Mounts a Ceph cluster: one directory per RBD pool, one sparse file per\n"
    << "RBD image, <pool>/.snap/<image>/<snapshot> for snapshots.\n"
    << "SOURCE is the cluster name (default ceph). Every option also works as\n"
    << "-o key=value; other -o options go to libfuse (allow_other, ...).\n\n";
  auto desc = own_options();
  std::ostringstream d;
  d << desc;
  // drop the hidden positional entries from the listing
  std::stringstream in(d.str());
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("--source") != std::string::npos ||
        line.find("--mountpoint") != std::string::npos)
      continue;
    o << line << "\n";
  }
  o << "\nlibfuse options (-o): allow_other, default_permissions, max_read=N,\n"
    << "fsname=NAME, auto_unmount, and the generic mount options ro, rw, dev,\n"
    << "nodev, suid, nosuid, exec, noexec, atime, noatime.\n";
  return o.str();
}

}  // namespace rbdfs::ll
