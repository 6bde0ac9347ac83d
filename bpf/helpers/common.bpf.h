/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Scope check, counters, event headers and control-event output shared by all families. */
#ifndef CS_COMMON_BPF_H
#define CS_COMMON_BPF_H

#include "helpers/maps.bpf.h"

#include <bpf/bpf_core_read.h>

#define CS_ENOENT 2
#define CS_EEXIST 17
#define CS_EINPROGRESS 115
#define CS_AF_INET 2
#define CS_AF_INET6 10
#define CS_PF_IO_WORKER 0x00000010  /* include/linux/sched.h: an io_uring SQPOLL or io-wq thread */

static __always_inline void cs_count(__u32 counter)
{
	__u64 *v = bpf_map_lookup_elem(&cs_counters, &counter);

	/* Per-CPU slot: no other CPU writes it, so a plain increment is exact. */
	if (v)
		*v += 1;
}

static __always_inline __u32 cs_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u32 cs_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/*
 * True when the current task may be observed: not the agent itself and, when --cgroup was given,
 * inside one of the scope cgroups (or their descendants). Every program calls this before it
 * copies a byte; nothing of an out-of-scope task is copied or emitted.
 */
static __always_inline bool cs_in_scope(void)
{
	if (agent_tgid && cs_tgid() == agent_tgid)
		return false;
	if (scope_count == 0)
		return true;
	for (__u32 i = 0; i < CS_MAX_SCOPE_CGROUPS; i++) {
		if (i >= scope_count)
			break;
		if (bpf_current_task_under_cgroup(&scope_cgroups, i) == 1)
			return true;
	}
	return false;
}

/* ---- watched_fds behind its gate (cs_fd_slots in credsentry_abi.h) ---- */

static __always_inline __u32 *cs_fd_slot_of(const struct cs_fd_key *key)
{
	return &cs_fd_slots[cs_fd_slot(key->pid, key->fd) & (CS_FD_SLOTS - 1)];
}

/* The state of a watched fd, or NULL. An fd whose slot is empty costs one load, no lookup. */
static __always_inline struct cs_fd_state *cs_watched_fd(const struct cs_fd_key *key)
{
	if (!*(volatile __u32 *)cs_fd_slot_of(key))
		return NULL;
	return bpf_map_lookup_elem(&watched_fds, key);
}

/* Inserts or replaces a watched fd, counting it in its slot exactly once per entry: the slot is
 * raised before the entry can be seen and lowered again when the insert did not add one.
 * Returns 0 or the error of the update (-E2BIG when the table is full). `flags` BPF_NOEXIST
 * keeps an existing entry as it is. */
static __always_inline long cs_watch_fd(const struct cs_fd_key *key,
					const struct cs_fd_state *st, __u64 flags)
{
	__u32 *slot = cs_fd_slot_of(key);
	long err = 0;

	/* Two rounds: an entry seen at the first may be closed before it is replaced. */
	for (int round = 0; round < 2; round++) {
		__sync_fetch_and_add(slot, 1);
		err = bpf_map_update_elem(&watched_fds, key, st, BPF_NOEXIST);
		if (!err)
			return 0;
		__sync_fetch_and_add(slot, -1);
		if (err != -CS_EEXIST || flags == BPF_NOEXIST)
			return err;
		err = bpf_map_update_elem(&watched_fds, key, st, BPF_EXIST);
		if (err != -CS_ENOENT)
			return err;
	}
	return err;
}

/* Forgets a watched fd; true when there was one. */
static __always_inline bool cs_unwatch_fd(const struct cs_fd_key *key)
{
	if (bpf_map_delete_elem(&watched_fds, key))
		return false;
	__sync_fetch_and_add(cs_fd_slot_of(key), -1);
	return true;
}

static __always_inline void cs_fill_header(struct cs_event_header *h, __u16 type)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->type = type;
	h->abi = CS_ABI_VERSION;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->_pad0 = 0;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	/* io_uring's SQPOLL thread and io-wq workers act for their process and are named for the
	 * ring (iou-sqp-<pid>, iou-wrk-<tid>): the record names the process, as a syscall's would. */
	if (h->comm[0] == 'i' && h->comm[1] == 'o' && h->comm[2] == 'u' && h->comm[3] == '-') {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (BPF_CORE_READ(task, flags) & CS_PF_IO_WORKER)
			bpf_probe_read_kernel_str(h->comm, sizeof(h->comm),
						  BPF_CORE_READ(task, group_leader)->comm);
	}
}

/* Reserves a zeroed control record, counting a drop when the ring is full. Zeroing matters: a
 * reserved slot holds an older record's bytes, which must not reappear in padding. */
static __always_inline void *cs_reserve_control(__u64 size)
{
	void *rec = bpf_ringbuf_reserve(&control_rb, size, 0);

	if (!rec)
		cs_count(CS_CNT_RB_DROP_CONTROL);
	return rec;
}

#define CS_RESERVE_CONTROL(type)                                          \
	({                                                                \
		type *__r = cs_reserve_control(sizeof(type));             \
		if (__r)                                                  \
			__builtin_memset(__r, 0, sizeof(type));           \
		__r;                                                      \
	})

static __always_inline void cs_submit_control(void *rec)
{
	bpf_ringbuf_submit(rec, 0);
	cs_count(CS_CNT_EVENTS_CONTROL);
}

/* close of `fd` by the current process (close(2), or an io_uring CLOSE): a watched fd
 * (credential file or socket) is forgotten, and user space told when it is in scope. */
static __always_inline void cs_close_fd(__s32 fd)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = cs_watched_fd(&key);
	struct cs_close_event *ev;
	__u8 kind;

	if (!st)
		return;
	kind = st->kind;
	cs_unwatch_fd(&key);
	if (!cs_in_scope())
		return;
	ev = CS_RESERVE_CONTROL(struct cs_close_event);
	if (!ev)
		return;
	cs_fill_header(&ev->hdr, CS_EV_CLOSE);
	ev->fd = key.fd;
	ev->fd_kind = kind;
	cs_submit_control(ev);
}

/* io_calls with its pending count (maps.bpf.h says why). */
static __always_inline void cs_io_call_start(__u32 tid, const struct cs_io_call *call)
{
	__u32 zero = 0;
	__u64 *pending;

	if (bpf_map_update_elem(&io_calls, &tid, call, BPF_ANY)) {
		cs_count(CS_CNT_CALL_TABLE_FULL);
		return;
	}
	pending = bpf_map_lookup_elem(&io_calls_pending, &zero);
	if (pending)
		__sync_fetch_and_add(pending, 1);
}

static __always_inline void cs_io_call_end(__u32 tid)
{
	__u32 zero = 0;
	__u64 *pending;

	if (bpf_map_delete_elem(&io_calls, &tid))
		return;
	pending = bpf_map_lookup_elem(&io_calls_pending, &zero);
	if (pending)
		__sync_fetch_and_add(pending, -1);
}

/* False only when no thread can have an io_calls entry. */
static __always_inline bool cs_io_calls_maybe(void)
{
	__u32 zero = 0;
	__u64 *pending = bpf_map_lookup_elem(&io_calls_pending, &zero);

	return !pending || *pending != 0;
}

static __always_inline struct task_struct *cs_current(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* Reads a sockaddr_in / sockaddr_in6 from user memory. Returns the family, 0 if not inet. */
static __always_inline __u16 cs_read_sockaddr(const void *uaddr, __u16 *port, __u8 addr[16])
{
	__u16 family = 0;
	__u16 nport = 0;

	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return 0;
	if (family != CS_AF_INET && family != CS_AF_INET6)
		return 0;
	/* sin_port and sin6_port both sit at offset 2, network order. */
	bpf_probe_read_user(&nport, sizeof(nport), uaddr + 2);
	*port = __builtin_bswap16(nport);
	if (family == CS_AF_INET)
		bpf_probe_read_user(addr, 4, uaddr + 4);  /* sin_addr */
	else
		bpf_probe_read_user(addr, 16, uaddr + 8); /* sin6_addr, after sin6_flowinfo */
	return family;
}

#endif /* CS_COMMON_BPF_H */
