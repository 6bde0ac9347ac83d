# Compiles CO-RE BPF sources with clang against the pinned vmlinux.h, links them into one object
# with `bpftool gen object` (so probe families share maps), and generates a libbpf skeleton.
#
#   credsentry_bpf_skeleton(NAME <name> SOURCES a.bpf.c b.bpf.c DEPENDS headers...)
# produces ${CMAKE_CURRENT_BINARY_DIR}/<name>.skel.h and an INTERFACE target <name>_skel.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "no pinned vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(credsentry_bpf_skeleton)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPENDS" ${ARGN})
  set(objects)
  foreach(src ${ARG_SOURCES})
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/${stem}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
              -Wall -Werror -Wno-unused-function
              -I${CMAKE_CURRENT_SOURCE_DIR} -I${CMAKE_CURRENT_SOURCE_DIR}/vmlinux/${BPF_TARGET_ARCH}
              -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${ARG_DEPENDS}
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${ARG_NAME} > ${skel}
    DEPENDS ${objects}
    COMMENT "BPF skeleton ${ARG_NAME}"
    VERBATIM)
  add_custom_target(${ARG_NAME}_skel_gen DEPENDS ${skel})
  add_library(${ARG_NAME}_skel INTERFACE)
  add_dependencies(${ARG_NAME}_skel ${ARG_NAME}_skel_gen)
  target_include_directories(${ARG_NAME}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR}
                                                         ${CMAKE_CURRENT_SOURCE_DIR})
endfunction()
