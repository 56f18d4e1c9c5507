// rbdfs: mounts a Ceph cluster's RBD images as files.
#include <cstdio>
#include <string>

#include "fuse/options.h"

int main(int argc, char** argv) {
  rbdfs::ll::Options opts;
  std::string error;
  if (!rbdfs::ll::parse_options(argc, argv, &opts, &error)) {
    std::fprintf(stderr, "rbdfs: %s\n(try rbdfs --help)\n", error.c_str());
    return 2;
  }
  if (opts.help) {
    std::fputs(rbdfs::ll::usage_text("rbdfs").c_str(), stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("rbdfs %s\n", RBDFS_VERSION);
    return 0;
  }
  std::fprintf(stderr, "rbdfs: mounting is not implemented yet\n");
  return 1;
}
