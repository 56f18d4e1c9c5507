#include "core/names.h"

#include <cstdio>

namespace rbdfs::core {

std::string object_name(const std::string& prefix, uint64_t object_no) {
  char buf[24];
  std::snprintf(buf, sizeof buf, ".%016llx", static_cast<unsigned long long>(object_no));
  return prefix + buf;
}

bool valid_rbd_name(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '@' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace rbdfs::core
