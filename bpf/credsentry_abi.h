/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one contract between the kernel probes (bpf/<family>.bpf.c) and the agent's decoder
 * (agent/src/decode). Every struct that crosses a ring buffer or sits in a map that user space
 * writes is defined here, with fixed-width types, no pointers-as-pointers, and explicit padding.
 *
 * Change a layout => bump CS_ABI_VERSION. The C++ side static_asserts sizes and offsets
 * (agent/src/decode/abi_layout.h), so a mismatch fails the build, not a production host.
 */
#ifndef CREDSENTRY_ABI_H
#define CREDSENTRY_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CS_ABI_VERSION 1

/* Bounds. Every buffer that crosses the kernel/user boundary has one. */
#define CS_COMM_LEN 16
#define CS_PATH_MAX 256          /* reconstructed credential-file path */
#define CS_ARGS_MAX 512          /* argv copied at exec (NUL-separated) */
#define CS_NAME_MAX 256          /* TLS SNI host name */
#define CS_CHUNK_MAX 16384       /* payload bytes in one event; must be a power of two */
#define CS_CHUNKS_PER_CALL 4     /* one write/SSL_write may emit up to this many chunks */
#define CS_DENTRY_NAME_MAX 32    /* key width for credential-file name matching */
#define CS_MAX_SCOPE_CGROUPS 16  /* --cgroup may be given this many times */

/* Ring buffer record types. */
enum cs_event_type {
	CS_EV_EXEC = 1,
	CS_EV_FORK = 2,
	CS_EV_EXIT = 3,
	CS_EV_CRED_OPEN = 4,  /* a watched credential file was opened */
	CS_EV_CRED_READ = 5,  /* bytes read from a credential-file fd */
	CS_EV_CONNECT = 6,    /* connect() on an inet socket */
	CS_EV_SOCK_DATA = 7,  /* plaintext written to a socket with write/sendto/sendmsg/writev */
	CS_EV_TLS_DATA = 8,   /* plaintext handed to a TLS library before encryption */
	CS_EV_TLS_SNI = 9,    /* SNI set on an SSL object (SSL_ctrl) */
	CS_EV_TLS_FD = 10,    /* SSL object bound to a socket fd (SSL_set_fd or write inside SSL_write) */
	CS_EV_CLOSE = 11,     /* a watched fd was closed */
	CS_EV_PROC_ACCESS = 12, /* another process's /proc/<pid>/environ or mem was opened */
	CS_EV_TRANSFER = 13,  /* the kernel moved credential bytes for the caller (sendfile, mmap...) */
	CS_EV_EGRESS_BLOCKED = 16, /* prevent mode: a tainted process's connect/sendmsg was refused */
};

/* Drop and truncation counters, one slot each in the per-CPU `cs_counters` array.
 * User space sums the CPUs and exposes every slot by name (agent/src/loader/counters.cpp). */
enum cs_counter {
	CS_CNT_RB_DROP_CONTROL = 0,  /* control ring buffer full: process/cred/connect event lost */
	CS_CNT_RB_DROP_DATA,         /* data ring buffer full: payload event lost */
	CS_CNT_TRUNC_SOCK,           /* socket write larger than the capture bound */
	CS_CNT_TRUNC_TLS,            /* TLS write larger than the capture bound */
	CS_CNT_TRUNC_CRED_READ,      /* credential read larger than the capture bound */
	CS_CNT_FD_TABLE_FULL,        /* watched_fds full: fd not watched */
	CS_CNT_CALL_TABLE_FULL,      /* per-thread call table full: read/SSL_write not captured */
	CS_CNT_READ_FAULT,           /* bpf_probe_read_user failed (page not present, bad pointer) */
	CS_CNT_OUT_OF_SCOPE_TLS,     /* TLS call from a process outside --cgroup scope (not copied) */
	CS_CNT_IOV_SKIPPED,          /* writev/sendmsg iovecs past the ones we copy */
	CS_CNT_EVENTS_CONTROL,       /* control events emitted */
	CS_CNT_EVENTS_DATA,          /* data events emitted */
	CS_CNT_TRUNC_BUDGET,         /* write past its connection's capture budget: head copied */
	CS_CNT_TRUNC_DNS_ANSWER,     /* DNS message received on a port-53 socket larger than captured */
	CS_CNT_DNS_MSGS_SKIPPED,     /* sendmmsg datagrams past the ones copied per call */
	CS_CNT_SCRAPE_REPEATS,       /* memory scrape of a target reported less than 1 s before */
	CS_CNT_TRANSFER_FAILED,      /* sendfile/splice/... of credential bytes the kernel refused */
	CS_CNT_TRANSFER_NO_TARGET,   /* ... whose out fd named no open file (nothing to follow) */
	CS_CNT_DERIVED_CRED_FULL,    /* copy of a credential file not watched: derived bound reached */
	CS_CNT_PREVENT_HOLDS,        /* prevent mode: TLS write held (SIGSTOP) for a user-space verdict */
	CS_CNT_PREVENT_HOLD_FULL,    /* prevent mode: held table full, write not held (fail-open) */
	CS_CNT_PREVENT_SIGNAL_FAILED, /* prevent mode: bpf_send_signal_thread refused, not held */
	CS_CNT_PREVENT_SCAN_CUT,     /* prevent mode: write longer than the bytes scanned for anchors */
	CS_CNT_URING_FIXED_FILE,     /* io_uring request on a registered (fixed) file: no fd to follow */
	CS_CNT_URING_BUF_SELECT,     /* io_uring send/read on a provided buffer (chosen at issue): not copied */
	CS_CNT_URING_NO_CQE,         /* io_uring read/open/connect asking for no completion: not followed */
	CS_CNT_URING_PENDING_FULL,   /* io_uring request table full: completion not followed */
	CS_CNT_BLOCK_REFUSED,        /* prevent mode: connect/sendmsg of a tainted process refused */
	CS_CNT_BLOCK_ALLOWED_DNS,    /* ... let through: its address came from a DNS answer for an
				      * expected destination of what it read */
	CS_CNT_BLOCK_ALLOWED_EGRESS, /* ... let through by egress.allow (a name's answer or a CIDR) */
	CS_CNT_BLOCK_ALLOWED_DNS_PORT, /* ... let through: port 53 (name resolution keeps working) */
	CS_CNT_TAINT_FULL,           /* taint table full: a credential reader not tainted (fail-open) */
	CS_CNT_BLOCK_DNS_HOLDS,      /* DNS answer of a tainted process held until the agent read it */
	CS_CNT_EXEC_HOLDS,           /* exec of an executable never inspected: held until hooked */
	CS_CNT_EXEC_HOLD_KNOWN,      /* exec of an inspected executable: not held */
	CS_CNT_EXEC_HOLD_TTY,        /* ... never seen, but on a terminal: not held (job control) */
	CS_CNT_EXEC_HOLD_FAILED,     /* ... never seen, not held: held table full or signal refused */
	CS_CNT__COUNT
};

enum cs_fd_kind {
	CS_FD_CRED_FILE = 1,
	CS_FD_SOCK_TCP = 2,
	CS_FD_SOCK_UDP = 3,
};

/* Per-socket TLS detection done in the kernel so ciphertext never crosses the ring buffer. */
enum cs_sock_state {
	CS_SOCK_UNKNOWN = 0,  /* nothing written yet */
	CS_SOCK_PLAIN = 1,    /* first bytes were not a TLS record: copy payload */
	CS_SOCK_TLS = 2,      /* first bytes were a TLS handshake: copy the ClientHello only */
};

enum cs_direction {
	CS_DIR_EGRESS = 0,
	CS_DIR_INGRESS = 1,
};

enum cs_tls_lib {
	CS_TLS_OPENSSL = 1,
	CS_TLS_GNUTLS = 2,
	CS_TLS_GO = 3,
};

/* Common header of every ring-buffer record. 56 bytes. */
struct cs_event_header {
	__u16 type;     /* enum cs_event_type */
	__u16 abi;      /* CS_ABI_VERSION */
	__u32 cpu;
	__u64 ts_ns;    /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 pid;      /* tgid */
	__u32 tid;
	__u32 uid;
	__u32 _pad0;
	__u64 cgroup_id;
	char comm[CS_COMM_LEN];
};

struct cs_exec_event {
	struct cs_event_header hdr;
	__u32 ppid;
	__u32 args_len;          /* bytes valid in args */
	__u32 filename_len;
	__u8 held;               /* stopped at exec until the agent inspected its executable */
	__u8 _pad0[3];
	/* pipefs inode of fd 0 / fd 1 at exec, 0 when not an anonymous pipe: provenance follows a
	 * credential read through `cat creds | filter | curl` by matching these. */
	__u64 stdin_pipe;
	__u64 stdout_pipe;
	char filename[CS_PATH_MAX];
	char args[CS_ARGS_MAX];  /* argv, NUL-separated */
};

struct cs_fork_event {
	struct cs_event_header hdr;
	__u32 child_pid;
	__u32 _pad0;
};

struct cs_exit_event {
	struct cs_event_header hdr;
	__s32 exit_code;
	__u32 _pad0;
};

struct cs_cred_open_event {
	struct cs_event_header hdr;
	__s32 fd;
	__u32 cred_id;     /* id given by user space in cred_inodes/cred_names; 0 = matched by name */
	__u64 dev;
	__u64 ino;
	__u32 path_len;
	__u8 via;          /* enum cs_via */
	__u8 _pad0[3];
	__u64 stdout_pipe; /* pipefs inode of the opener's fd 1, 0 = not a pipe (see cs_exec_event) */
	char path[CS_PATH_MAX];  /* reconstructed from dentries, best effort */
};

/* Header of a payload record; `len` bytes of data follow it in the same record. */
struct cs_data_event {
	struct cs_event_header hdr;
	__s32 fd;          /* -1 when unknown (TLS write whose socket write we did not see) */
	__u8 direction;    /* enum cs_direction */
	__u8 fd_kind;      /* enum cs_fd_kind */
	__u8 tls_lib;      /* enum cs_tls_lib for CS_EV_TLS_DATA */
	__u8 sock_state;   /* enum cs_sock_state at the time of the write */
	__u64 ssl;         /* SSL* (opaque key) for TLS data; 0 otherwise */
	__u64 total_len;   /* bytes the call wrote */
	__u64 offset;      /* offset of this chunk within the call */
	__u32 len;         /* bytes of data following this header */
	__u32 chunk_flags; /* CS_CHUNK_* */
	__u16 family;      /* AF_INET / AF_INET6 of an explicit sendto address, else 0 */
	__u16 port;        /* host order */
	__u32 _pad0;
	__u8 addr[16];     /* explicit sendto destination, network order */
	/* __u8 data[len] follows */
};

#define CS_CHUNK_LAST 1u       /* last chunk emitted for this call */
#define CS_CHUNK_TRUNCATED 2u  /* the call wrote more than was captured */
#define CS_CHUNK_HELD 4u       /* prevent mode: the writer is stopped until user space decides */
#define CS_CHUNK_URING 8u      /* the bytes moved through an io_uring request, not a syscall */

/* How a connect or a credential open was made (cs_connect_event.via, cs_cred_open_event.via). */
enum cs_via {
	CS_VIA_SYSCALL = 0,
	CS_VIA_URING = 1,  /* an io_uring request (submitted by the process, its SQPOLL thread...) */
};

struct cs_connect_event {
	struct cs_event_header hdr;
	__s32 fd;
	__s32 ret;         /* 0, -EINPROGRESS, or the error */
	__u16 family;
	__u16 port;        /* host order */
	__u8 sock_type;    /* SOCK_STREAM / SOCK_DGRAM */
	__u8 via;          /* enum cs_via */
	__u8 _pad0[2];
	__u8 addr[16];     /* network order; IPv4 in the first 4 bytes */
};

struct cs_tls_sni_event {
	struct cs_event_header hdr;
	__u64 ssl;
	__u32 name_len;
	__u32 _pad0;
	char name[CS_NAME_MAX];
};

struct cs_tls_fd_event {
	struct cs_event_header hdr;
	__u64 ssl;
	__s32 fd;
	__u32 _pad0;
};

/* What of another process a /proc open reached (CS_EV_PROC_ACCESS). */
enum cs_proc_access_what {
	CS_PROC_ENVIRON = 1,  /* /proc/<pid>/environ: the target's environment, keys and all */
	CS_PROC_MEM = 2,      /* /proc/<pid>/mem: the target's memory */
	CS_PROC_VM_READV = 3, /* process_vm_readv on the target */
	CS_PROC_PTRACE = 4,   /* ptrace attach, seize or peek (fd holds the request) */
	CS_PROC_PIDFD_GETFD = 5,  /* pidfd_getfd: one of the target's fds (fd holds its number) */
};

/* ptrace requests that reach into the target (include/uapi/linux/ptrace.h): CS_PROC_PTRACE's fd. */
#define CS_PTRACE_PEEKTEXT 1
#define CS_PTRACE_PEEKDATA 2
#define CS_PTRACE_PEEKUSR 3
#define CS_PTRACE_ATTACH 16
#define CS_PTRACE_SEIZE 0x4206

#define CS_UID_UNKNOWN 0xffffffffu  /* cs_proc_access_event.target_uid the kernel did not read */

struct cs_proc_access_event {
	struct cs_event_header hdr;
	__s32 fd;          /* the opened fd; for scrapes the detail of enum cs_proc_access_what */
	__u32 target_pid;  /* pid named by the /proc directory (the opener's pid namespace) */
	__u32 target_uid;  /* owner of the /proc entry: the target's euid while it is dumpable */
	__u8 what;         /* enum cs_proc_access_what */
	__u8 _pad0[3];
};

/* How the kernel moved credential bytes on the caller's behalf (CS_EV_TRANSFER). */
enum cs_transfer_method {
	CS_XFER_SENDFILE = 1,
	CS_XFER_SPLICE = 2,
	CS_XFER_TEE = 3,
	CS_XFER_VMSPLICE = 4,
	CS_XFER_COPY_FILE_RANGE = 5,
	CS_XFER_MMAP = 6,
};

/* What an end of a transfer is. */
enum cs_transfer_end {
	CS_END_OTHER = 0,         /* a device, a file system object we do not follow */
	CS_END_CRED_FILE = 1,     /* a watched credential-file fd */
	CS_END_TAINTED_PIPE = 2,  /* a pipe known to carry credential bytes (cs_tainted_pipes) */
	CS_END_SOCK_TCP = 3,      /* a watched (connected) socket */
	CS_END_SOCK_UDP = 4,
	CS_END_SOCKET = 5,        /* a socket we did not see connect (unix, accepted) */
	CS_END_PIPE = 6,
	CS_END_FILE = 7,          /* a regular file: it becomes a derived credential file */
	CS_END_MEMORY = 8,        /* the caller's memory (mmap, vmsplice from a pipe) */
};

/* Only the size of what moved is known: the bytes never pass through user memory. */
struct cs_transfer_event {
	struct cs_event_header hdr;
	__s32 in_fd;
	__s32 out_fd;       /* -1 for CS_END_MEMORY */
	__u8 method;        /* enum cs_transfer_method */
	__u8 in_kind;       /* enum cs_transfer_end: CS_END_CRED_FILE or CS_END_TAINTED_PIPE */
	__u8 out_kind;      /* enum cs_transfer_end */
	__u8 _pad0;
	__u32 cred_id;      /* of the credential file, or the one the pipe carries */
	__u64 bytes;        /* moved (the syscall's return; the mapped length for mmap) */
	__u64 in_pipe;      /* pipefs inode of a CS_END_TAINTED_PIPE in end, else 0 */
	__u64 out_dev;      /* kernel dev_t of a CS_END_FILE out end, else 0 */
	__u64 out_ino;      /* its inode, or the pipefs inode of a CS_END_PIPE out end */
};

struct cs_close_event {
	struct cs_event_header hdr;
	__s32 fd;
	__u8 fd_kind;
	__u8 _pad0[3];
};

/*
 * Prevent mode's connect block (bpf/egress.bpf.c). A process that read a credential file, or
 * another process's environment or memory, is tainted in the kernel at that read (cs_tainted,
 * tgid -> struct cs_taint), so a connect made microseconds later already knows. The cgroup
 * connect4/6 and sendmsg4/6 programs refuse (EPERM) a tainted process's connect to an address
 * that is neither in cs_egress_ips for every credential it read nor in the egress.allow CIDRs
 * (cs_egress_cidrs). User space fills cs_egress_ips from the DNS answers it captures, with
 * their TTLs. Addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d.
 */
#define CS_MAX_TAINTED 8192
#define CS_MAX_EGRESS_IPS 16384
#define CS_MAX_EGRESS_CIDRS 1024
/* Credential bit of cred_id n (1..63): 1 << (n - 1). Ids past 63, memory scrapes and pipes of
 * unknown files take CS_CRED_BIT_OTHER, which no DNS answer allows (only egress.allow does). */
#define CS_CRED_BIT_OTHER (1ull << 63)
#define CS_CREDS_ALL (~0ull)  /* cs_egress_allow.creds of an egress.allow address */

enum cs_taint_source {
	CS_TAINT_READ = 1,       /* read (or mmap) of a credential file */
	CS_TAINT_MEMORY = 2,     /* another process's environ/mem, process_vm_readv, ptrace, pidfd */
	CS_TAINT_PIPE = 3,       /* bytes spliced out of a pipe fed by a credential file */
	CS_TAINT_INHERITED = 4,  /* forked from a tainted process */
};

enum cs_block_hook {
	CS_HOOK_CONNECT = 1,
	CS_HOOK_SENDMSG = 2,
};

struct cs_taint {
	__u64 creds;    /* credential bits (CS_CRED_BIT_OTHER and 1 << (cred_id - 1)) */
	__u64 ts_ns;    /* first taint */
	__u32 cred_id;  /* of the first credential file read; 0 for a memory scrape */
	__u8 source;    /* enum cs_taint_source of the first taint */
	__u8 _pad0[3];
};

struct cs_egress_key {
	__u8 addr[16];
};

struct cs_egress_allow {
	__u64 creds;       /* credentials this address is expected for (CS_CREDS_ALL: egress.allow) */
	__u64 expires_ns;  /* bpf_ktime_get_ns past which the answer's TTL is over */
};

struct cs_egress_cidr_key {
	__u32 prefixlen;  /* of the 128-bit address (an IPv4 /n is 96 + n) */
	__u8 addr[16];
};

struct cs_block_event {
	struct cs_event_header hdr;
	__u64 creds;       /* the process's taint */
	__u32 cred_id;     /* first credential file it read (0: memory scrape) */
	__u16 family;      /* AF_INET / AF_INET6 */
	__u16 port;        /* host order */
	__u8 sock_type;    /* SOCK_STREAM / SOCK_DGRAM */
	__u8 hook;         /* enum cs_block_hook */
	__u8 source;       /* enum cs_taint_source of the taint */
	__u8 _pad0[5];
	__u8 addr[16];     /* as the process gave it, network order; IPv4 in the first 4 bytes */
};

/* ---- maps written by user space ---- */

struct cs_fd_key {
	__u32 pid;  /* tgid */
	__s32 fd;
};

struct cs_fd_state {
	__u8 kind;        /* enum cs_fd_kind */
	__u8 sock_state;  /* enum cs_sock_state */
	__u16 flags;      /* CS_FD_F_* */
	__u32 cred_id;
	__u64 captured;   /* plaintext bytes copied so far on this socket (the capture budget) */
};

/* The socket talks to port 53 (connect or sendto): what it receives is copied too (DNS answers
 * name the peers of later connections). Receives on other sockets are never copied. */
#define CS_FD_F_DNS 1u

struct cs_inode_key {
	__u64 dev;  /* kernel dev_t (MKDEV layout: major << 20 | minor) */
	__u64 ino;
};

/* Credential files are also matched by the names of the file and its parent directory, so a
 * file created after start-up (or reached by a relative path) is still recognised. */
struct cs_name_key {
	char parent[CS_DENTRY_NAME_MAX];
	char name[CS_DENTRY_NAME_MAX];
};

/* The (parent name length, file name length) pairs present in cred_names, as a bit matrix:
 * bit (min(parent_len, CS_DENTRY_NAME_MAX-1) * CS_DENTRY_NAME_MAX + min(name_len, ...)) is set
 * when some key has those lengths. The open path compares two lengths it reads in two loads
 * and skips both dentry-name copies and the name lookup for almost every non-credential file. */
#define CS_NAME_SHAPE_BITS (CS_DENTRY_NAME_MAX * CS_DENTRY_NAME_MAX)
/* Second filter, for files whose lengths pass the first (loop-0.txt under loop/ has the shape of
 * .ssh/id_ed25519): the (file name length, first byte of the name) pairs present in cred_names,
 * bit (min(name_len, CS_DENTRY_NAME_MAX-1) * 256 + first byte). One byte read instead of two
 * name copies and a hash lookup of a 64-byte key. */
#define CS_NAME_LEAD_BITS (CS_DENTRY_NAME_MAX * 256)
struct cs_name_shapes {
	__u64 bits[CS_NAME_SHAPE_BITS / 64];
	__u64 leads[CS_NAME_LEAD_BITS / 64];
};

/*
 * Gates in front of the two hash lookups on the hottest paths, shared by the kernel and the
 * loader so both compute the same slot. Both live in the BPF object's .bss, which user space
 * sees through the skeleton's mmap, and an element of it is read with one load.
 *
 * cs_fd_slots: how many watched_fds entries hash to each slot. Every insert adds one before
 * the entry exists and every successful delete subtracts one after it is gone (cs_watch_fd and
 * cs_unwatch_fd in bpf/helpers/common.bpf.h, KernelTables::WatchSocket/Unwatch in
 * agent/src/loader/kernel_tables.cpp), so a zero slot proves that no (tgid, fd) of it
 * is watched and the read/write/close of an unwatched fd skips its hash lookup.
 *
 * cs_cred_inode_bits: a bit per slot of (dev, inode) present in cred_inodes, set by user space
 * before the inode is added and cleared only with the whole table. A clear bit proves the opened
 * file is not a known credential inode.
 */
#define CS_FD_SLOT_BITS 14
#define CS_FD_SLOTS (1u << CS_FD_SLOT_BITS)
#define CS_CRED_INODE_BITS 15
#define CS_CRED_INODE_WORDS ((1u << CS_CRED_INODE_BITS) / 64)

static inline __u32 cs_fd_slot(__u32 tgid, __s32 fd)
{
	return ((tgid * 0x9E3779B1u) ^ ((__u32)fd * 0x85EBCA77u)) >> (32 - CS_FD_SLOT_BITS);
}

static inline __u32 cs_cred_inode_bit(__u64 dev, __u64 ino)
{
	return (__u32)(((ino * 0x9E3779B97F4A7C15ull) ^ (dev * 0xC2B2AE3D27D4EB4Full)) >>
		       (64 - CS_CRED_INODE_BITS));
}

/*
 * Prevent mode (agent --mode prevent). A TLS write whose plaintext holds a credential anchor is
 * held: the probe stops the process (SIGSTOP, delivered before the write function runs), marks
 * its records CS_CHUNK_HELD and enters the writer's tgid in prevent_held. User space matches the
 * bytes, then deletes the entry and sends SIGKILL or SIGCONT; the guardian process releases what
 * is still held when the agent dies, or past the hold bound.
 *
 * Anchors, two stages so that random bytes (a compressed upload) almost never hold a write:
 * - text anchors, the first three bytes of every credential literal prefix and known value in
 *   each wire form: bit cs_anchor_slot(b0 | b1 << 8 | b2 << 16) of cs_anchor_bits, and the
 *   CS_ANCHOR_TAIL bytes after them printable ASCII (a key goes on in key characters; bytes past
 *   the end of the write count as printable: the key may go on in the next write);
 * - HPACK Huffman anchors (a header value coded by an HTTP/2 client, binary by nature): the
 *   first three bytes as a bit of cs_huff_bits, and the next two as bit (b3 | b4 << 8) of
 *   cs_huff_next.
 */
#define CS_ANCHOR_BITS 21
#define CS_ANCHOR_WORDS ((1u << CS_ANCHOR_BITS) / 64)
#define CS_ANCHOR_TAIL 6
/* Stage zero: every anchor's trigram in a bitmap small enough to stay in cache (32 KiB), tested
 * at every position; only its hits look at the big bitmaps above. */
#define CS_ANCHOR_ANY_BITS 18
#define CS_ANCHOR_ANY_WORDS ((1u << CS_ANCHOR_ANY_BITS) / 64)
#define CS_HUFF_NEXT_WORDS ((1u << 16) / 64)
#define CS_PREVENT_SCAN_MAX 16384  /* bytes of one write scanned for anchors; a power of two */
#define CS_PREVENT_HEAD_SCAN 512   /* bytes scanned per write past the connection's budget */
#define CS_PREVENT_STRADDLE 256    /* an anchor this close to a write's end holds the next write */
#define CS_MAX_HELD 4096

/* Why a process is in prevent_held: a TLS write waiting for its verdict, or (in either mode) an
 * exec of a never-inspected executable waiting for its probes, released sooner (CS_EXEC_HOLD_NS). */
enum cs_hold_reason {
	CS_HOLD_WRITE = 0,
	CS_HOLD_EXEC = 1,
};
#define CS_EXEC_HOLD_NS 80000000ull /* the guardian lets an exec hold go past this (bound 100 ms) */
#define CS_MAX_KNOWN_EXES 16384     /* entries in known_exes */

struct cs_prevent_hold {
	__u64 ts_ns;  /* bpf_ktime_get_ns when the process was stopped */
	__u32 tid;    /* the thread whose write is held */
	__u32 reason; /* enum cs_hold_reason */
};

static inline __u32 cs_anchor_slot(__u32 trigram)
{
	return (trigram * 0x9E3779B1u) >> (32 - CS_ANCHOR_BITS);
}

static inline __u32 cs_anchor_any_slot(__u32 slot)
{
	return slot >> (CS_ANCHOR_BITS - CS_ANCHOR_ANY_BITS);
}

#endif /* CREDSENTRY_ABI_H */
