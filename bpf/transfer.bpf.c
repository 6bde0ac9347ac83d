// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Credential bytes the kernel moves on the caller's behalf: sendfile, splice, tee, vmsplice,
 * copy_file_range, and mmap of a credential file. None of them passes the bytes through a
 * read() the file family sees, so a stealer using them would look like a process that opened a
 * file and connected somewhere. Each call whose source is a watched credential fd, or a pipe
 * known to carry credential bytes (cs_tainted_pipes), is reported as CS_EV_TRANSFER with the
 * size that moved and where it went; the bytes themselves are never in user memory to copy.
 *
 * What the bytes reach carries their taint on: a pipe joins cs_tainted_pipes, a regular file
 * joins cred_inodes (a derived credential file, at most CS_MAX_DERIVED_CREDS of them), so a
 * later open and read of the copy is a credential read like any other.
 *
 * Only syscall tracepoints: kprobes and fentry are refused on our hosts (shared/design.md §5).
 */
#include "helpers/common.bpf.h"
#include "helpers/taint.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/uapi/linux/stat.h, mman.h and include/linux/fs.h; vmlinux.h carries no macros. */
#define CS_S_IFMT 0170000
#define CS_S_IFREG 0100000
#define CS_S_IFSOCK 0140000
#define CS_MAP_ANONYMOUS 0x20
#define CS_FMODE_READ 0x1
#define CS_MAX_ERRNO 4095

/* Copies of credential files watched as credentials themselves. They share cred_inodes with
 * the catalogue's files, whose own bound (CS_MAX_CRED_FILES) this stays well under. */
#define CS_MAX_DERIVED_CREDS 256

/* A transfer between syscall entry, where the fds still say what they are, and exit, where
 * the size moved is known. */
struct cs_transfer_call {
	__u64 bytes;     /* mmap: the length asked for */
	__u64 in_pipe;
	__u64 out_dev;
	__u64 out_ino;
	__s32 in_fd;
	__s32 out_fd;
	__u32 cred_id;
	__u8 method;     /* enum cs_transfer_method: the exit checks it matches its syscall */
	__u8 in_kind;    /* enum cs_transfer_end */
	__u8 out_kind;
	__u8 _pad0;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_INFLIGHT);
	__type(key, __u32);
	__type(value, struct cs_transfer_call);
} transfer_calls SEC(".maps");

/* Entries transfer_calls may hold: while it is 0 (every mmap on a host that maps no credential
 * file) the exit of mmap costs an inlined array load, not a hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} transfer_calls_pending SEC(".maps");

/* Derived credential inodes added so far (never lowered: cred_inodes forgets nothing either). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} derived_creds SEC(".maps");

static __always_inline void cs_pending_add(__s64 delta)
{
	__u32 zero = 0;
	__u64 *pending = bpf_map_lookup_elem(&transfer_calls_pending, &zero);

	if (pending)
		__sync_fetch_and_add(pending, delta);
}

/* A watched credential fd (its gate slot first), else, when `pipes`, a pipe that carries
 * credential bytes; CS_END_OTHER when neither. Fills cred_id and in_pipe. */
static __always_inline __u8 cs_transfer_source(int fd, bool pipes, struct cs_transfer_call *call)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = cs_watched_fd(&key);
	__u32 *cred;
	__u64 pipe;

	if (st) {
		if (st->kind != CS_FD_CRED_FILE)
			return CS_END_OTHER;
		call->cred_id = st->cred_id;
		return CS_END_CRED_FILE;
	}
	if (!pipes)
		return CS_END_OTHER;
	pipe = cs_task_fd_pipe(cs_current(), fd);
	if (!pipe)
		return CS_END_OTHER;
	cred = bpf_map_lookup_elem(&cs_tainted_pipes, &pipe);
	if (!cred)
		return CS_END_OTHER;
	call->cred_id = *cred;
	call->in_pipe = pipe;
	return CS_END_TAINTED_PIPE;
}

/* What the out fd is; false when it names no open file (the call fails with EBADF). */
static __always_inline bool cs_transfer_target(int fd, struct cs_transfer_call *call)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = cs_watched_fd(&key);
	struct inode *inode;
	struct file *file;
	__u32 mode;

	if (st && st->kind == CS_FD_SOCK_TCP) {
		call->out_kind = CS_END_SOCK_TCP;
		return true;
	}
	if (st && st->kind == CS_FD_SOCK_UDP) {
		call->out_kind = CS_END_SOCK_UDP;
		return true;
	}
	file = cs_task_fd_file(cs_current(), fd);
	if (!file)
		return false;
	call->out_kind = CS_END_OTHER;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return true;
	if (BPF_CORE_READ(inode, i_sb, s_magic) == CS_PIPEFS_MAGIC) {
		call->out_kind = CS_END_PIPE;
		call->out_ino = BPF_CORE_READ(inode, i_ino);
		return true;
	}
	mode = BPF_CORE_READ(inode, i_mode) & CS_S_IFMT;
	if (mode == CS_S_IFSOCK) {
		call->out_kind = CS_END_SOCKET;
	} else if (mode == CS_S_IFREG) {
		call->out_kind = CS_END_FILE;
		call->out_dev = BPF_CORE_READ(inode, i_sb, s_dev);
		call->out_ino = BPF_CORE_READ(inode, i_ino);
	}
	return true;
}

static __always_inline void cs_transfer_start(const struct cs_transfer_call *call)
{
	__u32 tid = cs_tid();

	if (bpf_map_update_elem(&transfer_calls, &tid, call, BPF_ANY)) {
		cs_count(CS_CNT_CALL_TABLE_FULL);
		return;
	}
	cs_pending_add(1);
}

/* Entry of a file-to-anything transfer. The scope check comes first: these calls are rare next
 * to read and write, and the pipe test walks the fd table. */
static __always_inline int cs_transfer_enter(__u8 method, long in_fd, long out_fd, bool pipes)
{
	struct cs_transfer_call call = {};

	if (!cs_in_scope())
		return 0;
	call.in_kind = cs_transfer_source(in_fd, pipes, &call);
	if (call.in_kind == CS_END_OTHER)
		return 0;
	if (!cs_transfer_target(out_fd, &call)) {
		cs_count(CS_CNT_TRANSFER_NO_TARGET);
		return 0;
	}
	/* A device or /proc file is not somewhere the bytes can be taken from again. */
	if (call.out_kind == CS_END_OTHER)
		return 0;
	call.method = method;
	call.in_fd = in_fd;
	call.out_fd = out_fd;
	cs_transfer_start(&call);
	return 0;
}

/* A copy of credential bytes into a regular file makes that file a credential file too. */
static __always_inline void cs_derive(const struct cs_transfer_call *call)
{
	struct cs_inode_key key = { .dev = call->out_dev, .ino = call->out_ino };
	__u32 zero = 0, bit, word;
	__u64 *count = bpf_map_lookup_elem(&derived_creds, &zero);

	if (!count || bpf_map_lookup_elem(&cred_inodes, &key))
		return;  /* a copy onto a credential file: already watched */
	if (*count >= CS_MAX_DERIVED_CREDS) {
		cs_count(CS_CNT_DERIVED_CRED_FULL);
		return;
	}
	/* The bit goes first, as the loader does it (credsentry_abi.h). A plain or, not an atomic
	 * one: clang 14 at -mcpu=v1 has no atomic or. It can lose a bit the loader or another copy
	 * sets in the same word at the same instant; that inode is then matched by name only. */
	bit = cs_cred_inode_bit(key.dev, key.ino);
	word = (bit / 64) & (CS_CRED_INODE_WORDS - 1);
	cs_cred_inode_bits[word] |= 1ull << (bit % 64);
	if (bpf_map_update_elem(&cred_inodes, &key, &call->cred_id, BPF_NOEXIST)) {
		cs_count(CS_CNT_DERIVED_CRED_FULL);
		return;
	}
	__sync_fetch_and_add(count, 1);
}

static __always_inline int cs_transfer_exit(__u8 method, long ret)
{
	__u32 zero = 0, tid;
	__u64 *pending = bpf_map_lookup_elem(&transfer_calls_pending, &zero);
	struct cs_transfer_call *found, call;
	struct cs_transfer_event *ev;

	if (pending && *pending == 0)
		return 0;
	tid = cs_tid();
	found = bpf_map_lookup_elem(&transfer_calls, &tid);
	if (!found)
		return 0;
	call = *found;
	if (bpf_map_delete_elem(&transfer_calls, &tid) == 0)
		cs_pending_add(-1);
	if (call.method != method)
		return 0;  /* left by a call whose exit was not seen */
	if (method == CS_XFER_MMAP) {
		/* mmap returns an address; errors are the top 4095 values. */
		if ((unsigned long)ret >= (unsigned long)-CS_MAX_ERRNO) {
			cs_count(CS_CNT_TRANSFER_FAILED);
			return 0;
		}
	} else {
		if (ret < 0)
			cs_count(CS_CNT_TRANSFER_FAILED);
		if (ret <= 0)
			return 0;
		call.bytes = ret;
	}
	if (call.out_kind == CS_END_PIPE)
		bpf_map_update_elem(&cs_tainted_pipes, &call.out_ino, &call.cred_id, BPF_ANY);
	else if (call.out_kind == CS_END_FILE)
		cs_derive(&call);
	/* The caller moved credential bytes (into its memory, a socket, a pipe): it is tainted as
	 * by a read (prevent mode's connect block). */
	cs_taint(call.cred_id, call.in_kind == CS_END_TAINTED_PIPE ? CS_TAINT_PIPE : CS_TAINT_READ);

	ev = CS_RESERVE_CONTROL(struct cs_transfer_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_TRANSFER);
	ev->in_fd = call.in_fd;
	ev->out_fd = call.out_fd;
	ev->method = call.method;
	ev->in_kind = call.in_kind;
	ev->out_kind = call.out_kind;
	ev->cred_id = call.cred_id;
	ev->bytes = call.bytes;
	ev->in_pipe = call.in_pipe;
	ev->out_dev = call.out_dev;
	ev->out_ino = call.out_ino;
	cs_submit_control(ev);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendfile64")
int cs_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	return cs_transfer_enter(CS_XFER_SENDFILE, ctx->args[1], ctx->args[0], false);
}

SEC("tp/syscalls/sys_exit_sendfile64")
int cs_exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_SENDFILE, ctx->ret);
}

SEC("tp/syscalls/sys_enter_splice")
int cs_enter_splice(struct trace_event_raw_sys_enter *ctx)
{
	return cs_transfer_enter(CS_XFER_SPLICE, ctx->args[0], ctx->args[2], true);
}

SEC("tp/syscalls/sys_exit_splice")
int cs_exit_splice(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_SPLICE, ctx->ret);
}

SEC("tp/syscalls/sys_enter_tee")
int cs_enter_tee(struct trace_event_raw_sys_enter *ctx)
{
	return cs_transfer_enter(CS_XFER_TEE, ctx->args[0], ctx->args[1], true);
}

SEC("tp/syscalls/sys_exit_tee")
int cs_exit_tee(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_TEE, ctx->ret);
}

SEC("tp/syscalls/sys_enter_copy_file_range")
int cs_enter_copy_file_range(struct trace_event_raw_sys_enter *ctx)
{
	return cs_transfer_enter(CS_XFER_COPY_FILE_RANGE, ctx->args[0], ctx->args[2], false);
}

SEC("tp/syscalls/sys_exit_copy_file_range")
int cs_exit_copy_file_range(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_COPY_FILE_RANGE, ctx->ret);
}

/* vmsplice on the read end of a tainted pipe moves its bytes into the caller's memory: a read.
 * On a write end it fills the pipe from memory, which says nothing of a credential. */
SEC("tp/syscalls/sys_enter_vmsplice")
int cs_enter_vmsplice(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_transfer_call call = {};
	int fd = ctx->args[0];
	struct file *file;

	if (!cs_in_scope())
		return 0;
	file = cs_task_fd_file(cs_current(), fd);
	if (!file || !(BPF_CORE_READ(file, f_mode) & CS_FMODE_READ))
		return 0;
	call.in_kind = cs_transfer_source(fd, true, &call);
	if (call.in_kind != CS_END_TAINTED_PIPE)
		return 0;
	call.method = CS_XFER_VMSPLICE;
	call.in_fd = fd;
	call.out_fd = -1;
	call.out_kind = CS_END_MEMORY;
	cs_transfer_start(&call);
	return 0;
}

SEC("tp/syscalls/sys_exit_vmsplice")
int cs_exit_vmsplice(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_VMSPLICE, ctx->ret);
}

/* mmap runs constantly (every library load, every malloc arena): anonymous maps return before
 * anything is read, file maps after the watched-fd gate's one load unless the fd's slot is used. */
SEC("tp/syscalls/sys_enter_mmap")
int cs_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_transfer_call call = {};
	struct cs_fd_key key;
	struct cs_fd_state *st;
	int fd = ctx->args[4];

	if (fd < 0 || (ctx->args[3] & CS_MAP_ANONYMOUS))
		return 0;
	key.pid = cs_tgid();
	key.fd = fd;
	st = cs_watched_fd(&key);
	if (!st || st->kind != CS_FD_CRED_FILE || !cs_in_scope())
		return 0;
	call.method = CS_XFER_MMAP;
	call.in_kind = CS_END_CRED_FILE;
	call.in_fd = fd;
	call.out_fd = -1;
	call.out_kind = CS_END_MEMORY;
	call.cred_id = st->cred_id;
	call.bytes = ctx->args[1];
	cs_transfer_start(&call);
	return 0;
}

SEC("tp/syscalls/sys_exit_mmap")
int cs_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	return cs_transfer_exit(CS_XFER_MMAP, ctx->ret);
}
