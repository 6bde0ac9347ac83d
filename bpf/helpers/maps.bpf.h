/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps and tunables shared by every probe family. Each .bpf.c includes this header and gets its
 * own *identical* definition of every map; they are declared __weak so that `bpftool gen object`
 * folds them into one map each when it links the families into credsentry.bpf.o.
 */
#ifndef CS_MAPS_BPF_H
#define CS_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "credsentry_abi.h"

/* Bounds of the kernel-only tables (user space only ever sees the ABI maps). */
#define CS_MAX_WATCHED_FDS 65536  /* credential fds + connected sockets of in-scope processes */
#define CS_MAX_CRED_FILES 4096    /* entries in cred_inodes and in cred_names */
#define CS_MAX_INFLIGHT 8192      /* threads inside a watched syscall / SSL_write at once */

/* Set by the loader before load (rodata): number of --cgroup scopes (0 = whole host), and the
 * agent's own tgid, which is never traced so the agent cannot observe (and loop on) its own
 * collector traffic. */
const volatile __u32 scope_count __weak = 0;
const volatile __u32 agent_tgid __weak = 0;
/* Capture budget per socket (0: none). Once a socket's plaintext copied reaches
 * conn_capture_budget bytes, each later write is copied only in its first call_capture_head
 * bytes, and CS_CNT_TRUNC_BUDGET counts it. Requests put their headers first, so keys in headers
 * stay covered while bulk uploads stop costing a copy of every byte. */
const volatile __u64 conn_capture_budget __weak = 0;
const volatile __u32 call_capture_head __weak = 4096;
/* Bytes waiting in data_rb past which a payload record wakes the reader (0: never). */
const volatile __u64 data_wakeup_bytes __weak = 0;

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, CS_MAX_SCOPE_CGROUPS);
	__type(key, __u32);
	__type(value, __u32);
} scope_cgroups SEC(".maps") __weak;

/* Two ring buffers so a payload flood cannot starve process/credential/connect events. The
 * loader resizes both before load; these are the defaults. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} control_rb SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} data_rb SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CS_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} cs_counters SEC(".maps") __weak;

/* (tgid, fd) -> what the fd is. Read, write and close look it up when cs_fd_slots lets them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_WATCHED_FDS);
	__type(key, struct cs_fd_key);
	__type(value, struct cs_fd_state);
} watched_fds SEC(".maps") __weak;

/* Gates in front of watched_fds and cred_inodes (credsentry_abi.h says how they stay exact).
 * Globals in .bss: one load each, and the loader updates them through the skeleton's mmap. */
__u32 cs_fd_slots[CS_FD_SLOTS] __weak SEC(".bss");
__u64 cs_cred_inode_bits[CS_CRED_INODE_WORDS] __weak SEC(".bss");

/* Filled by user space from the credential catalogue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_CRED_FILES);
	__type(key, struct cs_inode_key);
	__type(value, __u32);
} cred_inodes SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_CRED_FILES);
	__type(key, struct cs_name_key);
	__type(value, __u32);
} cred_names SEC(".maps") __weak;

/* One element: which name-length pairs cred_names holds (see struct cs_name_shapes). An array
 * lookup is inlined by the verifier, so the check costs a few instructions. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_name_shapes);
} cred_name_shapes SEC(".maps") __weak;

/* Prevent mode on (1) or off (0), written by the loader through the skeleton's mmap, so SIGHUP
 * switches it without reloading the programs (bpf/helpers/prevent.bpf.h). */
__u32 cs_prevent_on __weak SEC(".bss");

/* Prevent mode: the TLS socket each thread last wrote a handshake record to. A GnuTLS write held
 * at its entry has not touched its socket yet, and GnuTLS has no SSL_set_fd to say which it is;
 * the session's handshake, made by the same thread just before, names it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, __s32);
} tls_handshake_fds SEC(".maps") __weak;

/* ---- per-thread calls in flight (kernel-only layouts) ---- */

enum cs_io_op {
	CS_OP_READ = 1,
	CS_OP_PREAD = 2,
	CS_OP_WRITE = 3,
	CS_OP_WRITEV = 4,
	CS_OP_SENDTO = 5,
	CS_OP_SENDMSG = 6,
};

/* A read/write on a watched fd between syscall entry and exit: the bytes are only known (read)
 * or only final (a short or failed write) at exit. */
struct cs_io_call {
	__u64 buf;        /* user buffer, or struct iovec array when iovcnt > 0 */
	__u32 iovcnt;
	__s32 fd;
	__u32 cred_id;
	__u8 op;          /* enum cs_io_op: the exit handler checks it matches its syscall */
	__u8 kind;        /* enum cs_fd_kind */
	__u8 sock_state;  /* enum cs_sock_state */
	__u8 _pad0;
	__u16 family;     /* explicit sendto/sendmsg destination, else 0 */
	__u16 port;
	__u32 _pad1;
	__u8 addr[16];
};

struct cs_connect_call {
	__s32 fd;
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

/* A thread inside SSL_write/SSL_write_ex/gnutls_record_send. fd is learned from the socket write
 * made inside. */
struct cs_tls_call {
	__u64 ssl;      /* SSL* or gnutls_session_t: the opaque per-connection key */
	__u64 buf;
	__u64 written;  /* size_t *written of SSL_write_ex; 0 otherwise */
	__s32 fd;
	__u8 lib;       /* enum cs_tls_lib */
	__u8 emitted;   /* prevent mode: the bytes went out at entry (held), the exit sends none */
	__u8 _pad0[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct cs_io_call);
} io_calls SEC(".maps") __weak;

/* How many io_calls entries may exist (inserts minus deletes, both counted only when they
 * succeed, so it never falls below the real count). While it is 0, which is the common case on a
 * host doing I/O on unwatched fds, the exit half of read/write skips its hash lookup: an inlined
 * array load instead. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} io_calls_pending SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct cs_connect_call);
} connect_calls SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct cs_tls_call);
} tls_calls SEC(".maps") __weak;

/* The header of the call being emitted, and its plan. Each chunk's ring record is reserved at
 * one of a few constant sizes (bpf_ringbuf_reserve takes only a constant), this header is copied
 * into it and the user bytes are read straight into the record: one copy per byte. */
struct cs_payload_record {
	/* Plan of the call being emitted, for cs_emit_chunk (never sent). */
	__u64 captured;       /* bytes of the call that will be copied */
	__u32 records_left;   /* records this call may still emit */
	__u32 trunc_counter;  /* enum cs_counter counted when the call is truncated */
	__u32 extra_flags;    /* CS_CHUNK_HELD: set on every record, and each one wakes the reader */
	__u32 _pad0;
	struct cs_data_event ev;  /* sent as the head of every record of the call */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_payload_record);
} payload_scratch SEC(".maps") __weak;

/* Twice CS_PATH_MAX so a name of up to CS_PATH_MAX bytes can be appended at any offset below
 * CS_PATH_MAX without the verifier seeing a possible overflow. */
struct cs_path_buf {
	char buf[CS_PATH_MAX * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_path_buf);
} path_scratch SEC(".maps") __weak;

/* Pipes known to carry credential bytes (pipefs inode -> cred_id): the stdout pipe of a
 * credential file's opener, and every pipe a sendfile/splice/tee of credential bytes filled, so
 * a splice out of one is followed like a read of the file. LRU: a pipe's end is never seen, so
 * the stalest are the ones let go. */
#define CS_MAX_TAINTED_PIPES 4096

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CS_MAX_TAINTED_PIPES);
	__type(key, __u64);
	__type(value, __u32);
} cs_tainted_pipes SEC(".maps") __weak;

/* Prevent mode's connect block (credsentry_abi.h): who is tainted, and where they may go. A
 * hash, not an LRU: an entry leaves at its process's exit, and a full table is counted
 * (CS_CNT_TAINT_FULL), never a taint silently evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_TAINTED);
	__type(key, __u32);
	__type(value, struct cs_taint);
} cs_tainted SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_EGRESS_IPS);
	__type(key, struct cs_egress_key);
	__type(value, struct cs_egress_allow);
} cs_egress_ips SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CS_MAX_EGRESS_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cs_egress_cidr_key);
	__type(value, __u32);
} cs_egress_cidrs SEC(".maps") __weak;

#endif /* CS_MAPS_BPF_H */
