// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Credential files: opens, reads and closes.
 *
 * Opens are matched at syscall EXIT, on the dentry/inode the kernel resolved, not on the path
 * string at entry. That is cheaper (no user string copy and no path parsing on every open on the
 * host: the non-credential path costs the scope check, one fd-table slot read, a handful of
 * direct BTF loads, one hash lookup and a bit test on the name lengths) and cannot be evaded:
 * relative paths, `..`, symlinks, bind mounts, /proc/self/fd and hard links all resolve to the
 * same inode, and a credential file created after start-up is still caught by its (parent
 * directory, file) names.
 */
#include "helpers/payload.bpf.h"
#include "helpers/path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* True when some credential name key has a parent and a file name of these lengths. */
static __always_inline bool cs_name_shape_watched(__u32 parent_len, __u32 name_len)
{
	__u32 zero = 0, bit, word;
	struct cs_name_shapes *shapes = bpf_map_lookup_elem(&cred_name_shapes, &zero);

	if (!shapes)
		return false;
	/* Keys hold at most CS_DENTRY_NAME_MAX-1 bytes: longer names share the last row/column. */
	if (parent_len > CS_DENTRY_NAME_MAX - 1)
		parent_len = CS_DENTRY_NAME_MAX - 1;
	if (name_len > CS_DENTRY_NAME_MAX - 1)
		name_len = CS_DENTRY_NAME_MAX - 1;
	bit = parent_len * CS_DENTRY_NAME_MAX + name_len;
	word = bit / 64;
	/* The clamps bound `word`, but clang folds them into forms the verifier cannot follow. */
	barrier_var(word);
	word &= CS_NAME_SHAPE_BITS / 64 - 1;
	return (shapes->bits[word] >> (bit % 64)) & 1;
}

/* True when `file` is a watched credential file; its id (any value, 0 included) in *id. */
static __always_inline bool cs_match_credential(struct file *file, struct cs_inode_key *ikey,
						__u32 *id)
{
	struct inode *inode = file->f_inode;
	struct dentry *dentry, *parent;
	struct cs_name_key nkey;
	__u32 *cred_id;

	ikey->dev = inode->i_sb->s_dev;
	ikey->ino = inode->i_ino;
	cred_id = bpf_map_lookup_elem(&cred_inodes, ikey);
	if (cred_id) {
		*id = *cred_id;
		return true;
	}
	/* Not a known inode: maybe a credential file created after start-up, or one whose inode
	 * user space could not stat. Compare name lengths before copying any name. */
	dentry = file->f_path.dentry;
	parent = dentry->d_parent;
	if (!cs_name_shape_watched(parent->d_name.len, dentry->d_name.len))
		return false;
	__builtin_memset(&nkey, 0, sizeof(nkey));
	/* Names longer than CS_DENTRY_NAME_MAX-1 are truncated; user space truncates alike. */
	bpf_probe_read_kernel_str(nkey.name, sizeof(nkey.name), dentry->d_name.name);
	bpf_probe_read_kernel_str(nkey.parent, sizeof(nkey.parent), parent->d_name.name);
	cred_id = bpf_map_lookup_elem(&cred_names, &nkey);
	if (!cred_id)
		return false;
	*id = *cred_id;
	return true;
}

static __always_inline int cs_open_exit(long ret)
{
	struct cs_inode_key ikey = {};
	struct cs_fd_key fkey = {};
	struct cs_fd_state state = {};
	struct cs_cred_open_event *ev;
	struct file *file;
	const char *path_start;
	__u32 cred_id = 0, path_len = 0;

	if (ret < 0 || !cs_in_scope())
		return 0;
	file = cs_current_fd_file(ret);
	if (!file)
		return 0;
	if (!cs_match_credential(file, &ikey, &cred_id))
		return 0;

	fkey.pid = cs_tgid();
	fkey.fd = ret;
	state.kind = CS_FD_CRED_FILE;
	state.cred_id = cred_id;
	if (bpf_map_update_elem(&watched_fds, &fkey, &state, BPF_ANY))
		cs_count(CS_CNT_FD_TABLE_FULL);

	path_start = cs_file_path(file, &path_len);
	ev = CS_RESERVE_CONTROL(struct cs_cred_open_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_CRED_OPEN);
	ev->fd = ret;
	ev->cred_id = state.cred_id;
	ev->dev = ikey.dev;
	ev->ino = ikey.ino;
	ev->path_len = path_len;
	if (path_start)
		bpf_probe_read_kernel(ev->path, sizeof(ev->path), path_start);
	cs_submit_control(ev);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int cs_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_openat2")
int cs_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_open")
int cs_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_exit(ctx->ret);
}

/* Entry of read/pread64: one watched_fds lookup, then return unless it is a credential fd. */
static __always_inline int cs_read_enter(__u8 op, long fd, __u64 buf)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = bpf_map_lookup_elem(&watched_fds, &key);
	struct cs_io_call call = {};
	__u32 tid;

	if (!st || st->kind != CS_FD_CRED_FILE || !cs_in_scope())
		return 0;
	call.op = op;
	call.fd = fd;
	call.buf = buf;
	call.kind = CS_FD_CRED_FILE;
	call.cred_id = st->cred_id;
	tid = cs_tid();
	cs_io_call_start(tid, &call);
	return 0;
}

SEC("tp/syscalls/sys_enter_read")
int cs_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return cs_read_enter(CS_OP_READ, ctx->args[0], ctx->args[1]);
}

SEC("tp/syscalls/sys_exit_read")
int cs_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_READ, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_pread64")
int cs_enter_pread64(struct trace_event_raw_sys_enter *ctx)
{
	return cs_read_enter(CS_OP_PREAD, ctx->args[0], ctx->args[1]);
}

SEC("tp/syscalls/sys_exit_pread64")
int cs_exit_pread64(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_PREAD, ctx->ret);
	return 0;
}

/* close of a watched fd (credential file or socket): forget it, tell user space. */
SEC("tp/syscalls/sys_enter_close")
int cs_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct cs_fd_state *st = bpf_map_lookup_elem(&watched_fds, &key);
	struct cs_close_event *ev;
	__u8 kind;

	if (!st)
		return 0;
	kind = st->kind;
	bpf_map_delete_elem(&watched_fds, &key);
	if (!cs_in_scope())
		return 0;
	ev = CS_RESERVE_CONTROL(struct cs_close_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_CLOSE);
	ev->fd = key.fd;
	ev->fd_kind = kind;
	cs_submit_control(ev);
	return 0;
}
