// Filesystem: the mounted tree over core/, as libfuse low-level callbacks
// see it. The callbacks in ops.cc are one-line adapters into the members
// here; every member replies to its request exactly once. Its parts:
//   filesystem.cc  state: pools, listings, open images, header and
//                  st_blocks caches, attributes
//   fs_tree.cc     lookup, getattr/setattr, directories, unlink, rename, statfs
//   fs_files.cc    open/create, read, write, flush/fsync, release, fallocate, lseek
//   fs_xattr.cc    user.rbd.* attributes
//   fs_namespaces.cc  namespaces: listing, mkdir, rmdir; pool directories
//   fs_trash.cc    .trash/: listing, restore (rename out), purge (unlink)
//   fs_owner.cc    permissions: stored owner and mode, chmod/chown
//   node_table.*   inodes; work_queue.* helper threads
//
// TREE
//   /                          pools with the rbd application (or --pool)
//   /<pool>/<image>            an RBD image as a sparse regular file
//   /<pool>/.snap/             one directory per image
//   /<pool>/.snap/<image>/<s>  a read-only file per user snapshot
//   /<pool>/.trash/<image>     a read-only file per trashed image (by a
//                              user), <image>@<id> where names repeat
//   /<pool>/<ns>/...           a namespace: images, .snap/, .trash/ as
//                              above (<ns>@ns when an image is named <ns>)
//
// INODES are allocated per path on lookup and freed on forget (NodeTable).
// Paths are by name: an image renamed by another client is a new path.
//
// LOCKS (each a leaf: none is held across a RADOS call, a fuse_reply_*, or
// while taking another):
//   NodeTable::m_mu    inode table
//   m_pools_mu         pool handles and directory listings
//   m_images_mu        open images (weak references), name -> id, st_blocks
//   m_attr_mu          cached headers of images not open
//
// LIFECYCLE: images are opened on demand (open/create) and shared by every
// handle on them, keyed by pool and image id (never by name: an image
// removed while open keeps serving its descriptors, and a new image of the
// same name is another image); the last release drains and closes.
// Attributes of an image that is not open come from a fresh header read
// (the kernel caches them for attr_timeout), so there is no limit on the
// number of images.
#pragma once

// 3.12: fuse_session_loop_mt takes the opaque fuse_loop_config of
// fuse_loop_cfg_create(); under an older version it takes the old public
// struct instead and reads our config as max_idle_threads = 0.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cluster.h"
#include "core/image.h"
#include "core/pool.h"
#include "fuse/node_table.h"
#include "fuse/options.h"
#include "fuse/work_queue.h"

namespace rbdfs::ll {

// A directory's entries, read at opendir and paged through by readdir.
struct DirListing : std::vector<std::pair<std::string, NodeKind>> {
  Node dir;
};

// What an open file handle (fuse_file_info::fh) points to: one open file
// description.
struct Handle {
  // The image; replaced (Filesystem::image_of) when our client instance
  // was blocklisted and a new one opened it again (read-only descriptions).
  std::shared_ptr<core::Image> image() const { return std::atomic_load(&m_image); }
  void set_image(std::shared_ptr<core::Image> img) { std::atomic_store(&m_image, std::move(img)); }
  std::atomic<bool> reopening{false};
  // Opened for writing through an instance that was then blocklisted, and
  // said so in the log once (its operations fail with ESHUTDOWN until it
  // is closed: Filesystem::image_of).
  std::atomic<bool> fenced{false};
  uint64_t snap_id = core::cls::NOSNAP;
  bool writable = false;
  // Errors of this description's early-acknowledged writes (errseq, as the
  // kernel does): sampled before its first write; its fsync and close
  // report what failed since, once. A description that never wrote never
  // reports (nor takes) anyone's error.
  std::once_flag first_write;
  std::atomic<bool> wrote{false};
  std::atomic<uint64_t> error_cursor{0};

 private:
  std::shared_ptr<core::Image> m_image;  // atomic_load/atomic_store only
};

// Readahead on the mount: four objects of the default size. A cold `cp` of
// an image read 921-953 MB/s with 16 MiB against 843-888 MB/s with 4 MiB,
// and no more with 32 MiB (README); the kernel ramps its window up from the
// size of the reads, so short reads do not pay for it.
constexpr unsigned READAHEAD_BYTES = 16u << 20;

class Filesystem {
 public:
  Filesystem(std::shared_ptr<core::Cluster> cluster, Options options);

  void init(fuse_conn_info* conn);
  // The session, for invalidating the page cache of a file another client
  // wrote (set once, before the loop runs).
  void set_session(fuse_session* se) { m_se = se; }
  // Requests are to come over io_uring (fuse/uring.h): set before the
  // loop, for init().
  void set_requests_by_ring(bool on) { m_by_ring = on; }
  // After the loop: images still open (files the kernel never released)
  // stop calling into the session and the work queue.
  // false: a request to the monitors is still under way (they do not
  // answer) and holds the cluster: the process should _exit.
  bool shutdown();
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void forget(fuse_ino_t ino, uint64_t n) { m_nodes.forget(ino, n); }
  // With `fi` (fstat of an open file): the attributes of the image that
  // descriptor has open, even when it was removed or renamed since.
  void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi = nullptr);
  void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  // The data is in memory or still in libfuse's splice pipe (bufv).
  void write(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* bufv, off_t off, fuse_file_info* fi);
  // Inside the cluster (Image::copy_from): whole objects by the OSDs.
  void copy_file_range(fuse_req_t req, fuse_file_info* fi_in, off_t off_in, fuse_file_info* fi_out,
                       off_t off_out, size_t len, int flags);
  void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  // ln <pool>/.snap/<image>/<snap> <pool2>/<name>: a v2 clone of the snapshot.
  void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned flags);
  void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                 fuse_file_info* fi);
  void lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi);
  void statfs(fuse_req_t req, fuse_ino_t ino);
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  // Only user.rbdfs.flatten (any value) on a clone: flattens it (as `rbd
  // flatten`); the user.rbd.* attributes are read-only (EPERM).
  void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  // mkdir/rmdir in a pool's directory: create/remove an RBD namespace.
  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);

 private:
  // An entry of a trash directory: the name it shows, the image's id and
  // its trash record.
  struct TrashEntry {
    std::string name;
    std::string id;
    core::cls::TrashSpec spec;
  };
  struct PoolEntry {  // by pool spec ("pool" or "pool/ns")
    std::shared_ptr<core::Pool> pool;
    std::chrono::steady_clock::time_point listed;
    std::vector<std::pair<std::string, std::string>> images;  // name, id
    bool have_listing = false;
    std::chrono::steady_clock::time_point ns_listed;
    std::vector<std::string> namespaces;  // default namespace's entry only
    bool have_namespaces = false;
    std::chrono::steady_clock::time_point trash_listed;
    std::vector<TrashEntry> trash;
    bool have_trash = false;
  };

  core::Result<std::vector<std::string>> pools(bool fresh = false);
  core::Result<std::shared_ptr<core::Pool>> pool(const std::string& name);
  // Reads through the named pool: fn(Pool&). RADOS answers ESHUTDOWN only
  // to a client instance that was blocklisted: fn runs once more, on a new
  // instance (see noted() in fs_internal.h; changes are not repeated).
  template <typename F>
  auto read_pool(const std::string& name, F&& fn) -> decltype(fn(std::declval<core::Pool&>()));
  // A change through the named pool, opened now (a read just before may have
  // connected anew); an ESHUTDOWN marks its instance (noted()).
  template <typename F>
  auto change_pool(const std::string& name, F&& fn) -> decltype(fn(std::declval<core::Pool&>()));
  core::Result<std::vector<std::pair<std::string, std::string>>> images(const std::string& pool,
                                                                        bool fresh);
  void invalidate_listing(const std::string& pool);
  // Namespaces of a pool (sorted), at most LISTING_TTL old unless fresh.
  core::Result<std::vector<std::string>> namespaces(const std::string& pool, bool fresh);
  // Entries of a pool's or namespace's .trash/ (user-trashed images, as
  // `rbd trash ls` shows them), at most LISTING_TTL old unless fresh.
  core::Result<std::vector<TrashEntry>> trash(const std::string& pool, bool fresh);
  // The trash entry a name in .trash/ stands for: ENOENT.
  core::Result<TrashEntry> trash_entry(const std::string& pool, const std::string& name,
                                       bool fresh);
  // The node `name` in pool directory `p` stands for (an image, a
  // namespace, .snap or .trash); may ask the cluster.
  Node pool_child(const Node& p, const std::string& name);
  // The names a pool's directory lists beyond its images.
  core::Status list_pool_extras(const Node& p,
                                const std::vector<std::pair<std::string, std::string>>& images,
                                DirListing* out);
  // rename out of .trash/ (restore), unlink in it (remove for good).
  void trash_restore(fuse_req_t req, const Node& trashdir, const std::string& name, const Node& to,
                     const std::string& newname);
  void trash_unlink(fuse_req_t req, const Node& trashdir, const std::string& name);
  // user.rbd.trash.* of a trashed image.
  void trash_getxattr(fuse_req_t req, const Node& n, const std::string& name, size_t size);
  // user.rbdfs.caches on the root: "open=N ids=N headers=N blocks=N inodes=N"
  std::string cache_sizes();
  // Permission bits, owner and group of an image's file (after
  // fill_common): stored ones, else the mount's defaults.
  void apply_owner(const core::ImageHeader& h, bool writable, struct stat* st) const;
  // A new image belongs to whoever made it: stored, unless root made it
  // on a mount whose defaults say root (every mount then shows its own).
  void own_new_image(fuse_req_t req, const std::string& pool, const std::string& name, mode_t mode);
  // chmod/chown of an image: stored in its metadata. `req`: whose
  // chown(2)/chmod(2) rules apply (nullptr: none, rbdfs' own).
  core::Status store_owner(const Node& n, const struct stat* attr, int to_set, fuse_req_t req);
  // Header of an image: from the open image if there is one, else read.
  core::Result<std::shared_ptr<const core::ImageHeader>> image_header(const std::string& pool,
                                                                      const std::string& image);
  using HeaderResult = core::Result<std::shared_ptr<const core::ImageHeader>>;
  // Header of an image that is not open, shared by concurrent askers and
  // cached for ATTR_TIMEOUT; `id` (from a fresh listing) saves a round trip.
  HeaderResult cached_header(const std::string& pool, const std::string& image,
                             const std::string& id = "");
  void prefetch_headers(const std::string& pool,
                        const std::vector<std::pair<std::string, std::string>>& images);
  void forget_header(const std::string& pool, const std::string& image);
  // st_blocks of an image we wrote is counted again at the next stat.
  void forget_blocks(const std::string& pool, const std::string& id);
  HeaderResult fetch_header(const std::string& pool, const std::string& image,
                            const std::string& id);
  // `id` when known (a trashed image has no name to look up).
  core::Result<std::shared_ptr<core::Image>> open_image(const std::string& pool,
                                                        const std::string& image,
                                                        const std::string& id = "");
  std::shared_ptr<core::Image> find_open(const std::string& pool, const std::string& image);
  // name -> id, from a lookup at most ID_TTL old (fresh: look it up now).
  core::Result<std::string> image_id(const std::string& pool, const std::string& image,
                                     bool fresh = false);
  uint64_t allocated_blocks(const std::shared_ptr<const core::ImageHeader>& h, uint64_t snap_id,
                            uint64_t size);

  // Attributes; an error when the node is gone.
  core::Status fill_attr(const Node& n, struct stat* st);
  // Owner, times of the mount, zeros elsewhere.
  void fill_common(struct stat* st) const;
  // An image's or snapshot's attributes from its header (after fill_common).
  core::Status fill_file_attr(const std::shared_ptr<const core::ImageHeader>& h,
                              const std::string& snap, struct stat* st);
  // Fills an entry (attributes, one lookup reference) for a reply.
  core::Status fill_entry(const Node& n, fuse_entry_param* e);
  void reply_entry(fuse_req_t req, const Node& n);
  // fuse_reply_open, adding FOPEN_PARALLEL_DIRECT_WRITES to direct-I/O files.
  int reply_open(fuse_req_t req, const fuse_file_info* fi);
  void reply_create(fuse_req_t req, const Node& n, std::unique_ptr<Handle> h, fuse_file_info* fi);
  // A name for something new in a pool's directory (image, clone,
  // namespace): EROFS on a read-only mount, EINVAL for a name RBD would
  // not take or one the tree keeps for itself.
  core::Status check_new_name(const std::string& name) const;
  // Creates image `name` in pool directory `p` as the mount's options say;
  // an existing image is fine unless `excl`. *created: it is new.
  core::Status create_in_pool(const Node& p, const std::string& name, bool excl, bool* created);
  // The id of the data pool of images created through the mount
  // (--data-pool, else rbd_default_data_pool), -1 for none; a missing pool
  // is ENOENT, logged once as the failure of `what`.
  core::Result<int64_t> create_data_pool_id(const std::string& what);
  bool resolve(fuse_req_t req, fuse_ino_t ino, Node* n);
  // flush/fsync: drain, then this description's deferred write errors.
  void sync(fuse_req_t req, Handle* h, bool consume);
  // read(): once more (again) when a read-only description's instance
  // turned out blocklisted.
  void read_from(fuse_req_t req, Handle* h, size_t size, off_t off, bool again);
  // The part of write() after its data is copied: grows the image if the
  // write ends past it, sends, replies.
  void send_write(fuse_req_t req, const std::shared_ptr<core::Image>& img, off_t off,
                  core::WriteBuffer data, bool stable);

  // The cluster connection; a new one replaces it when this one was
  // blocklisted (pools and open images are then opened again on it).
  std::shared_ptr<core::Cluster> cluster();
  // The handle's image. When its instance was blocklisted: a read-only
  // description's is opened again on the new connection first (once;
  // meanwhile callers get the old one, whose operations fail with
  // ESHUTDOWN); a writable description is fenced: null, for ESHUTDOWN.
  std::shared_ptr<core::Image> image_of(Handle* h);
  std::mutex m_cluster_mu;
  std::condition_variable m_reconnected;                    // a connect under way ended
  std::shared_ptr<core::Cluster> m_cluster;                 // GUARDED_BY(m_cluster_mu)
  bool m_reconnecting = false;                              // GUARDED_BY(m_cluster_mu)
  std::chrono::steady_clock::time_point m_reconnect_after;  // GUARDED_BY(m_cluster_mu)
  Options m_opts;
  bool m_by_ring = false;
  uint64_t m_create_features = 1;
  uint8_t m_create_order = 22;
  uint64_t m_create_stripe_unit = 0;
  uint64_t m_create_stripe_count = 0;
  std::string m_create_data_pool;
  uid_t m_uid;
  gid_t m_gid;
  struct timespec m_mount_time;
  // The kernel's largest read request (set by init, before any read):
  // reads of this size may be pieces of a larger one.
  uint64_t m_read_piece = 0;
  NodeTable m_nodes;
  std::atomic<fuse_session*> m_se{nullptr};

  std::mutex m_pools_mu;
  std::map<std::string, PoolEntry> m_pools;              // GUARDED_BY(m_pools_mu)
  std::vector<std::string> m_pool_names;                 // GUARDED_BY(m_pools_mu)
  std::chrono::steady_clock::time_point m_pools_listed;  // GUARDED_BY(m_pools_mu)
  // Asking the monitors for the latest OSD map (pools made after the
  // mount), one request at a time, on its own thread: with the monitors
  // down it waits there, never in a FUSE request, and never holds up the
  // unmount. Shared with that thread.
  struct OsdmapRefresh {
    std::mutex mu;
    std::condition_variable cv;
    bool busy = false;                               // GUARDED_BY(mu)
    bool again = false;                              // GUARDED_BY(mu): asked for while busy
    uint64_t done = 0;                               // GUARDED_BY(mu): requests answered
    std::chrono::steady_clock::time_point answered;  // GUARDED_BY(mu): the last one
    std::chrono::steady_clock::time_point started;   // GUARDED_BY(mu): the one under way
  };
  std::shared_ptr<OsdmapRefresh> m_osdmap = std::make_shared<OsdmapRefresh>();
  // Starts a request unless one is under way; returns the count of answered
  // requests that means "one that started from now on has been answered".
  uint64_t refresh_osdmap();
  // Until no request is under way (false: still one after `most`).
  bool wait_osdmap_refresh(std::chrono::milliseconds most);

  std::mutex m_images_mu;
  // pool '/' id -> the open image
  std::map<std::string, std::weak_ptr<core::Image>> m_open;  // GUARDED_BY(m_images_mu)
  struct Blocks {
    uint64_t blocks;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, Blocks> m_blocks;  // GUARDED_BY(m_images_mu): pool/id@snap
  size_t m_blocks_mark = 0;                // GUARDED_BY(m_images_mu): sweep_expired
  struct Id {
    std::string id;
    std::chrono::steady_clock::time_point when;
  };
  std::map<std::string, Id> m_ids;  // GUARDED_BY(m_images_mu): pool/name -> id
  size_t m_ids_mark = 0;            // GUARDED_BY(m_images_mu): sweep_expired
  void sweep_ids();                 // REQUIRES(m_images_mu)

  std::mutex m_attr_mu;
  struct CachedHeader {
    std::shared_future<HeaderResult> header;
    std::chrono::steady_clock::time_point when;
  };
  std::map<std::string, CachedHeader> m_headers;  // GUARDED_BY(m_attr_mu)
  size_t m_headers_mark = 0;                      // GUARDED_BY(m_attr_mu): sweep_expired
  void sweep_headers();                           // REQUIRES(m_attr_mu)
  WorkQueue m_work{16};  // last: its threads stop before the members they use
};

}  // namespace rbdfs::ll
