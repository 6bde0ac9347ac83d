# CPack settings for the two packages; included from packaging/CMakeLists.txt.

set(CPACK_PACKAGE_NAME credsentry)
set(CPACK_PACKAGE_VENDOR "credsentry")
set(CPACK_PACKAGE_CONTACT "${CS_PKG_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL "https://credsentry.example.org")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB RPM)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)

set(CPACK_COMPONENTS_ALL agent)
if(CS_HAVE_COLLECTOR)
  list(APPEND CPACK_COMPONENTS_ALL collector)
endif()
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)

set(CS_AGENT_SUMMARY "credsentry host agent: catches credentials being stolen (eBPF)")
set(CS_AGENT_DESCRIPTION "credsentry-agent watches, with eBPF probes, which processes read \
credential files and what they send over the network or TLS, matches credential formats \
(AI provider keys, cloud and CI tokens) in outbound bytes after decoding, and reports each \
credential leaving for an unexpected destination as a JSON alert that carries only a redacted \
preview and a keyed fingerprint of the secret. It needs Linux 5.8 or later with BTF.")
set(CS_COLLECTOR_SUMMARY "credsentry collector: fleet alert store and correlation")
set(CS_COLLECTOR_DESCRIPTION "credsentry-collector receives alerts from credsentry agents over \
gRPC with mutual TLS, stores them in SQLite or PostgreSQL, tells when one credential \
fingerprint leaves several hosts, and forwards fresh alerts to a webhook or syslog.")

# cs_wrap(OUT TEXT): TEXT with words joined into lines of at most 78 characters.
function(cs_wrap out text)
  string(REGEX REPLACE "[ \n]+" ";" words "${text}")
  set(result "")
  set(line "")
  foreach(word IN LISTS words)
    string(LENGTH "${line} ${word}" len)
    if(line STREQUAL "")
      set(line "${word}")
    elseif(len GREATER 78)
      string(APPEND result "${line}\n")
      set(line "${word}")
    else()
      string(APPEND line " ${word}")
    endif()
  endforeach()
  string(APPEND result "${line}")
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# ---- Debian ---------------------------------------------------------------------------------
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime Depends come from the binaries themselves (dpkg-shlibdeps on their ELF NEEDED list),
# so they are exact for the distribution the package was built on.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME credsentry-agent)
# Debian wants the synopsis first, then the description wrapped below 80 columns.
cs_wrap(CS_AGENT_WRAPPED "${CS_AGENT_DESCRIPTION}")
set(CPACK_DEBIAN_AGENT_DESCRIPTION "${CS_AGENT_SUMMARY}\n${CS_AGENT_WRAPPED}")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${CS_PKG_DIR}/debian/agent/postinst ${CS_PKG_DIR}/debian/agent/prerm
    ${CS_PKG_DIR}/debian/agent/postrm ${CS_PKG_GEN}/agent/conffiles)
file(WRITE ${CS_PKG_GEN}/agent/conffiles
     "/etc/credsentry/agent.yaml\n/etc/credsentry/rules.d/README\n"
     "/etc/logrotate.d/credsentry-agent\n")

set(CPACK_DEBIAN_COLLECTOR_PACKAGE_NAME credsentry-collector)
cs_wrap(CS_COLLECTOR_WRAPPED "${CS_COLLECTOR_DESCRIPTION}")
set(CPACK_DEBIAN_COLLECTOR_DESCRIPTION "${CS_COLLECTOR_SUMMARY}\n${CS_COLLECTOR_WRAPPED}")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_CONTROL_EXTRA
    ${CS_PKG_DIR}/debian/collector/postinst ${CS_PKG_DIR}/debian/collector/prerm
    ${CS_PKG_DIR}/debian/collector/postrm ${CS_PKG_GEN}/collector/conffiles)
file(WRITE ${CS_PKG_GEN}/collector/conffiles "/etc/credsentry/collector.env\n")

# ---- RPM (RHEL, Rocky, Alma, Fedora) --------------------------------------------------------
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_URL "${CPACK_PACKAGE_HOMEPAGE_URL}")
# rpmbuild adds soname requirements (libbpf.so.1()(64bit), ...) from the binaries: those are
# exact. The names below are the RHEL 9 (+ EPEL) packages that provide most of them, for people
# reading `rpm -qpR`; gRPC and brotli are left to their sonames, whose package names vary.
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
set(CPACK_PACKAGE_RELOCATABLE OFF)
# No /usr/lib/.build-id links: there is no -debuginfo package for them to point into, and both
# packages would own the directory.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")
set(CPACK_RPM_AGENT_PACKAGE_NAME credsentry-agent)
set(CPACK_RPM_AGENT_PACKAGE_SUMMARY "${CS_AGENT_SUMMARY}")
set(CPACK_RPM_AGENT_PACKAGE_DESCRIPTION "${CS_AGENT_WRAPPED}")
string(JOIN ", " CPACK_RPM_AGENT_PACKAGE_REQUIRES libbpf elfutils-libelf hyperscan yaml-cpp spdlog
            fmt openssl-libs protobuf libnghttp2 zlib libzstd bzip2-libs xz-libs cpp-httplib
            systemd)
set(CPACK_RPM_AGENT_POST_INSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/agent-post.sh)
set(CPACK_RPM_AGENT_PRE_UNINSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/agent-preun.sh)
set(CPACK_RPM_AGENT_POST_UNINSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/agent-postun.sh)
set(CPACK_RPM_AGENT_USER_FILELIST
    "%config(noreplace) /etc/credsentry/agent.yaml"
    "%config(noreplace) /etc/credsentry/rules.d/README"
    "%config(noreplace) /etc/logrotate.d/credsentry-agent")

set(CPACK_RPM_COLLECTOR_PACKAGE_NAME credsentry-collector)
set(CPACK_RPM_COLLECTOR_PACKAGE_SUMMARY "${CS_COLLECTOR_SUMMARY}")
set(CPACK_RPM_COLLECTOR_PACKAGE_DESCRIPTION "${CS_COLLECTOR_WRAPPED}")
string(JOIN ", " CPACK_RPM_COLLECTOR_PACKAGE_REQUIRES protobuf sqlite-libs libpq spdlog fmt
            openssl-libs zlib cpp-httplib systemd shadow-utils)
set(CPACK_RPM_COLLECTOR_PRE_INSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/collector-pre.sh)
set(CPACK_RPM_COLLECTOR_POST_INSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/collector-post.sh)
set(CPACK_RPM_COLLECTOR_PRE_UNINSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/collector-preun.sh)
set(CPACK_RPM_COLLECTOR_POST_UNINSTALL_SCRIPT_FILE ${CS_PKG_DIR}/rpm/collector-postun.sh)
set(CPACK_RPM_COLLECTOR_USER_FILELIST "%config(noreplace) /etc/credsentry/collector.env")
# Directories the base system owns are not ours to own.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc/logrotate.d /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/share/doc
    /usr/share/man /usr/share/man/man8 /var /var/lib /var/log)

include(CPack)
