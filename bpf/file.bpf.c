// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Credential files: opens, reads and closes.
 *
 * Opens are matched at syscall EXIT, on the dentry/inode the kernel resolved, not on the path
 * string at entry. That is cheaper (no user string copy and no path parsing on every open on the
 * host: the non-credential path costs the scope check, two hash lookups and two short dentry
 * name reads) and cannot be evaded: relative paths, `..`, symlinks, bind mounts, /proc/self/fd
 * and hard links all resolve to the same inode, and a credential file created after start-up
 * is still caught by its (parent directory, file) names.
 */
#include "helpers/payload.bpf.h"
#include "helpers/path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int cs_open_exit(long ret)
{
	struct cs_inode_key ikey = {};
	struct cs_name_key nkey = {};
	struct cs_fd_key fkey = {};
	struct cs_fd_state state = {};
	struct cs_cred_open_event *ev;
	struct task_struct *task;
	struct dentry *dentry;
	struct inode *inode;
	struct file *file;
	const char *path_start;
	__u32 *cred_id, path_len = 0;

	if (ret < 0 || !cs_in_scope())
		return 0;
	task = cs_current();
	file = cs_task_fd_file(task, ret);
	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	ikey.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ikey.ino = BPF_CORE_READ(inode, i_ino);
	cred_id = bpf_map_lookup_elem(&cred_inodes, &ikey);
	if (!cred_id) {
		dentry = BPF_CORE_READ(file, f_path.dentry);
		/* Names longer than CS_DENTRY_NAME_MAX-1 are truncated; user space truncates alike. */
		bpf_probe_read_kernel_str(nkey.name, sizeof(nkey.name),
					  BPF_CORE_READ(dentry, d_name.name));
		bpf_probe_read_kernel_str(nkey.parent, sizeof(nkey.parent),
					  BPF_CORE_READ(dentry, d_parent, d_name.name));
		cred_id = bpf_map_lookup_elem(&cred_names, &nkey);
		if (!cred_id)
			return 0;
	}

	fkey.pid = cs_tgid();
	fkey.fd = ret;
	state.kind = CS_FD_CRED_FILE;
	state.cred_id = *cred_id;
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
	if (bpf_map_update_elem(&io_calls, &tid, &call, BPF_ANY))
		cs_count(CS_CNT_CALL_TABLE_FULL);
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
