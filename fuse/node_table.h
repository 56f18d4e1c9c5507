// The inode table: which pool, image or snapshot each inode the kernel
// holds stands for. Inodes are allocated per path on lookup and freed on
// forget; a removed image's inode lives on, detached from its name.
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312  // as fuse/filesystem.h
#endif
#include <fuse_lowlevel.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace rbdfs::ll {

// POOL is a pool's directory or (pool "pool/ns") one of its namespaces';
// TRASHED is an image in the trash directory of one (`image`: its name
// there).
enum class NodeKind { ROOT, POOL, SNAPROOT, SNAPDIR, IMAGE, SNAP, TRASHDIR, TRASHED };

struct Node {
  NodeKind kind = NodeKind::ROOT;
  std::string pool;  // "pool", or "pool/namespace"
  std::string image;
  std::string snap;
  std::string detached_id;  // an image removed while open: its id (no name)
  std::string key() const;
};

class NodeTable {
 public:
  NodeTable();
  // Adds one lookup reference to the node (creating its inode).
  fuse_ino_t ref(const Node& n);
  bool get(fuse_ino_t ino, Node* out);
  // The inode of a node if it has one, else a stable non-zero number for
  // readdir (a d_ino of 0 makes glibc skip the entry).
  fuse_ino_t peek(const Node& n);
  void forget(fuse_ino_t ino, uint64_t n);
  // After a rename: the inode the kernel holds for `from` now names `to`.
  void rename(const Node& from, const Node& to);
  // After an unlink: the inode of `n` (if any) keeps living for whoever
  // holds it, but no longer answers to the name.
  void detach(const Node& n, const std::string& id);
  // Inodes the kernel holds (for user.rbdfs.caches).
  size_t size();

 private:
  struct Entry {
    Node node;
    uint64_t nlookup = 0;
  };
  void detach_locked(const std::string& key, const std::string& id);

  std::mutex m_mu;
  fuse_ino_t m_next = 2;
  std::unordered_map<fuse_ino_t, Entry> m_by_ino;        // GUARDED_BY(m_mu)
  std::unordered_map<std::string, fuse_ino_t> m_by_key;  // GUARDED_BY(m_mu)
};

}  // namespace rbdfs::ll
