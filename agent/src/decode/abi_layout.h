// Compile-time proof that the C++ decoder and the BPF programs agree on every record layout.
// The kernel side is compiled by clang for the BPF target, this side by g++ for the host: a
// field that moves or a padding hole that differs fails the build here, not on a fleet.
#pragma once

#include <cstddef>

#include "credsentry_abi.h"

static_assert(sizeof(cs_event_header) == 56);
static_assert(offsetof(cs_event_header, ts_ns) == 8);
static_assert(offsetof(cs_event_header, pid) == 16);
static_assert(offsetof(cs_event_header, cgroup_id) == 32);
static_assert(offsetof(cs_event_header, comm) == 40);
static_assert(sizeof(cs_exec_event) == 56 + 32 + CS_PATH_MAX + CS_ARGS_MAX);
static_assert(offsetof(cs_exec_event, stdin_pipe) == 72);
static_assert(offsetof(cs_exec_event, held) == 68);
static_assert(offsetof(cs_exec_event, filename) == 88);
static_assert(sizeof(cs_fork_event) == 64);
static_assert(sizeof(cs_exit_event) == 64);
static_assert(offsetof(cs_cred_open_event, dev) == 64);
static_assert(offsetof(cs_cred_open_event, stdout_pipe) == 88);
static_assert(offsetof(cs_cred_open_event, path) == 96);
static_assert(sizeof(cs_cred_open_event) == 96 + CS_PATH_MAX);
static_assert(offsetof(cs_data_event, ssl) == 64);
static_assert(sizeof(cs_prevent_hold) == 16);
static_assert(offsetof(cs_data_event, len) == 88);
static_assert(offsetof(cs_data_event, addr) == 104);
static_assert(sizeof(cs_data_event) == 120);
static_assert(offsetof(cs_connect_event, addr) == 72);
static_assert(sizeof(cs_connect_event) == 88);
static_assert(sizeof(cs_tls_sni_event) == 72 + CS_NAME_MAX);
static_assert(sizeof(cs_tls_fd_event) == 72);
static_assert(sizeof(cs_close_event) == 64);
static_assert(offsetof(cs_proc_access_event, target_pid) == 60);
static_assert(sizeof(cs_proc_access_event) == 72);
static_assert(offsetof(cs_transfer_event, method) == 64);
static_assert(offsetof(cs_transfer_event, bytes) == 72);
static_assert(offsetof(cs_transfer_event, out_ino) == 96);
static_assert(sizeof(cs_transfer_event) == 104);
static_assert(offsetof(cs_block_event, creds) == 56);
static_assert(offsetof(cs_block_event, cred_id) == 64);
static_assert(offsetof(cs_block_event, port) == 70);
static_assert(offsetof(cs_block_event, hook) == 73);
static_assert(offsetof(cs_block_event, addr) == 80);
static_assert(sizeof(cs_block_event) == 96);
static_assert(sizeof(cs_taint) == 24);
static_assert(sizeof(cs_egress_allow) == 16);
static_assert(sizeof(cs_egress_cidr_key) == 20);
static_assert(sizeof(cs_fd_key) == 8);
static_assert(sizeof(cs_fd_state) == 16);
static_assert(sizeof(cs_inode_key) == 16);
static_assert(sizeof(cs_name_key) == 2 * CS_DENTRY_NAME_MAX);
static_assert((CS_CHUNK_MAX & (CS_CHUNK_MAX - 1)) == 0, "CS_CHUNK_MAX is used as a mask");
