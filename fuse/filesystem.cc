// The filesystem's state: pools, listings, open images (by id), cached
// headers, st_blocks, and the attributes every operation answers with.
#include <fcntl.h>
#include <linux/fuse.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <linux/falloc.h>

#include "core/features.h"
#include "core/striper.h"
#include "fuse/fs_internal.h"

namespace rbdfs::ll {

Filesystem::Filesystem(std::shared_ptr<core::Cluster> cluster, Options options)
    : m_cluster(std::move(cluster)), m_opts(std::move(options)) {
  // New images get what `rbd create` would give them; options override.
  auto d = m_cluster->create_defaults();  // NOLINT: no other thread yet
  if (d.ok()) {
    m_create_features = d->features;
    m_create_order = d->order;
    m_create_stripe_unit = d->stripe_unit;
    m_create_stripe_count = d->stripe_count;
    m_create_data_pool = d->data_pool;
  }
  std::string err;
  if (!m_opts.image_features.empty())
    core::parse_feature_list(m_opts.image_features, &m_create_features, &err);
  if (m_opts.object_size)
    m_create_order = static_cast<uint8_t>(__builtin_ctzll(m_opts.object_size));
  if (!m_opts.data_pool.empty()) m_create_data_pool = m_opts.data_pool;
  m_uid = m_opts.uid >= 0 ? static_cast<uid_t>(m_opts.uid) : getuid();
  m_gid = m_opts.gid >= 0 ? static_cast<gid_t>(m_opts.gid) : getgid();
  clock_gettime(CLOCK_REALTIME, &m_mount_time);
}

namespace {

// libfuse reads a request into a buffer (or splice pipe) of max_write plus
// one page of headers, at most 1 MiB of data (FUSE_MAX_MAX_PAGES).
constexpr unsigned MAX_WRITE = 1u << 20;
constexpr unsigned REQUEST_HEADER_ROOM = 4096;

// The largest max_write whose requests fit a pipe this process can have, or
// 0. Without CAP_SYS_RESOURCE a pipe stops at /proc/sys/fs/pipe-max-size
// (1 MiB by default): one page short of a 1 MiB write, and libfuse then
// quietly reads every request with read(2).
unsigned splice_max_write() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return 0;
  unsigned fits = 0;
  for (unsigned mw : {MAX_WRITE, MAX_WRITE - REQUEST_HEADER_ROOM}) {
    int want = static_cast<int>(mw + REQUEST_HEADER_ROOM);
    if (fcntl(p[0], F_SETPIPE_SZ, want) >= want) {
      fits = mw;
      break;
    }
  }
  close(p[0]);
  close(p[1]);
  return fits;
}

// The kernel's cap on a request's pages (fs.fuse.max_pages_limit, 256
// before it was a setting).
uint64_t max_pages_limit() {
  std::FILE* f = std::fopen("/proc/sys/fs/fuse/max_pages_limit", "re");
  unsigned long v = 256;
  if (f) {
    if (std::fscanf(f, "%lu", &v) != 1) v = 256;
    std::fclose(f);
  }
  return v;
}

}  // namespace

void Filesystem::init(fuse_conn_info* conn) {
  conn->max_write = MAX_WRITE;
  // Write data then arrives through a pipe as references to the page
  // cache's pages: one copy (into the memory librados sends from) instead
  // of two. Worth a page less per write where the pipe cannot hold a full
  // 1 MiB one (buffered cp into the mount: about 1.2x faster).
  // Over io_uring the data arrives in the ring entry's buffer: no pipe.
  if (!m_by_ring && (conn->capable & FUSE_CAP_SPLICE_READ)) {
    if (unsigned mw = splice_max_write()) {
      conn->max_write = mw;
      conn->want |= FUSE_CAP_SPLICE_READ;
    }
  }
  // The kernel cuts larger reads into pieces of its max_pages, which
  // libfuse derives from max_write (capped by the kernel's limit): reads
  // of that size may be pieces to gather (core/read_gather.h).
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  m_read_piece = std::min<uint64_t>((conn->max_write - 1) / page + 1, max_pages_limit()) * page;
  spdlog::debug("max_write {} bytes, data by {}, reads in pieces of {} bytes", conn->max_write,
                m_by_ring                             ? "io_uring"
                : (conn->want & FUSE_CAP_SPLICE_READ) ? "splice"
                                                      : "read",
                m_read_piece);
  conn->max_readahead = READAHEAD_BYTES;  // the kernel keeps the smaller of this and the bdi's
  // Enough for every piece of 16 reads of 4 MiB at once (the kernel's
  // async direct I/O and readahead count here): pieces the kernel holds
  // back reach rbdfs too late to be gathered into one RADOS read.
  conn->max_background = 256;
  conn->congestion_threshold = 192;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Another client may write the image: the page cache must not outlive
  // an open, and never caches writes.
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
}

uint64_t Filesystem::refresh_osdmap() {
  auto c = cluster();
  auto s = m_osdmap;
  std::lock_guard<std::mutex> l(s->mu);
  if (s->busy) {
    // the one under way may have started before us: one more after it
    s->again = true;
    return s->done + 2;
  }
  try {
    std::thread([c, s] {
      for (;;) {
        c->refresh_osdmap();
        std::lock_guard<std::mutex> lg(s->mu);
        ++s->done;
        s->answered = std::chrono::steady_clock::now();
        s->cv.notify_all();
        if (!s->again) {
          s->busy = false;
          return;
        }
        s->again = false;
        s->started = s->answered;
      }
    }).detach();
  } catch (const std::system_error& e) {
    spdlog::warn("cannot start a thread to ask for the latest OSD map: {}", e.what());
    return s->done;  // nothing to wait for
  }
  s->busy = true;
  s->started = std::chrono::steady_clock::now();
  return s->done + 1;
}

bool Filesystem::wait_osdmap_refresh(std::chrono::milliseconds most) {
  auto s = m_osdmap;
  std::unique_lock<std::mutex> l(s->mu);
  return s->cv.wait_for(l, most, [&] { return !s->busy; });
}

Result<std::vector<std::string>> Filesystem::pools(bool fresh) {
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_pools_mu);
    if (!m_pool_names.empty() && Clock::now() - m_pools_listed < POOLS_TTL) return m_pool_names;
  }
  std::vector<std::string> names;
  if (!m_opts.pools.empty()) {
    names = m_opts.pools;  // as given: a missing one shows as ENOENT
    std::sort(names.begin(), names.end());
  } else {
    refresh_osdmap();  // for the next listing: pools made since the last one
    auto r = cluster()->list_rbd_pools();
    if (!r.ok()) return r.err();
    names = std::move(*r);
  }
  std::lock_guard<std::mutex> l(m_pools_mu);
  m_pool_names = names;
  m_pools_listed = Clock::now();
  return names;
}

Result<std::shared_ptr<core::Pool>> Filesystem::pool(const std::string& name) {
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    auto it = m_pools.find(name);
    // (an entry may hold a listing only, or a pool of a blocklisted
    // instance opened while another thread connected anew: both miss)
    if (it != m_pools.end() && it->second.pool && !it->second.pool->cluster()->blocklisted())
      return it->second.pool;
  }
  // "pool" or "pool/namespace"
  const auto [pool_name, ns] = split_pool_spec(name);
  auto names = pools();
  if (!names.ok()) return names.err();
  if (std::find(names->begin(), names->end(), pool_name) == names->end() && m_opts.pools.empty()) {
    // perhaps made since our OSD map: ask for the latest (waiting at most
    // POOL_MISS_WAIT: with the monitors down, the name is just not there),
    // unless the map is a second old at most (names that never exist)
    // waiting longer than POOL_MISS_WAIT already: the monitors do not
    // answer, so neither will this one
    bool skip;
    {
      std::lock_guard<std::mutex> l(m_osdmap->mu);
      auto now = Clock::now();
      skip = (m_osdmap->done > 0 && now - m_osdmap->answered < std::chrono::seconds(1)) ||
             (m_osdmap->busy && now - m_osdmap->started > POOL_MISS_WAIT);
    }
    if (!skip) {
      uint64_t want = refresh_osdmap();
      {
        std::unique_lock<std::mutex> l(m_osdmap->mu);
        m_osdmap->cv.wait_for(l, POOL_MISS_WAIT, [&] { return m_osdmap->done >= want; });
      }
      names = pools(true);
      if (!names.ok()) return names.err();
    }
  }
  if (std::find(names->begin(), names->end(), pool_name) == names->end()) return Errno(ENOENT);
  if (!ns.empty()) {
    auto all = namespaces(pool_name, false);  // (may connect anew: before the open)
    if (all.ok() && !std::binary_search(all->begin(), all->end(), ns)) return Errno(ENOENT);
    if (!all.ok()) {
      // caps that end at the namespace cannot read the pool's registry:
      // ask the namespace itself
      auto p = core::Pool::open(cluster(), pool_name, ns);
      if (!p.ok()) return p.err();
      RBDFS_TRY(noted(**p, (*p)->namespace_ready()));
    }
  }
  auto p = core::Pool::open(cluster(), pool_name, ns);
  if (!p.ok()) return p.err();
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto& e = m_pools[name];
  if (!e.pool || e.pool->cluster()->blocklisted()) e.pool = *p;
  return e.pool;
}

Result<std::vector<std::pair<std::string, std::string>>> Filesystem::images(
    const std::string& pool_name, bool fresh) {
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_pools_mu);
    auto it = m_pools.find(pool_name);
    if (it != m_pools.end() && it->second.have_listing &&
        Clock::now() - it->second.listed < LISTING_TTL)
      return it->second.images;
  }
  auto list = read_pool(pool_name, [](core::Pool& p) { return p.list_images(); });
  if (!list.ok()) return list.err();
  {
    // the lookups that follow a listing (ls -l) need no name -> id round trip
    auto now = Clock::now();
    std::lock_guard<std::mutex> l(m_images_mu);
    for (const auto& [name, id] : *list) {
      m_ids[image_key(pool_name, name)] = {id, now};
      sweep_ids();
    }
  }
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto& e = m_pools[pool_name];
  e.images = *list;
  e.listed = Clock::now();
  e.have_listing = true;
  return std::move(*list);
}

void Filesystem::invalidate_listing(const std::string& pool_name) {
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto it = m_pools.find(pool_name);
  if (it != m_pools.end()) it->second.have_listing = false;
}

Result<std::string> Filesystem::image_id(const std::string& pool_name, const std::string& image,
                                         bool fresh) {
  std::string key = image_key(pool_name, image);
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_ids.find(key);
    if (it != m_ids.end() && Clock::now() - it->second.when < ID_TTL) return it->second.id;
  }
  auto id = read_pool(pool_name, [&](core::Pool& p) { return p.image_id(image); });
  std::lock_guard<std::mutex> l(m_images_mu);
  if (id.ok()) {
    m_ids[key] = {*id, Clock::now()};
    sweep_ids();
  } else {
    m_ids.erase(key);
  }
  return id;
}

void Filesystem::sweep_ids() {
  auto now = Clock::now();
  sweep_expired(m_ids, m_ids_mark, [&](const Id& e) { return now - e.when >= ID_TTL; });
}

void Filesystem::sweep_headers() {
  auto now = Clock::now();
  sweep_expired(m_headers, m_headers_mark,
                [&](const CachedHeader& e) { return now - e.when >= HEADER_TTL; });
}

std::shared_ptr<core::Image> Filesystem::find_open(const std::string& pool_name,
                                                   const std::string& image) {
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    if (m_open.empty()) return nullptr;  // no lookup needed
  }
  auto id = image_id(pool_name, image);
  if (!id.ok()) return nullptr;
  std::lock_guard<std::mutex> l(m_images_mu);
  auto it = m_open.find(image_key(pool_name, *id));
  if (it == m_open.end()) return nullptr;
  return it->second.lock();
}

bool Filesystem::shutdown() {
  std::vector<std::shared_ptr<core::Image>> open;
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    for (auto& [key, weak] : m_open)
      if (auto img = weak.lock()) open.push_back(std::move(img));
  }
  for (auto& img : open) img->set_foreign_write_hook(nullptr);
  m_se = nullptr;
  // writes handed over (send_write) reply through the session: done first
  m_work.drain();
  // a request for the latest OSD map holds the cluster: it must end before
  // the cluster does, and it waits for the monitors
  if (wait_osdmap_refresh(std::chrono::seconds(5))) return true;
  spdlog::warn("the monitors do not answer: exiting without waiting for the OSD map request");
  return false;
}

Result<std::shared_ptr<core::Image>> Filesystem::open_image(const std::string& pool_name,
                                                            const std::string& image,
                                                            const std::string& known_id) {
  // open is where a file's view gets fresh: the name is looked up now
  auto id = known_id.empty() ? image_id(pool_name, image, true) : Result<std::string>(known_id);
  if (!id.ok()) return id.err();
  std::string key = image_key(pool_name, *id);
  std::shared_ptr<core::Image> open;
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_open.find(key);
    if (it != m_open.end()) open = it->second.lock();
    if (open && open->blocklisted()) open.reset();  // opened again on the new instance
  }
  if (open) {
    (void)open->refresh();  // (marks its instance if that was blocklisted)
    if (!open->blocklisted()) return open;
    open.reset();  // opened again on a new instance
  }
  forget_header(pool_name, image);
  core::Image::OpenOptions o;
  o.read_only = m_opts.read_only;
  o.id = *id;
  auto img = read_pool(pool_name, [&](core::Pool& p) { return p.open_image(image, o); });
  if (!img.ok()) return img.err();
  // Another client wrote (it took the exclusive lock): what the page cache
  // holds of the file may be stale. Off the librados thread: the kernel
  // may wait on a read of ours while it invalidates.
  (*img)->set_foreign_write_hook([this, pool_name, image] {
    m_work.post([this, pool_name, image] {
      fuse_ino_t ino = m_nodes.peek(Node{NodeKind::IMAGE, pool_name, image, "", ""});
      if (fuse_session* se = m_se.load()) (void)fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
    });
  });
  std::shared_ptr<core::Image> existing;  // (let go after the lock: it may be the last)
  std::lock_guard<std::mutex> l(m_images_mu);
  auto& slot = m_open[key];
  existing = slot.lock();
  if (existing && !existing->blocklisted()) return existing;  // lost a race: share
  slot = *img;
  return img;
}

Result<std::shared_ptr<const core::ImageHeader>> Filesystem::image_header(
    const std::string& pool_name, const std::string& image) {
  if (auto img = find_open(pool_name, image)) return img->header();
  return cached_header(pool_name, image);
}

Filesystem::HeaderResult Filesystem::fetch_header(const std::string& pool_name,
                                                  const std::string& image,
                                                  const std::string& id_hint) {
  auto h = read_pool(pool_name, [&](core::Pool& p) -> Result<core::ImageHeader> {
    std::string id = id_hint;
    if (id.empty()) {
      auto r = p.image_id(image);
      if (!r.ok()) return r.err();
      id = *r;
    }
    return p.read_header(image, id);
  });
  if (!h.ok()) return h.err();
  if (m_opts.read_only && h->read_only_reason.empty()) h->read_only_reason = "mounted read-only";
  auto hdr = std::make_shared<const core::ImageHeader>(std::move(*h));
  // st_blocks costs two round trips with an object map, one per object without
  if ((hdr->features & core::FEATURE_OBJECT_MAP) ||
      core::object_count(hdr->layout, hdr->size) <= BLOCKS_WARM_OBJECTS)
    (void)allocated_blocks(hdr, core::cls::NOSNAP, hdr->size);  // warm st_blocks
  return hdr;
}

Filesystem::HeaderResult Filesystem::cached_header(const std::string& pool_name,
                                                   const std::string& image,
                                                   const std::string& id) {
  std::string key = image_key(pool_name, image);
  std::promise<HeaderResult> mine;
  std::shared_future<HeaderResult> theirs;
  {
    std::lock_guard<std::mutex> l(m_attr_mu);
    auto it = m_headers.find(key);
    if (it != m_headers.end() && Clock::now() - it->second.when < HEADER_TTL)
      theirs = it->second.header;
    else {
      m_headers[key] = {mine.get_future().share(), Clock::now()};
      sweep_headers();
    }
  }
  if (theirs.valid()) return theirs.get();  // may wait for a fetch under way
  HeaderResult r = fetch_header(pool_name, image, id);
  mine.set_value(r);
  if (!r.ok()) forget_header(pool_name, image);  // do not cache failures
  return r;
}

void Filesystem::prefetch_headers(const std::string& pool_name,
                                  const std::vector<std::pair<std::string, std::string>>& images) {
  auto now = Clock::now();
  std::lock_guard<std::mutex> l(m_attr_mu);
  for (const auto& [name, id] : images) {
    std::string key = image_key(pool_name, name);
    auto it = m_headers.find(key);
    if (it != m_headers.end() && now - it->second.when < HEADER_TTL) continue;
    auto promise = std::make_shared<std::promise<HeaderResult>>();
    m_headers[key] = {promise->get_future().share(), now};
    sweep_headers();
    m_work.post([this, promise, pool_name, name = name, id = id] {
      HeaderResult r = fetch_header(pool_name, name, id);
      promise->set_value(r);
      if (!r.ok()) forget_header(pool_name, name);
    });
  }
}

void Filesystem::forget_blocks(const std::string& pool_name, const std::string& id) {
  std::string prefix = image_key(pool_name, id) + "@";
  std::lock_guard<std::mutex> l(m_images_mu);
  for (auto it = m_blocks.lower_bound(prefix);
       it != m_blocks.end() && it->first.rfind(prefix, 0) == 0;)
    it = m_blocks.erase(it);
}

void Filesystem::forget_header(const std::string& pool_name, const std::string& image) {
  {
    std::lock_guard<std::mutex> l(m_attr_mu);
    m_headers.erase(image_key(pool_name, image));
  }
  std::lock_guard<std::mutex> l(m_images_mu);
  m_ids.erase(image_key(pool_name, image));
}

uint64_t Filesystem::allocated_blocks(const std::shared_ptr<const core::ImageHeader>& h,
                                      uint64_t snap_id, uint64_t size) {
  std::string key = image_key(h->pool, h->id) + "@" + std::to_string(snap_id);
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_blocks.find(key);
    if (it != m_blocks.end() && Clock::now() < it->second.until) return it->second.blocks;
  }
  // Unknown (unreadable image, RADOS error): claim nothing rather than
  // everything, so cp still looks for the holes (SEEK_DATA is exact).
  uint64_t bytes = 0;
  auto start = Clock::now();
  if (h->unreadable_reason.empty()) {
    auto r =
        read_pool(h->pool, [&](core::Pool& p) { return p.allocated_bytes(*h, snap_id, size); });
    if (r.ok())
      bytes = *r;
    else
      spdlog::warn("st_blocks of {}/{}: {}", h->pool, h->name, r.err().message());
  }
  uint64_t blocks = std::min((bytes + 511) / 512, (size + 511) / 512);
  // Cached for 5 s, or 10 times what it cost (big images), at most a
  // minute; our own writes forget it at fsync/close.
  auto ttl = std::min<Clock::duration>(
      std::max<Clock::duration>(BLOCKS_TTL, (Clock::now() - start) * 10), std::chrono::minutes(1));
  std::lock_guard<std::mutex> l(m_images_mu);
  auto now = Clock::now();
  m_blocks[key] = {blocks, now + ttl};
  sweep_expired(m_blocks, m_blocks_mark, [&](const Blocks& b) { return b.until <= now; });
  return blocks;
}

void Filesystem::fill_common(struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_uid = m_uid;
  st->st_gid = m_gid;
  st->st_atim = st->st_mtim = st->st_ctim = m_mount_time;
  st->st_blksize = 4096;
}

Status Filesystem::fill_attr(const Node& n, struct stat* st) {
  fill_common(st);
  const mode_t dir_rw = 0777 & ~m_opts.umask, dir_ro = 0555 & ~m_opts.umask;
  switch (n.kind) {
    case NodeKind::ROOT:
      st->st_mode = S_IFDIR | dir_rw;
      st->st_nlink = 2;
      return {};
    case NodeKind::POOL: {
      auto p = pool(n.pool);
      if (!p.ok()) return p.err();
      if (auto [pl, ns] = split_pool_spec(n.pool); !ns.empty()) {
        auto all = namespaces(pl, false);  // removed elsewhere: gone here
        if (!all.ok()) return all.err();
        if (!std::binary_search(all->begin(), all->end(), ns)) return Errno(ENOENT);
      }
      st->st_mode = S_IFDIR | (m_opts.read_only ? dir_ro : dir_rw);
      st->st_nlink = 3;
      return {};
    }
    case NodeKind::SNAPROOT: {
      auto p = pool(n.pool);
      if (!p.ok()) return p.err();
      st->st_mode = S_IFDIR | dir_ro;
      st->st_nlink = 2;
      return {};
    }
    case NodeKind::TRASHDIR: {
      auto p = pool(n.pool);
      if (!p.ok()) return p.err();
      st->st_mode = S_IFDIR | (m_opts.read_only ? dir_ro : dir_rw);
      st->st_nlink = 2;
      return {};
    }
    case NodeKind::TRASHED: {
      auto e = trash_entry(n.pool, n.image, false);
      if (!e.ok()) return e.err();
      auto h = read_pool(n.pool, [&](core::Pool& p) { return p.read_header(e->spec.name, e->id); });
      if (!h.ok()) return h.err();
      st->st_nlink = 1;
      st->st_size = static_cast<off_t>(h->size);
      apply_owner(*h, false, st);
      st->st_mtim = to_ts(h->modify_timestamp.sec ? h->modify_timestamp : h->create_timestamp);
      st->st_ctim = st->st_atim = to_ts(e->spec.deletion_time);  // when it was trashed
      return {};
    }
    case NodeKind::SNAPDIR: {
      auto h = image_header(n.pool, n.image);
      if (!h.ok()) return h.err();
      st->st_mode = S_IFDIR | ((*h)->read_only_reason.empty() ? dir_rw : dir_ro);
      st->st_nlink = 2;
      st->st_mtim = st->st_ctim = to_ts((*h)->modify_timestamp);
      return {};
    }
    case NodeKind::IMAGE:
    case NodeKind::SNAP: {
      if (!n.detached_id.empty()) {  // removed, still open here
        std::shared_ptr<core::Image> img;
        {
          std::lock_guard<std::mutex> l(m_images_mu);
          auto it = m_open.find(image_key(n.pool, n.detached_id));
          if (it != m_open.end()) img = it->second.lock();
        }
        if (!img) return Errno(ENOENT);
        return fill_file_attr(img->header(), "", st);
      }
      auto h = image_header(n.pool, n.image);
      if (!h.ok()) return h.err();
      return fill_file_attr(*h, n.kind == NodeKind::SNAP ? n.snap : "", st);
    }
  }
  return Errno(EIO);
}

Status Filesystem::fill_file_attr(const std::shared_ptr<const core::ImageHeader>& h,
                                  const std::string& snap, struct stat* st) {
  const auto& hdr = *h;
  st->st_nlink = 1;
  st->st_blksize = static_cast<blksize_t>(std::min<uint64_t>(hdr.layout.object_size, 1u << 30));
  if (snap.empty()) {
    apply_owner(hdr, hdr.read_only_reason.empty(), st);
    st->st_size = static_cast<off_t>(hdr.size);
    st->st_blocks = static_cast<blkcnt_t>(allocated_blocks(h, core::cls::NOSNAP, hdr.size));
    st->st_mtim = st->st_ctim = st->st_atim = to_ts(hdr.modify_timestamp);
    if (hdr.modify_timestamp.sec == 0) st->st_mtim = st->st_ctim = to_ts(hdr.create_timestamp);
    return {};
  }
  const core::cls::SnapshotInfo* s = hdr.find_snap(snap);
  if (!s) return Errno(ENOENT);
  apply_owner(hdr, false, st);  // a snapshot: its image's owner, read-only
  st->st_size = static_cast<off_t>(s->image_size);
  st->st_blocks = static_cast<blkcnt_t>(allocated_blocks(h, s->id, s->image_size));
  st->st_mtim = st->st_ctim = st->st_atim = to_ts(s->timestamp);
  return {};
}

bool Filesystem::resolve(fuse_req_t req, fuse_ino_t ino, Node* n) {
  if (!m_nodes.get(ino, n)) {
    fuse_reply_err(req, ESTALE);
    return false;
  }
  return true;
}

Status Filesystem::fill_entry(const Node& n, fuse_entry_param* e) {
  Status s = fill_attr(n, &e->attr);
  if (!s.ok()) return s;
  e->ino = m_nodes.ref(n);
  e->attr.st_ino = e->ino;
  e->attr_timeout = ATTR_TIMEOUT;
  e->entry_timeout = ENTRY_TIMEOUT;
  return {};
}

void Filesystem::reply_entry(fuse_req_t req, const Node& n) {
  fuse_entry_param e{};
  Status s = fill_entry(n, &e);
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  if (fuse_reply_entry(req, &e) != 0) m_nodes.forget(e.ino, 1);
}

}  // namespace rbdfs::ll
