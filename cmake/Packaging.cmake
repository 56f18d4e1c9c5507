# `cpack -G DEB` in the build directory: an rbdfs .deb for Debian 12 from the
# install rules, installed under /usr (/usr/bin/rbdfs, the man page, and
# /usr/sbin/mount.fuse.rbdfs, which is /sbin/mount.fuse.rbdfs on merged /usr).
# Its Depends are Debian's package names: dpkg-shlibdeps finds the shared
# libraries' packages (librados2, libfuse3-3, ...); fuse3 is named for
# mount.fuse3 and fusermount3.
set(CPACK_PACKAGE_NAME rbdfs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "rbdfs maintainers <rbdfs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FUSE filesystem exposing Ceph RBD images as files")
set(CPACK_PACKAGE_DESCRIPTION
  "rbdfs mounts a Ceph cluster's RBD pools as directories and its images as\
 sparse files (snapshots read-only under .snap), speaking the RBD format with\
 librados alone. mount -t fuse.rbdfs and /etc/fstab lines work with it.")
# The install runs with DESTDIR and prefix /usr, so fuse/'s install(CODE)
# sees the package's prefix and puts the mount helper in /usr/sbin.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS fuse3)
include(CPack)
