// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Memory scrapes: another process's memory read through process_vm_readv, a ptrace attach,
 * seize or peek, or an fd taken out of it with pidfd_getfd. Each is reported as an access of
 * that process (CS_EV_PROC_ACCESS, like an open of its /proc/<pid>/mem), so user space names
 * the target and taints the reader with what it could have taken. This is how the tj-actions
 * and TeamPCP stealers got a CI runner's masked secrets.
 *
 * A dumper peeks word by word, millions of times: one event per (reader, target, method) and
 * second leaves the kernel, the rest are counted as CS_CNT_SCRAPE_REPEATS.
 */
#include "helpers/common.bpf.h"
#include "helpers/taint.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* pidfs superblock magic ("PIDF", include/uapi/linux/magic.h). */
#define CS_PID_FS_MAGIC 0x50494446

#define CS_SCRAPE_REPEAT_NS 1000000000ull

struct cs_scrape_key {
	__u32 pid;
	__u32 target;
	__u32 what;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cs_scrape_key);
	__type(value, __u64);
} cs_scrapes_seen SEC(".maps");

/* `detail`: the ptrace request, or the target's fd number for pidfd_getfd. */
static __always_inline int cs_scrape(__u32 target, __u8 what, __s32 detail)
{
	struct cs_scrape_key key = {};
	struct cs_proc_access_event *ev;
	__u64 now, *last;

	/* Its own memory is every process's business (JITs, self-debuggers). */
	if (target == 0 || target == cs_tgid() || target == cs_tid() || !cs_in_scope())
		return 0;
	/* Tainted at every scrape, repeats included: what it took has no expected destination. */
	cs_taint(0, CS_TAINT_MEMORY);
	key.pid = cs_tgid();
	key.target = target;
	key.what = what;
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&cs_scrapes_seen, &key);
	if (last && now - *last < CS_SCRAPE_REPEAT_NS) {
		cs_count(CS_CNT_SCRAPE_REPEATS);
		return 0;
	}
	bpf_map_update_elem(&cs_scrapes_seen, &key, &now, BPF_ANY);
	ev = CS_RESERVE_CONTROL(struct cs_proc_access_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_PROC_ACCESS);
	ev->fd = detail;
	ev->target_pid = target;
	ev->target_uid = CS_UID_UNKNOWN;  /* user space looks at /proc/<pid> */
	ev->what = what;
	cs_submit_control(ev);
	return 0;
}

SEC("tp/syscalls/sys_enter_process_vm_readv")
int cs_enter_process_vm_readv(struct trace_event_raw_sys_enter *ctx)
{
	return cs_scrape((__u32)ctx->args[0], CS_PROC_VM_READV, -1);
}

SEC("tp/syscalls/sys_enter_ptrace")
int cs_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	long request = ctx->args[0];

	if (request != CS_PTRACE_ATTACH && request != CS_PTRACE_SEIZE &&
	    request != CS_PTRACE_PEEKTEXT && request != CS_PTRACE_PEEKDATA &&
	    request != CS_PTRACE_PEEKUSR)
		return 0;
	return cs_scrape((__u32)ctx->args[1], CS_PROC_PTRACE, (__s32)request);
}

/* The pid a pidfd refers to, as the init pid namespace numbers it (the agent's view), or 0. */
static __always_inline __u32 cs_pidfd_target(int pidfd)
{
	/* Not cs_current_fd_file: a second object using the bpf_rdonly_cast kfunc trips bpftool's
	 * linker, and this syscall is rare enough for plain probe reads. */
	struct file *file = cs_task_fd_file(cs_current(), pidfd);
	struct inode *inode;
	struct pid *pid;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != CS_PID_FS_MAGIC)
		return 0;
	/* pidfs keeps the struct pid on the inode; older pidfd files kept it on the file. */
	pid = BPF_CORE_READ(inode, i_private);
	if (!pid)
		pid = BPF_CORE_READ(file, private_data);
	if (!pid)
		return 0;
	return BPF_CORE_READ(pid, numbers[0].nr);
}

SEC("tp/syscalls/sys_enter_pidfd_getfd")
int cs_enter_pidfd_getfd(struct trace_event_raw_sys_enter *ctx)
{
	return cs_scrape(cs_pidfd_target((int)ctx->args[0]), CS_PROC_PIDFD_GETFD,
			 (__s32)ctx->args[1]);
}
