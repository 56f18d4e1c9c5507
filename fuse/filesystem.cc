#include "fuse/filesystem.h"

#include <linux/fuse.h>

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/falloc.h>

#include "core/features.h"
#include "core/striper.h"

namespace rbdfs::ll {

using core::Errno;
using core::Result;
using core::Status;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* SNAP_DIR = ".snap";
constexpr double ENTRY_TIMEOUT = 1.0;
constexpr double ATTR_TIMEOUT = 1.0;
constexpr auto LISTING_TTL = std::chrono::seconds(1);
constexpr auto POOLS_TTL = std::chrono::seconds(2);
constexpr auto BLOCKS_TTL = std::chrono::seconds(5);
constexpr uint64_t BLOCKS_WARM_OBJECTS = 4096;  // ls -l computes st_blocks up to this
constexpr auto ID_TTL = std::chrono::seconds(1);

std::string image_key(const std::string& pool, const std::string& image) {
  return pool + '/' + image;
}

struct timespec to_ts(const core::cls::UTime& t) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(t.sec);
  ts.tv_nsec = static_cast<long>(t.nsec);
  return ts;
}

Handle* handle_of(fuse_file_info* fi) {
  return reinterpret_cast<Handle*>(static_cast<uintptr_t>(fi->fh));
}

void reply_status(fuse_req_t req, const Status& s) { fuse_reply_err(req, s.error()); }

}  // namespace

// ---------------------------------------------------------------------------
// NodeTable

std::string Node::key() const {
  std::string k;
  k.push_back(static_cast<char>('0' + static_cast<int>(kind)));
  k += '\0' + pool + '\0' + image + '\0' + snap;
  return k;
}

NodeTable::NodeTable() {
  Entry root;
  root.node.kind = NodeKind::ROOT;
  root.nlookup = 1;  // never forgotten
  m_by_key[root.node.key()] = FUSE_ROOT_ID;
  m_by_ino[FUSE_ROOT_ID] = std::move(root);
}

fuse_ino_t NodeTable::ref(const Node& n) {
  std::string k = n.key();
  std::lock_guard<std::mutex> l(m_mu);
  auto it = m_by_key.find(k);
  if (it != m_by_key.end()) {
    m_by_ino[it->second].nlookup++;
    return it->second;
  }
  fuse_ino_t ino = m_next++;
  m_by_key.emplace(std::move(k), ino);
  m_by_ino.emplace(ino, Entry{n, 1});
  return ino;
}

bool NodeTable::get(fuse_ino_t ino, Node* out) {
  std::lock_guard<std::mutex> l(m_mu);
  auto it = m_by_ino.find(ino);
  if (it == m_by_ino.end()) return false;
  *out = it->second.node;
  return true;
}

fuse_ino_t NodeTable::peek(const Node& n) {
  std::string k = n.key();
  {
    std::lock_guard<std::mutex> l(m_mu);
    auto it = m_by_key.find(k);
    if (it != m_by_key.end()) return it->second;
  }
  return (std::hash<std::string>{}(k) | (1ull << 62));
}

void NodeTable::rename(const Node& from, const Node& to) {
  std::string fk = from.key(), tk = to.key();
  std::lock_guard<std::mutex> l(m_mu);
  auto it = m_by_key.find(fk);
  if (it == m_by_key.end()) return;
  fuse_ino_t ino = it->second;
  m_by_key.erase(it);
  // a stale inode still naming `to` loses its name (the kernel dropped it)
  detach_locked(tk, "");
  m_by_key[tk] = ino;
  m_by_ino[ino].node = to;
}

void NodeTable::detach(const Node& n, const std::string& id) {
  std::lock_guard<std::mutex> l(m_mu);
  detach_locked(n.key(), id);
}

void NodeTable::detach_locked(const std::string& key, const std::string& id) {
  auto it = m_by_key.find(key);
  if (it == m_by_key.end()) return;
  Node& n = m_by_ino[it->second].node;
  n.image += std::string("\0stale", 6);
  n.detached_id = id;
  m_by_key.erase(it);
}

void NodeTable::forget(fuse_ino_t ino, uint64_t n) {
  if (ino == FUSE_ROOT_ID) return;
  std::lock_guard<std::mutex> l(m_mu);
  auto it = m_by_ino.find(ino);
  if (it == m_by_ino.end()) return;
  if (it->second.nlookup > n) {
    it->second.nlookup -= n;
    return;
  }
  m_by_key.erase(it->second.node.key());
  m_by_ino.erase(it);
}

// ---------------------------------------------------------------------------
// WorkQueue

WorkQueue::WorkQueue(unsigned threads) {
  for (unsigned i = 0; i < threads; ++i)
    m_threads.emplace_back([this] {
      for (;;) {
        std::function<void()> fn;
        {
          std::unique_lock<std::mutex> l(m_mu);
          m_cv.wait(l, [this] { return m_stop || !m_q.empty(); });
          if (m_q.empty()) return;  // stopping and drained
          fn = std::move(m_q.front());
          m_q.pop_front();
        }
        fn();
      }
    });
}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_stop = true;
  }
  m_cv.notify_all();
  for (auto& t : m_threads) t.join();
}

void WorkQueue::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_q.push_back(std::move(fn));
  }
  m_cv.notify_one();
}

// ---------------------------------------------------------------------------

Filesystem::Filesystem(std::shared_ptr<core::Cluster> cluster, Options options)
    : m_cluster(std::move(cluster)), m_opts(std::move(options)) {
  std::string err;
  core::parse_feature_list(m_opts.image_features, &m_create_features, &err);
  m_create_order = static_cast<uint8_t>(__builtin_ctzll(m_opts.object_size));
  m_uid = getuid();
  m_gid = getgid();
  clock_gettime(CLOCK_REALTIME, &m_mount_time);
}

void Filesystem::init(fuse_conn_info* conn) {
  // libfuse reads requests into buffers of FUSE_MAX_MAX_PAGES (1 MiB) plus
  // a header, so larger writes would not fit.
  conn->max_write = 1u << 20;
  conn->max_readahead = 4u << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Another client may write the image: the page cache must not outlive
  // an open, and never caches writes.
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
}

Result<std::vector<std::string>> Filesystem::pools() {
  {
    std::lock_guard<std::mutex> l(m_pools_mu);
    if (!m_pool_names.empty() && Clock::now() - m_pools_listed < POOLS_TTL) return m_pool_names;
  }
  std::vector<std::string> names;
  if (!m_opts.pools.empty()) {
    names = m_opts.pools;  // as given: a missing one shows as ENOENT
    std::sort(names.begin(), names.end());
  } else {
    auto r = m_cluster->list_rbd_pools();
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
    if (it != m_pools.end()) return it->second.pool;
  }
  auto names = pools();
  if (!names.ok()) return names.err();
  if (std::find(names->begin(), names->end(), name) == names->end()) return Errno(ENOENT);
  auto p = core::Pool::open(m_cluster, name);
  if (!p.ok()) return p.err();
  std::lock_guard<std::mutex> l(m_pools_mu);
  auto& e = m_pools[name];
  if (!e.pool) e.pool = *p;
  return e.pool;
}

Result<std::vector<std::pair<std::string, std::string>>> Filesystem::images(
    const std::string& pool_name, bool fresh) {
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  if (!fresh) {
    std::lock_guard<std::mutex> l(m_pools_mu);
    auto& e = m_pools[pool_name];
    if (e.have_listing && Clock::now() - e.listed < LISTING_TTL) return e.images;
  }
  auto list = (*p)->list_images();
  if (!list.ok()) return list.err();
  {
    // the lookups that follow a listing (ls -l) need no name -> id round trip
    auto now = Clock::now();
    std::lock_guard<std::mutex> l(m_images_mu);
    for (const auto& [name, id] : *list) m_ids[image_key(pool_name, name)] = {id, now};
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
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  auto id = (*p)->image_id(image);
  std::lock_guard<std::mutex> l(m_images_mu);
  if (id.ok())
    m_ids[key] = {*id, Clock::now()};
  else
    m_ids.erase(key);
  return id;
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

Result<std::shared_ptr<core::Image>> Filesystem::open_image(const std::string& pool_name,
                                                            const std::string& image) {
  // open is where a file's view gets fresh: the name is looked up now
  auto id = image_id(pool_name, image, true);
  if (!id.ok()) return id.err();
  std::string key = image_key(pool_name, *id);
  std::shared_ptr<core::Image> open;
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_open.find(key);
    if (it != m_open.end()) open = it->second.lock();
  }
  if (open) {
    (void)open->refresh();
    return open;
  }
  forget_header(pool_name, image);
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  core::Image::OpenOptions o;
  o.read_only = m_opts.read_only;
  o.id = *id;
  auto img = (*p)->open_image(image, o);
  if (!img.ok()) return img.err();
  std::lock_guard<std::mutex> l(m_images_mu);
  auto& slot = m_open[key];
  if (auto existing = slot.lock()) return existing;  // lost a race: share
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
  auto p = pool(pool_name);
  if (!p.ok()) return p.err();
  std::string id = id_hint;
  if (id.empty()) {
    auto r = (*p)->image_id(image);
    if (!r.ok()) return r.err();
    id = *r;
  }
  auto h = core::read_header((*p)->ioctx(), pool_name, image, id);
  if (!h.ok()) return h.err();
  if (m_opts.read_only && h->read_only_reason.empty()) h->read_only_reason = "mounted read-only";
  auto hdr = std::make_shared<const core::ImageHeader>(std::move(*h));
  if (core::object_count(hdr->layout, hdr->size) <= BLOCKS_WARM_OBJECTS)
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
    if (it != m_headers.end() && Clock::now() - it->second.when < std::chrono::milliseconds(1000))
      theirs = it->second.header;
    else
      m_headers[key] = {mine.get_future().share(), Clock::now()};
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
    if (it != m_headers.end() && now - it->second.when < std::chrono::milliseconds(1000)) continue;
    auto promise = std::make_shared<std::promise<HeaderResult>>();
    m_headers[key] = {promise->get_future().share(), now};
    m_work.post([this, promise, pool_name, name = name, id = id] {
      HeaderResult r = fetch_header(pool_name, name, id);
      promise->set_value(r);
      if (!r.ok()) forget_header(pool_name, name);
    });
  }
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
    auto p = pool(h->pool);
    auto io = p.ok() ? (*p)->data_ioctx(*h) : core::Result<librados::IoCtx>(p.err());
    auto r = io.ok() ? core::allocated_bytes(*io, *h, snap_id, size) : core::Result<uint64_t>(io.err());
    if (r.ok())
      bytes = *r;
    else
      spdlog::warn("st_blocks of {}/{}: {}", h->pool, h->name, r.err().message());
  }
  uint64_t blocks = std::min((bytes + 511) / 512, (size + 511) / 512);
  // Cached for 5 s, or 10 times what it cost (big images).
  auto ttl = std::max<Clock::duration>(BLOCKS_TTL, (Clock::now() - start) * 10);
  std::lock_guard<std::mutex> l(m_images_mu);
  m_blocks[key] = {blocks, Clock::now() + ttl};
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
  switch (n.kind) {
    case NodeKind::ROOT:
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      return {};
    case NodeKind::POOL: {
      auto p = pool(n.pool);
      if (!p.ok()) return p.err();
      st->st_mode = S_IFDIR | (m_opts.read_only ? 0555 : 0755);
      st->st_nlink = 3;
      return {};
    }
    case NodeKind::SNAPROOT: {
      auto p = pool(n.pool);
      if (!p.ok()) return p.err();
      st->st_mode = S_IFDIR | 0555;
      st->st_nlink = 2;
      return {};
    }
    case NodeKind::SNAPDIR: {
      auto h = image_header(n.pool, n.image);
      if (!h.ok()) return h.err();
      st->st_mode = S_IFDIR | ((*h)->read_only_reason.empty() ? 0755 : 0555);
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
    st->st_mode = S_IFREG | (hdr.read_only_reason.empty() ? 0644 : 0444);
    st->st_size = static_cast<off_t>(hdr.size);
    st->st_blocks = static_cast<blkcnt_t>(allocated_blocks(h, core::cls::NOSNAP, hdr.size));
    st->st_mtim = st->st_ctim = st->st_atim = to_ts(hdr.modify_timestamp);
    if (hdr.modify_timestamp.sec == 0) st->st_mtim = st->st_ctim = to_ts(hdr.create_timestamp);
    return {};
  }
  const core::cls::SnapshotInfo* s = hdr.find_snap(snap);
  if (!s) return Errno(ENOENT);
  st->st_mode = S_IFREG | 0444;
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

// ---------------------------------------------------------------------------
// Namespace

void Filesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name_c) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  Node n;
  switch (p.kind) {
    case NodeKind::ROOT:
      n.kind = NodeKind::POOL;
      n.pool = name;
      break;
    case NodeKind::POOL:
      n.pool = p.pool;
      if (name == SNAP_DIR) {
        n.kind = NodeKind::SNAPROOT;
      } else {
        n.kind = NodeKind::IMAGE;
        n.image = name;
      }
      break;
    case NodeKind::SNAPROOT:
      n.kind = NodeKind::SNAPDIR;
      n.pool = p.pool;
      n.image = name;
      break;
    case NodeKind::SNAPDIR:
      n.kind = NodeKind::SNAP;
      n.pool = p.pool;
      n.image = p.image;
      n.snap = name;
      break;
    default:
      fuse_reply_err(req, ENOTDIR);
      return;
  }
  if ((n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAPDIR) &&
      !core::valid_rbd_name(n.image)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_entry(req, n);
}

void Filesystem::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  struct stat st;
  Status s;
  Handle* h = fi && (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP) ? handle_of(fi) : nullptr;
  if (h) {
    fill_common(&st);
    s = fill_file_attr(h->image->header(), n.kind == NodeKind::SNAP ? n.snap : "", &st);
  } else {
    s = fill_attr(n, &st);
  }
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  st.st_ino = ino;
  fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

void Filesystem::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                         fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (n.kind != NodeKind::IMAGE) {
      fuse_reply_err(req, n.kind == NodeKind::SNAP ? EROFS : EISDIR);
      return;
    }
    std::shared_ptr<core::Image> img;
    if (fi && handle_of(fi)) img = handle_of(fi)->image;
    if (!img) {
      auto r = open_image(n.pool, n.image);
      if (!r.ok()) {
        fuse_reply_err(req, r.error());
        return;
      }
      img = *r;
    }
    if (!img->read_only_reason().empty()) {
      spdlog::info("truncate {}/{} refused: {}", n.pool, n.image, img->read_only_reason());
      fuse_reply_err(req, EROFS);
      return;
    }
    Status s = img->resize(static_cast<uint64_t>(attr->st_size));
    if (!s.ok()) {
      spdlog::warn("truncate {}/{} to {}: {}", n.pool, n.image, attr->st_size, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
  }
  // mode, owner and times are not stored: RBD has no place for them.
  getattr(req, ino);
}

void Filesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  // Build the whole listing at open; readdir pages through it.
  auto* entries = new DirListing();
  entries->dir = n;
  Status s;
  if (n.kind == NodeKind::ROOT) {
    auto r = pools();
    if (r.ok())
      for (auto& p : *r) entries->emplace_back(p, NodeKind::POOL);
    else
      s = r.err();
  } else if (n.kind == NodeKind::POOL || n.kind == NodeKind::SNAPROOT) {
    auto r = images(n.pool, true);
    if (r.ok()) {
      prefetch_headers(n.pool, *r);  // the lookups of `ls -l` follow
      if (n.kind == NodeKind::POOL) entries->emplace_back(SNAP_DIR, NodeKind::SNAPROOT);
      for (auto& [name, id] : *r)
        entries->emplace_back(name, n.kind == NodeKind::POOL ? NodeKind::IMAGE : NodeKind::SNAPDIR);
    } else {
      s = r.err();
    }
  } else if (n.kind == NodeKind::SNAPDIR) {
    std::shared_ptr<const core::ImageHeader> h;
    if (auto img = find_open(n.pool, n.image)) {
      (void)img->refresh();
      h = img->header();
    } else {
      auto r = image_header(n.pool, n.image);
      if (r.ok())
        h = *r;
      else
        s = r.err();
    }
    if (h)
      for (const auto& snap : h->snapshots)
        if (snap.ns_type == core::cls::SNAP_NS_USER)
          entries->emplace_back(snap.name, NodeKind::SNAP);
  }
  if (!s.ok()) {
    delete entries;
    fuse_reply_err(req, s.error());
    return;
  }
  fi->fh = reinterpret_cast<uintptr_t>(entries);
  if (fuse_reply_open(req, fi) != 0) delete entries;
}

void Filesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                         fuse_file_info* fi) {
  auto* entries = reinterpret_cast<DirListing*>(static_cast<uintptr_t>(fi->fh));
  std::vector<char> buf(size);
  size_t used = 0;
  // offsets: 0 ".", 1 "..", 2.. entries
  size_t total = entries->size() + 2;
  if (off < 0) off = 0;
  for (size_t i = static_cast<size_t>(off); i < total; ++i) {
    struct stat st {};
    std::string name;
    if (i == 0) {
      name = ".";
      st.st_mode = S_IFDIR;
      st.st_ino = ino;
    } else if (i == 1) {
      name = "..";
      st.st_mode = S_IFDIR;
      st.st_ino = FUSE_ROOT_ID;  // any non-zero number: the kernel fixes ".."
    } else {
      const auto& e = (*entries)[i - 2];
      name = e.first;
      st.st_mode = (e.second == NodeKind::IMAGE || e.second == NodeKind::SNAP) ? S_IFREG : S_IFDIR;
      Node child = entries->dir;
      child.kind = e.second;
      if (e.second == NodeKind::POOL)
        child.pool = name;
      else if (e.second == NodeKind::IMAGE || e.second == NodeKind::SNAPDIR)
        child.image = name;
      else if (e.second == NodeKind::SNAP)
        child.snap = name;
      st.st_ino = m_nodes.peek(child);
    }
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Filesystem::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirListing*>(static_cast<uintptr_t>(fi->fh));
  fuse_reply_err(req, 0);
}

// ---------------------------------------------------------------------------
// Files

void Filesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (n.kind != NodeKind::IMAGE && n.kind != NodeKind::SNAP) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
  if (n.kind == NodeKind::SNAP && want_write) {
    fuse_reply_err(req, EROFS);
    return;
  }
  auto img = open_image(n.pool, n.image);
  if (!img.ok()) {
    fuse_reply_err(req, img.error());
    return;
  }
  auto h = std::make_unique<Handle>();
  h->image = *img;
  if (n.kind == NodeKind::SNAP) {
    const auto* s = (*img)->header()->find_snap(n.snap);
    if (!s) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    h->snap_id = s->id;
    fi->keep_cache = 1;  // a snapshot never changes
  }
  if (want_write) {
    std::string why = (*img)->read_only_reason();
    if (!why.empty()) {
      spdlog::info("open {}/{} for writing refused: {}", n.pool, n.image, why);
      fuse_reply_err(req, EROFS);
      return;
    }
    h->writable = true;
    if (fi->flags & O_TRUNC) {
      Status s = (*img)->resize(0);
      if (!s.ok()) {
        fuse_reply_err(req, s.error());
        return;
      }
    }
  }
  // O_DIRECT writers (fio, qemu cache=none, losetup --direct-io) get the
  // kernel's direct-I/O path: on the cached path the kernel asks us for
  // security.capability before every write (FUSE mounts never get
  // SB_NOSEC), one more round trip per write. Writes inside the image may
  // then also run in parallel on the inode.
  fi->direct_io = (fi->flags & O_DIRECT) && h->writable;
  fi->fh = reinterpret_cast<uintptr_t>(h.get());
  if (reply_open(req, fi) == 0) h.release();
}

int Filesystem::reply_open(fuse_req_t req, const fuse_file_info* fi) {
  if (!fi->direct_io) return fuse_reply_open(req, fi);
  // Direct-I/O files also allow parallel direct writes, but libfuse 3.14's
  // fuse_file_info has no bit for FOPEN_PARALLEL_DIRECT_WRITES (kernel 6.2+,
  // ignored by older ones): the open reply is this struct alone, so send
  // it ourselves.
  fuse_open_out out{};
  out.fh = fi->fh;
  out.open_flags = FOPEN_PARALLEL_DIRECT_WRITES;
  if (fi->direct_io) out.open_flags |= FOPEN_DIRECT_IO;
  if (fi->keep_cache) out.open_flags |= FOPEN_KEEP_CACHE;
  return fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof(out));
}

Status Filesystem::create_in_pool(const Node& p, const std::string& name, bool excl,
                                  bool* created) {
  if (p.kind != NodeKind::POOL) return Errno(EPERM);
  if (name == SNAP_DIR || !core::valid_rbd_name(name)) return Errno(EINVAL);
  if (m_opts.read_only) return Errno(EROFS);
  auto pl = pool(p.pool);
  if (!pl.ok()) return pl.err();
  core::CreateSpec spec;
  spec.order = m_create_order;
  spec.features = m_create_features;
  Status s = (*pl)->create_image(name, spec);
  *created = s.ok();
  if (s.error() == EEXIST && !excl) return {};
  if (!s.ok()) {
    if (s.error() != EEXIST) spdlog::warn("create {}/{}: {}", p.pool, name, s.err().message());
    return s;
  }
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  return {};
}

void Filesystem::reply_create(fuse_req_t req, const Node& n, std::unique_ptr<Handle> h,
                              fuse_file_info* fi) {
  fuse_entry_param e{};
  Status s = fill_entry(n, &e);
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  fi->fh = reinterpret_cast<uintptr_t>(h.get());
  if (fuse_reply_create(req, &e, fi) == 0)
    h.release();
  else
    m_nodes.forget(e.ino, 1);
}

void Filesystem::create(fuse_req_t req, fuse_ino_t parent, const char* name_c, mode_t mode,
                        fuse_file_info* fi) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  auto h = std::make_unique<Handle>();
  Node n;
  if (p.kind == NodeKind::SNAPDIR) {
    // touch .snap/<image>/<name>: take a snapshot
    if (!core::valid_rbd_name(name) || m_opts.read_only) {
      fuse_reply_err(req, m_opts.read_only ? EROFS : EINVAL);
      return;
    }
    auto img = open_image(p.pool, p.image);
    auto id = img.ok() ? (*img)->snap_create(name) : core::Result<uint64_t>(img.err());
    if (!id.ok()) {
      if (img.ok())
        spdlog::warn("snapshot {}/{}@{}: {}", p.pool, p.image, name, id.err().message());
      fuse_reply_err(req, id.error());
      return;
    }
    h->image = *img;
    h->snap_id = *id;
    n = Node{NodeKind::SNAP, p.pool, p.image, name, ""};
  } else {
    bool created = false;
    Status s = create_in_pool(p, name, fi->flags & O_EXCL, &created);
    auto img =
        s.ok() ? open_image(p.pool, name) : core::Result<std::shared_ptr<core::Image>>(s.err());
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (want_write && !(*img)->read_only_reason().empty()) {
      fuse_reply_err(req, EROFS);
      return;
    }
    if (!created && (fi->flags & O_TRUNC) && want_write) {
      Status t = (*img)->resize(0);
      if (!t.ok()) {
        fuse_reply_err(req, t.error());
        return;
      }
    }
    h->image = *img;
    h->writable = want_write;
    n = Node{NodeKind::IMAGE, p.pool, name, "", ""};
  }
  reply_create(req, n, std::move(h), fi);
}

void Filesystem::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  // No devices, fifos or sockets; a regular mknod is a create without an open.
  bool created = false;
  Status s = S_ISREG(mode) ? create_in_pool(p, name, true, &created) : Status(Errno(EPERM));
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  reply_entry(req, Node{NodeKind::IMAGE, p.pool, name, "", ""});
}

void Filesystem::read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  h->image->aio_read(h->snap_id, static_cast<uint64_t>(off), size, [req](Result<core::ReadData> r) {
    if (!r.ok()) {
      fuse_reply_err(req, r.error());
      return;
    }
    // Straight from RADOS' buffers to the kernel: no copy
    // here (writev's iovec count is bounded by IOV_MAX).
    std::vector<iovec> iov = r->iov();
    if (iov.size() < 512) {
      fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
    } else {
      std::string flat = r->to_string();
      fuse_reply_buf(req, flat.data(), flat.size());
    }
  });
}

void Filesystem::write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
                       fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (!h->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  // errseq: this description reports what fails from its first write on
  std::call_once(h->first_write, [h] {
    h->error_cursor = h->image->error_mark();
    h->wrote = true;
  });
  uint64_t end = static_cast<uint64_t>(off) + size;
  bool stable = (fi->flags & O_DSYNC) != 0;
  if (end > h->image->header()->size) {
    // Growing costs a write nothing unless it is stable (O_DSYNC): its
    // acknowledgement then includes the new size.
    Status s = stable ? h->image->grow_to(end) : h->image->grow_async(end);
    if (!s.ok()) {
      spdlog::warn("growing {} to {}: {}", h->image->header()->name, end, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
  }
  // O_SYNC / O_DSYNC writers (qemu cache=directsync, dd oflag=dsync) get
  // their write acknowledged only once RADOS has it: without this, an
  // O_DSYNC write RADOS refused still succeeded, with or without O_DIRECT
  // (the kernel sent no fsync that could fail; tests/cluster/test_mount.sh).
  h->image->aio_write(
      static_cast<uint64_t>(off), buf, size,
      [req, size](Status s) {
        if (!s.ok())
          fuse_reply_err(req, s.error());
        else
          fuse_reply_write(req, size);
      },
      stable);
}

void Filesystem::flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  // close() (of any dup of the descriptor): every write sent before is in
  // RADOS; errors this description has not had reported by an fsync are
  // the answer (not consumed: a child's close at exec must not swallow
  // them). The handle outlives the request (release comes after).
  sync(req, handle_of(fi), false);
}

void Filesystem::fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  // fsync(): the same, and each error is reported once.
  sync(req, handle_of(fi), true);
}

void Filesystem::sync(fuse_req_t req, Handle* h, bool consume) {
  h->image->aio_drain([req, h, consume](Status s) {
    if (s.ok() && h->wrote) s = h->image->check_errors(&h->error_cursor, consume);
    fuse_reply_err(req, s.error());
  });
}

void Filesystem::release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  std::unique_ptr<Handle> h(handle_of(fi));
  if (h->writable) (void)h->image->drain();  // errors went to close()'s flush
  auto hdr = h->image->header();
  std::string key = image_key(hdr->pool, hdr->id);
  forget_header(hdr->pool, hdr->name);
  h.reset();
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_open.find(key);
    if (it != m_open.end() && it->second.expired()) m_open.erase(it);
  }
  fuse_reply_err(req, 0);
}

void Filesystem::unlink(fuse_req_t req, fuse_ino_t parent, const char* name_c) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (p.kind == NodeKind::SNAPDIR) {
    auto img = open_image(p.pool, p.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    Status s = (*img)->snap_remove(name);
    if (!s.ok()) {
      spdlog::info("removing snapshot {}/{}@{}: {}", p.pool, p.image, name, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
    // a later snapshot of that name is another file (snapshots keep_cache)
    m_nodes.detach(Node{NodeKind::SNAP, p.pool, p.image, name, ""}, "");
    fuse_reply_err(req, 0);
    return;
  }
  if (p.kind != NodeKind::POOL) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (name == SNAP_DIR) {
    fuse_reply_err(req, EPERM);
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  auto h = image_header(p.pool, name);
  if (!h.ok()) {
    fuse_reply_err(req, h.error());
    return;
  }
  if (!(*h)->read_only_reason.empty()) {
    spdlog::info("unlink {}/{} refused: {}", p.pool, name, (*h)->read_only_reason);
    fuse_reply_err(req, EROFS);
    return;
  }
  Status s;
  if (m_opts.delete_mode == DeleteMode::TRASH) {
    auto id = (*pl)->trash_move(name);
    if (!id.ok()) s = id.err();
  } else {
    if (find_open(p.pool, name)) {
      fuse_reply_err(req, EBUSY);
      return;
    }
    s = (*pl)->remove_image(name);
  }
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  // Descriptors still open keep the removed image (and its inode, page
  // cache included); the name now leads to a new inode.
  if (s.ok()) m_nodes.detach(Node{NodeKind::IMAGE, p.pool, name, "", ""}, (*h)->id);
  if (!s.ok()) spdlog::warn("unlink {}/{}: {}", p.pool, name, s.err().message());
  reply_status(req, s);
}

void Filesystem::rename(fuse_req_t req, fuse_ino_t parent, const char* name_c, fuse_ino_t newparent,
                        const char* newname_c, unsigned flags) {
  Node p, np;
  if (!resolve(req, parent, &p) || !resolve(req, newparent, &np)) return;
  std::string name = name_c, newname = newname_c;
  if (flags & RENAME_EXCHANGE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (m_opts.read_only) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (p.kind == NodeKind::SNAPDIR || np.kind == NodeKind::SNAPDIR) {
    if (p.kind != np.kind || p.image != np.image || p.pool != np.pool) {
      fuse_reply_err(req, EXDEV);
      return;
    }
    auto img = open_image(p.pool, p.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    Status s = (*img)->snap_rename(name, newname);
    if (s.ok())
      m_nodes.rename(Node{NodeKind::SNAP, p.pool, p.image, name, ""},
                     Node{NodeKind::SNAP, p.pool, p.image, newname, ""});
    reply_status(req, s);
    return;
  }
  if (p.kind != NodeKind::POOL || np.kind != NodeKind::POOL) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (p.pool != np.pool) {
    fuse_reply_err(req, EXDEV);
    return;
  }
  if (!core::valid_rbd_name(newname) || newname == SNAP_DIR) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  auto pl = pool(p.pool);
  if (!pl.ok()) {
    fuse_reply_err(req, pl.error());
    return;
  }
  if (find_open(p.pool, name)) {
    fuse_reply_err(req, EBUSY);  // open handles are bound to the old name
    return;
  }
  Status s = (*pl)->rename_image(name, newname);
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  forget_header(p.pool, newname);
  if (s.ok())
    m_nodes.rename(Node{NodeKind::IMAGE, p.pool, name, "", ""},
                   Node{NodeKind::IMAGE, p.pool, newname, "", ""});
  reply_status(req, s);
}

void Filesystem::fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len,
                           fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (!h->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  auto uoff = static_cast<uint64_t>(off), ulen = static_cast<uint64_t>(len);
  const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~known) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && uoff + ulen > h->image->header()->size) {
    Status s = h->image->grow_to(uoff + ulen);
    if (!s.ok()) {
      fuse_reply_err(req, s.error());
      return;
    }
  }
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    h->image->aio_discard(uoff, ulen, [req](Status s) { fuse_reply_err(req, s.error()); });
    return;
  }
  fuse_reply_err(req, 0);  // thin: nothing to allocate
}

void Filesystem::lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (off < 0) {
    fuse_reply_err(req, ENXIO);
    return;
  }
  if (whence != SEEK_DATA && whence != SEEK_HOLE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  // Stripe-unit granularity: "data" means the unit lies in an existing
  // object. Looks only at objects from `off` on.
  auto r = h->image->seek(h->snap_id, static_cast<uint64_t>(off), whence == SEEK_DATA);
  if (!r.ok())
    fuse_reply_err(req, r.error());
  else
    fuse_reply_lseek(req, static_cast<off_t>(*r));
}

void Filesystem::statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = 4u << 20;
  st.f_frsize = 4096;
  st.f_namemax = 255;
  auto s = m_cluster->stats();
  if (s.ok()) {
    st.f_blocks = s->kb / 4;
    st.f_bfree = s->kb_avail / 4;
    st.f_bavail = s->kb_avail / 4;
    st.f_files = s->num_objects;
    st.f_ffree = UINT32_MAX;
    st.f_favail = UINT32_MAX;
  }
  fuse_reply_statfs(req, &st);
}

// ---------------------------------------------------------------------------
// xattrs

namespace {
void reply_xattr_value(fuse_req_t req, const std::string& v, size_t size) {
  if (size == 0)
    fuse_reply_xattr(req, v.size());
  else if (size < v.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, v.data(), v.size());
}
const char* const IMAGE_XATTRS[] = {
    "user.rbd.id",          "user.rbd.features",           "user.rbd.object_size",
    "user.rbd.stripe_unit", "user.rbd.stripe_count",       "user.rbd.block_name_prefix",
    "user.rbd.parent",      "user.rbdfs.read_only_reason",
};
const char* const SNAP_XATTRS[] = {"user.rbd.snap_id", "user.rbd.protected"};
}  // namespace

void Filesystem::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name_c, size_t size) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  std::string name = name_c;
  // The kernel asks for security.capability before every write: answer
  // names we never have without reading the header.
  if ((n.kind != NodeKind::IMAGE && n.kind != NodeKind::SNAP) || name.rfind("user.", 0) != 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  auto h = image_header(n.pool, n.image);
  if (!h.ok()) {
    fuse_reply_err(req, h.error());
    return;
  }
  const auto& hdr = **h;
  std::string v;
  if (name == "user.rbd.id")
    v = hdr.id;
  else if (name == "user.rbd.features")
    v = core::feature_names(hdr.features);
  else if (name == "user.rbd.object_size")
    v = std::to_string(hdr.layout.object_size);
  else if (name == "user.rbd.stripe_unit")
    v = std::to_string(hdr.layout.stripe_unit);
  else if (name == "user.rbd.stripe_count")
    v = std::to_string(hdr.layout.stripe_count);
  else if (name == "user.rbd.block_name_prefix")
    v = hdr.object_prefix;
  else if (name == "user.rbd.parent")
    v = hdr.parent.exists() ? std::to_string(hdr.parent.pool_id) + "/" + hdr.parent.image_id + "@" +
                                  std::to_string(hdr.parent.snap_id)
                            : "";
  else if (name == "user.rbdfs.read_only_reason")
    v = hdr.read_only_reason;
  else if (n.kind == NodeKind::SNAP && name == "user.rbd.snap_id") {
    const auto* s = hdr.find_snap(n.snap);
    if (!s) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    v = std::to_string(s->id);
  } else if (n.kind == NodeKind::SNAP && name == "user.rbd.protected") {
    const auto* s = hdr.find_snap(n.snap);
    auto pl = pool(n.pool);
    if (!s || !pl.ok()) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    auto img = open_image(n.pool, n.image);
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    auto prot = (*img)->snap_protected(s->id);
    if (!prot.ok()) {
      fuse_reply_err(req, prot.error());
      return;
    }
    v = *prot ? "true" : "false";
  } else {
    fuse_reply_err(req, ENODATA);
    return;
  }
  reply_xattr_value(req, v, size);
}

void Filesystem::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  std::string list;
  if (n.kind == NodeKind::IMAGE || n.kind == NodeKind::SNAP)
    for (const char* x : IMAGE_XATTRS) list.append(x).push_back('\0');
  if (n.kind == NodeKind::SNAP)
    for (const char* x : SNAP_XATTRS) list.append(x).push_back('\0');
  reply_xattr_value(req, list, size);
}

}  // namespace rbdfs::ll
