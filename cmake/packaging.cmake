# The Debian package (docs/operations.md "Debian package"):
#   cmake --build build --target package   ->   build/camproxy_<version>_<arch>.deb
# /usr/bin/camproxy, the systemd unit, the example config as a conffile, the man page, the
# copyright and changelog Debian expects, and maintainer scripts creating the camproxy user.
include(GNUInstallDirs)

set(camproxy_debian_dir "${PROJECT_SOURCE_DIR}/deploy/debian")
set(camproxy_doc_dir "share/doc/camproxy")
set(camproxy_generated "${PROJECT_BINARY_DIR}/debian")

install(TARGETS camproxy RUNTIME DESTINATION bin COMPONENT camproxy)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/systemd/camproxy.service" DESTINATION /lib/systemd/system
        COMPONENT camproxy)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/examples/camproxy.yaml" DESTINATION /etc/camproxy COMPONENT camproxy)
install(FILES "${camproxy_debian_dir}/copyright" DESTINATION "${camproxy_doc_dir}" COMPONENT camproxy)

# Debian policy 12.7: changelog.Debian.gz, compressed reproducibly (no name, no time stamp).
set(CAMPROXY_DEB_VERSION "${PROJECT_VERSION}")
configure_file("${camproxy_debian_dir}/changelog.in" "${camproxy_generated}/changelog.Debian" @ONLY)
add_custom_command(
  OUTPUT "${camproxy_generated}/changelog.Debian.gz"
  COMMAND gzip -n -9 -c "${camproxy_generated}/changelog.Debian" > "${camproxy_generated}/changelog.Debian.gz"
  DEPENDS "${camproxy_generated}/changelog.Debian"
  VERBATIM)
# camproxy(1) from the option table (proxy/config/man_page.cc), compressed as Debian wants man pages.
add_custom_command(
  OUTPUT "${camproxy_generated}/camproxy.1.gz"
  COMMAND camproxy_man_page "${camproxy_generated}/camproxy.1"
  COMMAND gzip -n -9 -f "${camproxy_generated}/camproxy.1"
  DEPENDS camproxy_man_page
  VERBATIM)
add_custom_target(camproxy_debian_files ALL DEPENDS "${camproxy_generated}/changelog.Debian.gz"
                                                    "${camproxy_generated}/camproxy.1.gz")
install(FILES "${camproxy_generated}/changelog.Debian.gz" DESTINATION "${camproxy_doc_dir}" COMPONENT camproxy)
install(FILES "${camproxy_generated}/camproxy.1.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT camproxy)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "camproxy")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "The camproxy authors")
set(CPACK_PACKAGE_CONTACT "camproxy maintainers <camproxy@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MySQL proxy logging in to TencentDB with CAM tokens")
set(CPACK_PACKAGE_DESCRIPTION
    "camproxy sits next to an application and logs in to TencentDB for MySQL with\nshort-lived CAM database tokens, so the application needs no database password.\nIt pools upstream connections, drains on SIGTERM and speaks systemd's notify\nprotocol.")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")  # camproxy_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "database")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from what the binary links (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${camproxy_debian_dir}/conffiles;${camproxy_debian_dir}/postinst;${camproxy_debian_dir}/prerm;${camproxy_debian_dir}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what the rules above install: not the test or benchmark libraries' own install rules.
set(CPACK_COMPONENTS_ALL camproxy)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
include(CPack)
