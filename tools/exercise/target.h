// What the exerciser drives: the Target interface and SnapReader.
#pragma once

#include "tools/exercise/common.h"

namespace rbdfs::exercise {

class SnapReader {
 public:
  virtual ~SnapReader() = default;
  virtual uint64_t size() = 0;
  virtual uint64_t read(uint64_t off, uint64_t len, char* out) = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;
  virtual Layout layout() = 0;
  virtual uint64_t size() = 0;
  virtual void write(uint64_t off, const char* buf, uint64_t len) = 0;
  virtual uint64_t read(uint64_t off, uint64_t len, char* out) = 0;
  virtual void truncate(uint64_t size) = 0;
  virtual void punch(uint64_t off, uint64_t len) = 0;
  virtual void zero(uint64_t off, uint64_t len, bool keep_size) = 0;
  // fallocate mode 0: nothing to allocate in RBD, but may grow the image.
  virtual void allocate(uint64_t off, uint64_t len, bool keep_size) = 0;
  virtual void fsync() = 0;
  // lseek(SEEK_DATA or SEEK_HOLE): false when the target has no such
  // thing; *out = -1 for ENXIO.
  virtual bool seek(uint64_t off, bool data, int64_t* out) = 0;
  // Close and open again; with `trunc`, the open has O_TRUNC.
  virtual void reopen(bool trunc) = 0;
  // The second writer: aligned offsets and lengths, aligned buffers.
  virtual void direct_write(uint64_t off, const char* buf, uint64_t len) = 0;
  virtual uint64_t direct_read(uint64_t off, uint64_t len, char* out) = 0;
  virtual void snap_create(const std::string& snap) = 0;
  virtual void snap_remove(const std::string& snap) = 0;
  virtual std::unique_ptr<SnapReader> snap_open(const std::string& snap) = 0;
  // copy_file_range of `len` bytes from `src_off` of the image (`snap`
  // empty) or of a snapshot, to `dst_off` of the image; the bytes copied
  // (fewer only at the source's end).
  virtual uint64_t copy_range(const std::string& snap, uint64_t src_off, uint64_t dst_off,
                              uint64_t len) = 0;
};

}  // namespace rbdfs::exercise
