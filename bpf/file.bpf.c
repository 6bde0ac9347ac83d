// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Credential files: opens, reads and closes.
 *
 * Opens are matched at syscall EXIT, on the dentry/inode the kernel resolved, not on the path
 * string at entry. That is cheaper (no user string copy and no path parsing on every open on the
 * host: the non-credential path costs one fd-table slot read, a handful of direct BTF loads and
 * bit tests on the inode and on the name lengths; the scope check runs only for a candidate) and
 * cannot be evaded:
 * relative paths, `..`, symlinks, bind mounts, /proc/self/fd and hard links all resolve to the
 * same inode, and a credential file created after start-up is still caught by its (parent
 * directory, file) names.
 */
#include "helpers/payload.bpf.h"
#include "helpers/path.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* True when some credential name key has a parent and a file name of these lengths, and a
 * file name of this length starting with the byte at `name`. */
static __always_inline bool cs_name_shape_watched(__u32 parent_len, __u32 name_len,
						  const unsigned char *name)
{
	__u32 zero = 0, bit, word;
	struct cs_name_shapes *shapes = bpf_map_lookup_elem(&cred_name_shapes, &zero);
	unsigned char lead = 0;

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
	if (!((shapes->bits[word] >> (bit % 64)) & 1))
		return false;
	if (bpf_probe_read_kernel(&lead, 1, name))
		return true;  /* cannot tell: the name lookup decides */
	bit = name_len * 256 + lead;
	word = bit / 64;
	barrier_var(word);
	word &= CS_NAME_LEAD_BITS / 64 - 1;
	return (shapes->leads[word] >> (bit % 64)) & 1;
}

/* True when `file` is a watched credential file; its id (any value, 0 included) in *id. */
static __always_inline bool cs_match_credential(struct file *file, struct cs_inode_key *ikey,
						__u32 *id)
{
	struct inode *inode = file->f_inode;
	struct dentry *dentry, *parent;
	struct cs_name_key nkey;
	__u32 *cred_id, bit;

	ikey->dev = inode->i_sb->s_dev;
	ikey->ino = inode->i_ino;
	/* Most opens are of files whose inode bit is clear: one load instead of a hash lookup. */
	bit = cs_cred_inode_bit(ikey->dev, ikey->ino);
	if ((cs_cred_inode_bits[(bit / 64) & (CS_CRED_INODE_WORDS - 1)] >> (bit % 64)) & 1) {
		cred_id = bpf_map_lookup_elem(&cred_inodes, ikey);
		if (cred_id) {
			*id = *cred_id;
			return true;
		}
	}
	/* Not a known inode: maybe a credential file created after start-up, or one whose inode
	 * user space could not stat. Compare name lengths before copying any name. */
	dentry = file->f_path.dentry;
	parent = dentry->d_parent;
	if (!cs_name_shape_watched(parent->d_name.len, dentry->d_name.len, dentry->d_name.name))
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

/* procfs superblock magic (include/uapi/linux/magic.h); vmlinux.h carries no macros. */
#define CS_PROC_SUPER_MAGIC 0x9fa0

/*
 * Which part of another process `file` exposes: CS_PROC_ENVIRON for /proc/<pid>/environ,
 * CS_PROC_MEM for /proc/<pid>/mem (also under task/<tid>/), 0 for anything else; the pid in
 * *target. This is how CI runner secrets were harvested in the 2025 tj-actions compromise.
 * Runs on every open that is not a credential file, so the tests go cheapest first: one length
 * compare rejects almost every file, the name bytes are copied only for lengths 7 and 3, the
 * superblock is looked at only for a name that matched, and the parent only on procfs.
 */
static __always_inline __u8 cs_proc_access_what(struct file *file, __u32 *target)
{
	struct dentry *dentry = file->f_path.dentry;
	struct dentry *parent;
	__u32 len = dentry->d_name.len, plen, pid = 0;
	char name[8] = {}, digits[12] = {};
	__u8 what;

	if (len != 7 && len != 3)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), dentry->d_name.name);
	if (len == 7 && name[0] == 'e' && name[1] == 'n' && name[2] == 'v' && name[3] == 'i' &&
	    name[4] == 'r' && name[5] == 'o' && name[6] == 'n')
		what = CS_PROC_ENVIRON;
	else if (len == 3 && name[0] == 'm' && name[1] == 'e' && name[2] == 'm')
		what = CS_PROC_MEM;
	else
		return 0;
	if (file->f_inode->i_sb->s_magic != CS_PROC_SUPER_MAGIC)
		return 0;
	parent = dentry->d_parent;
	plen = parent->d_name.len;
	if (plen == 0 || plen > 10)
		return 0;
	bpf_probe_read_kernel_str(digits, sizeof(digits), parent->d_name.name);
	for (int i = 0; i < 10; i++) {
		char c = digits[i];

		if (c == '\0')
			break;
		if (c < '0' || c > '9')
			return 0;  /* /proc/self/... resolves to the pid dir; anything else is not one */
		pid = pid * 10 + (c - '0');
	}
	/* Its own environment or memory is every process's business (glibc, JITs, debuggers of
	 * themselves). A thread dir of its own (task/<tid>) other than the caller's still passes:
	 * rare, and user space drops it by comparing the target's tgid. */
	if (pid == 0 || pid == cs_tgid() || pid == cs_tid())
		return 0;
	*target = pid;
	return what;
}

/* Reports an open of another process's environ or mem; nothing is watched afterwards. */
static __always_inline int cs_proc_access(struct file *file, long fd)
{
	struct cs_proc_access_event *ev;
	__u32 target = 0;
	__u8 what = cs_proc_access_what(file, &target);

	if (!what || !cs_in_scope())
		return 0;
	cs_taint(0, CS_TAINT_MEMORY);
	ev = CS_RESERVE_CONTROL(struct cs_proc_access_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_PROC_ACCESS);
	ev->fd = fd;
	ev->target_pid = target;
	ev->target_uid = file->f_inode->i_uid.val;
	ev->what = what;
	cs_submit_control(ev);
	return 0;
}

/* An open returned `ret` (an fd, or an error) in the opening thread or, for io_uring, in a thread
 * of its process at the completion: both see the fd in the same file table. */
static __always_inline int cs_open_done(long ret, __u8 via)
{
	struct cs_inode_key ikey = {};
	struct cs_fd_key fkey = {};
	struct cs_fd_state state = {};
	struct cs_cred_open_event *ev;
	struct file *file;
	const char *path_start;
	__u32 cred_id = 0, path_len = 0;
	__u64 stdout_pipe;

	/* The scope check comes after the file tests, which reject nearly every open (neither a
	 * credential nor another process's /proc entry): an in-scope open then skips the check, at
	 * about 55 ns less, while an out-of-scope one pays the tests instead, about 110 ns more
	 * (bpf_stats, 6.18). The watched processes are the ones doing the work on a scoped host (a
	 * CI job, a pod), and without --cgroup everything is in scope. Nothing is recorded or
	 * emitted before the check. */
	if (ret < 0)
		return 0;
	file = cs_current_fd_file(ret);
	if (!file)
		return 0;
	if (!cs_match_credential(file, &ikey, &cred_id))
		return cs_proc_access(file, ret);
	if (!cs_in_scope())
		return 0;

	fkey.pid = cs_tgid();
	fkey.fd = ret;
	state.kind = CS_FD_CRED_FILE;
	state.cred_id = cred_id;
	if (cs_watch_fd(&fkey, &state, BPF_ANY))
		cs_count(CS_CNT_FD_TABLE_FULL);

	/* Whoever opens a credential file with a pipe for stdout may be feeding it onward; the
	 * pipe is read here, not later from /proc, because a subshell is gone within microseconds.
	 * A splice out of that pipe (transfer.bpf.c) is then followed like a read of the file. */
	stdout_pipe = cs_task_fd_pipe(cs_current(), 1);
	if (stdout_pipe)
		bpf_map_update_elem(&cs_tainted_pipes, &stdout_pipe, &cred_id, BPF_ANY);
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
	ev->via = via;
	ev->stdout_pipe = stdout_pipe;
	if (path_start)
		bpf_probe_read_kernel(ev->path, sizeof(ev->path), path_start);
	cs_submit_control(ev);
	return 0;
}

/*
 * For io_uring (uring.bpf.c): its open completions and its fixed-file checks match files here.
 * Both need bpf_rdonly_cast, and the libbpf 1.1 linker (Debian 12) refuses that kfunc's extern
 * in two objects ("failed to resolve size of underlying type"), so they are global functions of
 * this object with scalar arguments, called from uring.bpf.c through extern declarations.
 */
__noinline int cs_uring_open_done(long ret)
{
	return cs_open_done(ret, CS_VIA_URING);
}

/* 1 when `file_ptr` (a struct file *) is a watched credential file. */
__noinline int cs_file_is_credential(__u64 file_ptr)
{
	struct cs_inode_key ikey;
	struct file *file;
	__u32 id;

	if (!file_ptr)
		return 0;
	file = bpf_rdonly_cast((void *)file_ptr, bpf_core_type_id_kernel(struct file));
	return cs_match_credential(file, &ikey, &id);
}

SEC("tp/syscalls/sys_exit_openat")
int cs_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_done(ctx->ret, CS_VIA_SYSCALL);
}

SEC("tp/syscalls/sys_exit_openat2")
int cs_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_done(ctx->ret, CS_VIA_SYSCALL);
}

SEC("tp/syscalls/sys_exit_open")
int cs_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return cs_open_done(ctx->ret, CS_VIA_SYSCALL);
}

/* Entry of read/pread64: the watched_fds gate (one load, then a lookup when its slot is used),
 * then return unless it is a credential fd or a DNS socket (glibc's resolver over TCP reads its
 * answers with read()). */
static __always_inline int cs_read_enter(__u8 op, long fd, __u64 buf)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = cs_watched_fd(&key);
	struct cs_io_call call = {};
	__u32 tid;

	if (!st || (st->kind != CS_FD_CRED_FILE && !(st->flags & CS_FD_F_DNS)) || !cs_in_scope())
		return 0;
	call.op = op;
	call.fd = fd;
	call.buf = buf;
	call.kind = st->kind;
	call.sock_state = st->sock_state;
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
	cs_close_fd(ctx->args[0]);
	return 0;
}
