#include "core/object_map.h"

#include "core/cls_call.h"

namespace rbdfs::core {

Result<object_map::Map> load_object_map(librados::IoCtx& md, const std::string& image_id,
                                        std::optional<uint64_t> snap_id) {
  std::string oid = object_map::map_object(image_id, snap_id);
  librados::bufferlist out;
  RBDFS_TRY(detail::cls_exec(md, oid, "object_map_load", "", &out));
  return detail::decoded(object_map::decode(detail::view(out)), "object_map_load", oid);
}

}  // namespace rbdfs::core
