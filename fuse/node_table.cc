#include "fuse/node_table.h"

#include <functional>

namespace rbdfs::ll {

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

size_t NodeTable::size() {
  std::lock_guard<std::mutex> l(m_mu);
  return m_by_ino.size();
}

}  // namespace rbdfs::ll
