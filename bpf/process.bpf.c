// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Process lifecycle: exec (with argv), process forks, thread-group exits. */
#include "helpers/common.bpf.h"
#include "helpers/taint.bpf.h"
#include "helpers/prevent.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The exec hold on (1) or off (0), written by the loader through the skeleton's mmap. */
__u32 cs_exec_hold_on SEC(".bss");

/* Executables the agent has inspected (hooked or found to carry no TLS stack), by the kernel's
 * (dev, inode); written by the agent only, after the inspection, so every exec of a new file is
 * held until then. The value is unused. LRU: a forgotten one is held and looked up once more. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CS_MAX_KNOWN_EXES);
	__type(key, struct cs_inode_key);
	__type(value, __u8);
} known_exes SEC(".maps");

/*
 * The first exec of an executable never inspected: the process is stopped (SIGSTOP, taken on
 * its way back to user space, before the new image's first instruction) and entered in
 * prevent_held as an exec hold, so that a binary dropped and run at once cannot make its first TLS
 * write before the agent has hooked it. The agent continues it once the file is inspected; the
 * guardian past CS_EXEC_HOLD_NS, or when the agent is gone. A process on a terminal is left
 * alone: its shell would take a stopped foreground job for one the user suspended.
 */
static __always_inline bool cs_exec_hold(struct task_struct *task)
{
	struct cs_prevent_hold hold = { .reason = CS_HOLD_EXEC };
	struct cs_inode_key key = {};
	struct inode *inode;
	__u32 tgid = cs_tgid();

	if (!*(volatile __u32 *)&cs_exec_hold_on)
		return false;
	inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	if (!inode)
		return false;
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_map_lookup_elem(&known_exes, &key)) {
		cs_count(CS_CNT_EXEC_HOLD_KNOWN);
		return false;
	}
	if (BPF_CORE_READ(task, signal, tty)) {
		cs_count(CS_CNT_EXEC_HOLD_TTY);
		return false;
	}
	hold.ts_ns = bpf_ktime_get_ns();
	hold.tid = cs_tid();
	if (bpf_map_update_elem(&prevent_held, &tgid, &hold, BPF_NOEXIST)) {
		cs_count(CS_CNT_EXEC_HOLD_FAILED);
		return false;
	}
	if (bpf_send_signal_thread(CS_SIGSTOP)) {
		bpf_map_delete_elem(&prevent_held, &tgid);
		cs_count(CS_CNT_EXEC_HOLD_FAILED);
		return false;
	}
	cs_count(CS_CNT_EXEC_HOLDS);
	return true;
}

SEC("tp/sched/sched_process_exec")
int cs_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task;
	struct cs_exec_event *ev;
	unsigned long arg_start, arg_end, len;
	long n;

	if (!cs_in_scope())
		return 0;
	ev = CS_RESERVE_CONTROL(struct cs_exec_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_EXEC);
	task = cs_current();
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), cs_exec_filename(ctx));
	ev->filename_len = n > 0 ? n - 1 : 0;
	ev->stdin_pipe = cs_task_fd_pipe(task, 0);
	ev->stdout_pipe = cs_task_fd_pipe(task, 1);
	/* Last, once the record is sure to reach the agent: a hold it never hears of lasts until the
	 * guardian's bound. */
	ev->held = cs_exec_hold(task);

	/* The new image's argv strings, NUL-separated, as the kernel laid them out at exec. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > CS_ARGS_MAX)
		len = CS_ARGS_MAX;
	barrier_var(len);
	if (len > CS_ARGS_MAX)
		len = CS_ARGS_MAX;
	if (len && bpf_probe_read_user(ev->args, len, (void *)arg_start) == 0) {
		ev->args_len = len;
	} else if (len) {
		cs_count(CS_CNT_READ_FAULT);
	}
	cs_submit_control(ev);
	return 0;
}

/*
 * raw_tp rather than tp: the classic tracepoint only carries pids, and we need the child's
 * task_struct to tell a new process (child is a thread-group leader) from a new thread.
 */
SEC("raw_tp/sched_process_fork")
int cs_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct cs_fork_event *ev;
	struct cs_taint *taint;
	__u32 pid, tgid, parent = cs_tgid();

	pid = BPF_CORE_READ(child, pid);
	tgid = BPF_CORE_READ(child, tgid);
	if (pid != tgid || !cs_in_scope())
		return 0;
	/* A child of a tainted process holds what its parent read (a shell that read a credential
	 * and runs the client that sends it). */
	taint = bpf_map_lookup_elem(&cs_tainted, &parent);
	if (taint)
		cs_taint_tgid(tgid, taint->creds, taint->cred_id, CS_TAINT_INHERITED);
	ev = CS_RESERVE_CONTROL(struct cs_fork_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_FORK);
	ev->child_pid = tgid;
	cs_submit_control(ev);
	return 0;
}

/* fd numbers looked at when a process exits (cs_forget_fds); watched fds above it are forgotten
 * by user space when it expires the process. */
#define CS_EXIT_FD_SCAN 8192

static long cs_forget_fd(__u64 fd, void *ctx)
{
	struct cs_fd_key key = { .pid = *(__u32 *)ctx, .fd = fd };

	if (*(volatile __u32 *)cs_fd_slot_of(&key))
		cs_unwatch_fd(&key);
	return 0;
}

/* The last thread of a process is exiting, before its fd table is released: nothing of it will
 * read, write or close again, so its watched fds (those left open, and those closed behind the
 * close hook's back: close_range, exec's close-on-exec) are dropped now, freeing their entries
 * and their gate slots. An fd number whose slot is empty costs one load. */
static __always_inline void cs_forget_fds(struct task_struct *task, __u32 tgid)
{
	__u32 max_fds;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return;
	max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	if (max_fds > CS_EXIT_FD_SCAN)
		max_fds = CS_EXIT_FD_SCAN;
	bpf_loop(max_fds, cs_forget_fd, &tgid, 0);
}

SEC("tp/sched/sched_process_exit")
int cs_exit(void *ctx)
{
	struct task_struct *task;
	struct cs_exit_event *ev;
	__u32 tid = cs_tid();

	task = cs_current();
	/* A process's taint lives until its last thread is gone (a main thread that called
	 * pthread_exit leaves it to the others), and is dropped in scope or not: one that left the
	 * scope must not leave its entry behind for a reused pid to inherit. */
	if (BPF_CORE_READ(task, signal, live.counter) == 0) {
		__u32 tgid = cs_tgid();

		bpf_map_delete_elem(&cs_tainted, &tgid);
	}
	if (!cs_in_scope())
		return 0;
	/* A thread killed inside a syscall or SSL_write never reaches the exit half: drop its
	 * in-flight entries here so the bounded tables do not fill with the dead. */
	cs_io_call_end(tid);
	bpf_map_delete_elem(&connect_calls, &tid);
	bpf_map_delete_elem(&tls_calls, &tid);
	cs_forget_fds(task, cs_tgid());
	if (tid != cs_tgid())
		return 0;
	ev = CS_RESERVE_CONTROL(struct cs_exit_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_EXIT);
	ev->exit_code = BPF_CORE_READ(task, exit_code); /* raw wait status: code << 8 | signal */
	cs_submit_control(ev);
	return 0;
}
