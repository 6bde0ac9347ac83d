// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Go crypto/tls plaintext: a uprobe at the ENTRY of crypto/tls.(*Conn).Write. Never a uretprobe
 * on Go code: the runtime moves goroutine stacks, and the return address a uretprobe plants on
 * the stack is copied to the new stack as a trampoline address the runtime then chokes on. So
 * the bytes are copied at entry (what the caller asked to send; a Write that fails midway still
 * shows its bytes), and there is no exit to tie the conn to its socket.
 *
 * Go >= 1.17 on amd64 (>= 1.18 on arm64) passes arguments in registers: the receiver (*Conn) in
 * the first integer register, the []byte as (ptr, len, cap) in the next three. The loader only
 * attaches to register-ABI binaries (agent/src/loader/go_tls.cpp checks the version).
 *
 * The conn's socket fd, in order of trust:
 * 1. read through the conn: tls.Conn starts with its net.Conn interface (itab, data); for a
 *    *net.TCPConn the data word points at net.conn{fd *netFD}; netFD starts with poll.FD, whose
 *    16-byte fdMutex precedes Sysfd. These layouts hold from Go 1.9 (internal/poll) to 1.23.
 *    The value is only used when watched_fds says this process has that fd as a TLS TCP
 *    socket, so a conn wrapping something else (a proxy conn, a net.Pipe) never yields garbage;
 * 2. else the fd a previous Write of this thread was tied to (go_conn_fds, below);
 * 3. else -1, and the thread gets a tls_calls entry: the socket write Go makes inside Write on
 *    the same thread stores the fd there (net.bpf.c, unchanged), and the thread's next Write
 *    turns it into go_conn_fds + a CS_EV_TLS_FD record, so user space learns the link as well.
 */
#include "helpers/prevent.bpf.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CS_MAX_GO_CONNS 16384
#define CS_INT_MAX 0x7fffffff

#if defined(__TARGET_ARCH_x86)
#define CS_GO_ARG0(ctx) ((ctx)->ax)
#define CS_GO_ARG1(ctx) ((ctx)->bx)
#define CS_GO_ARG2(ctx) ((ctx)->cx)
#elif defined(__TARGET_ARCH_arm64)
#define CS_GO_ARG0(ctx) ((ctx)->regs[0])
#define CS_GO_ARG1(ctx) ((ctx)->regs[1])
#define CS_GO_ARG2(ctx) ((ctx)->regs[2])
#else
#error "Go register ABI: unsupported architecture"
#endif

struct cs_go_conn_key {
	__u32 tgid;
	__u32 _pad0;
	__u64 conn;  /* *tls.Conn */
};

/* Conns tied to their fd through the thread (way 2 above). LRU: a freed conn whose address the
 * Go heap reuses ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CS_MAX_GO_CONNS);
	__type(key, struct cs_go_conn_key);
	__type(value, __s32);
} go_conn_fds SEC(".maps");

/* Way 1: the fd through the conn's own fields, accepted only when it is a TLS socket of ours. */
static __always_inline __s32 cs_go_conn_sysfd(__u64 conn)
{
	struct cs_fd_key key = { .pid = cs_tgid() };
	struct cs_fd_state *st;
	__u64 data = 0, netfd = 0;
	__s64 sysfd = -1;

	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + 16)))
		return -1;
	if (sysfd < 0 || sysfd > CS_INT_MAX)
		return -1;
	key.fd = sysfd;
	st = cs_watched_fd(&key);
	if (!st || st->kind != CS_FD_SOCK_TCP || st->sock_state != CS_SOCK_TLS)
		return -1;
	return sysfd;
}

/* Way 3, second half: what the socket write inside this thread's previous Write recorded. */
static __always_inline void cs_go_collect_thread_link(__u32 tid)
{
	struct cs_tls_call *prev = bpf_map_lookup_elem(&tls_calls, &tid);
	struct cs_go_conn_key key = { .tgid = cs_tgid() };
	struct cs_tls_fd_event *ev;
	__s32 fd;

	if (!prev || prev->lib != CS_TLS_GO)
		return;
	key.conn = prev->ssl;
	fd = prev->fd;
	bpf_map_delete_elem(&tls_calls, &tid);
	if (fd < 0)
		return; /* the goroutine left the thread before its socket write: nothing learned */
	bpf_map_update_elem(&go_conn_fds, &key, &fd, BPF_ANY);
	ev = CS_RESERVE_CONTROL(struct cs_tls_fd_event);
	if (!ev)
		return;
	cs_fill_header(&ev->hdr, CS_EV_TLS_FD);
	ev->ssl = key.conn;
	ev->fd = fd;
	cs_submit_control(ev);
}

/* func (c *Conn) Write(b []byte) (int, error) */
SEC("uprobe")
int cs_go_tls_write(struct pt_regs *ctx)
{
	struct cs_go_conn_key key = { .tgid = cs_tgid(), .conn = CS_GO_ARG0(ctx) };
	__u64 buf = CS_GO_ARG1(ctx), len = CS_GO_ARG2(ctx);
	struct cs_payload_record *rec;
	__u32 tid = cs_tid();
	__s32 fd, *known;
	bool held;

	if (!cs_in_scope()) {
		cs_count(CS_CNT_OUT_OF_SCOPE_TLS);
		return 0;
	}
	cs_go_collect_thread_link(tid);
	if (len == 0 || !key.conn)
		return 0;
	fd = cs_go_conn_sysfd(key.conn);
	if (fd < 0) {
		known = bpf_map_lookup_elem(&go_conn_fds, &key);
		if (known)
			fd = *known;
	}
	if (fd < 0) {
		struct cs_tls_call call = { .ssl = key.conn, .buf = buf, .fd = -1, .lib = CS_TLS_GO };

		if (bpf_map_update_elem(&tls_calls, &tid, &call, BPF_ANY))
			cs_count(CS_CNT_CALL_TABLE_FULL);
	}

	/* The bytes go out at entry anyway: prevent mode only marks them held. */
	held = cs_prevent_hold(key.conn, buf, len);
	rec = cs_payload_begin(CS_EV_TLS_DATA);
	if (!rec)
		return 0;
	if (held)
		rec->extra_flags = CS_CHUNK_HELD;
	rec->ev.fd = fd;
	rec->ev.fd_kind = fd >= 0 ? CS_FD_SOCK_TCP : 0;
	rec->ev.tls_lib = CS_TLS_GO;
	rec->ev.sock_state = CS_SOCK_TLS;
	rec->ev.ssl = key.conn;
	cs_emit_payload(rec, buf, 0, len, CS_CHUNKS_PER_CALL, CS_CNT_TRUNC_TLS);
	return 0;
}
