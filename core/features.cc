#include "core/features.h"

#include <cstdio>
#include <sstream>

namespace rbdfs::core {

namespace {
struct FeatureName {
  uint64_t bit;
  const char* name;
};
const FeatureName FEATURE_NAMES[] = {
    {FEATURE_LAYERING, "layering"},
    {FEATURE_STRIPINGV2, "striping"},
    {FEATURE_EXCLUSIVE_LOCK, "exclusive-lock"},
    {FEATURE_OBJECT_MAP, "object-map"},
    {FEATURE_FAST_DIFF, "fast-diff"},
    {FEATURE_DEEP_FLATTEN, "deep-flatten"},
    {FEATURE_JOURNALING, "journaling"},
    {FEATURE_DATA_POOL, "data-pool"},
    {FEATURE_OPERATIONS, "operations"},
    {FEATURE_MIGRATING, "migrating"},
    {FEATURE_NON_PRIMARY, "non-primary"},
    {FEATURE_DIRTY_CACHE, "dirty-cache"},
};
}  // namespace

bool parse_feature_list(const std::string& text, uint64_t* out, std::string* error) {
  uint64_t bits = 0;
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    try {
      bits = std::stoull(text);
    } catch (...) {
      *error = "bad feature number '" + text + "'";
      return false;
    }
    if (bits & ~FEATURES_KNOWN) {
      *error = "unknown feature bits in '" + text + "'";
      return false;
    }
    *out = bits;
    return true;
  }
  std::stringstream ss(text);
  std::string word;
  while (std::getline(ss, word, ',')) {
    while (!word.empty() && word.front() == ' ') word.erase(0, 1);
    while (!word.empty() && word.back() == ' ') word.pop_back();
    if (word.empty()) continue;
    bool found = false;
    for (const auto& f : FEATURE_NAMES) {
      if (word == f.name) {
        bits |= f.bit;
        found = true;
      }
    }
    if (!found) {
      *error = "unknown image feature '" + word + "'";
      return false;
    }
  }
  *out = bits;
  return true;
}

std::string feature_names(uint64_t features) {
  std::string s;
  for (const auto& f : FEATURE_NAMES) {
    if (features & f.bit) {
      if (!s.empty()) s += ", ";
      s += f.name;
      features &= ~f.bit;
    }
  }
  if (features) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(features));
    if (!s.empty()) s += ", ";
    s += buf;
  }
  return s;
}

}  // namespace rbdfs::core
