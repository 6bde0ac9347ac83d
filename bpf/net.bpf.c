// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sockets: connect() makes an inet socket watched; writes on watched sockets are copied, except
 * TLS ciphertext. Whether a TCP socket carries TLS is decided in the kernel from its first write
 * (a TLS handshake record starts 16 03 0x), so after the ClientHello (emitted once, for SNI and
 * ALPN) no ciphertext ever crosses the ring buffer; the plaintext comes from the TLS uprobes.
 *
 * DNS: a socket that connects or sends to port 53 is marked CS_FD_F_DNS. Only on such sockets are
 * receives copied (the answers, so user space can name the peers of later connections) and
 * sendmmsg datagrams copied (glibc sends the A and AAAA queries in one sendmmsg). Receives on any
 * other socket cost the watched_fds gate (cs_watched_fd).
 */
#include "helpers/payload.bpf.h"
#include "helpers/sock.bpf.h"
#include "helpers/prevent.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* io_calls ops of the DNS paths. They extend enum cs_io_op (helpers/maps.bpf.h) with values no
 * other family uses, so cs_io_exit never mistakes one of these calls for its own. */
#define CS_OP_RECVFROM 32
#define CS_OP_RECVMSG 33
#define CS_OP_SENDMMSG 34

/* sendmmsg datagrams copied per call: glibc's resolver sends two (A and AAAA); the rest are
 * counted in CS_CNT_DNS_MSGS_SKIPPED. */
#define CS_MMSG_MAX 2

/*
 * Prevent mode: a process whose stdin is a pipe a credential file fed (`cat creds | client`) is
 * tainted before its connect reaches the cgroup connect hook (bpf/egress.bpf.c), which runs
 * after this syscall-entry tracepoint. The reader's reads of a pipe are never watched, so this is
 * where its taint is decided; a connect costs a few loads more, and only in prevent mode.
 */
static __always_inline void cs_taint_from_stdin(void)
{
	__u32 tgid = cs_tgid();
	__u64 pipe;
	__u32 *cred;

	if (!*(volatile __u32 *)&cs_prevent_on || bpf_map_lookup_elem(&cs_tainted, &tgid))
		return;
	pipe = cs_task_fd_pipe(cs_current(), 0);
	if (!pipe)
		return;
	cred = bpf_map_lookup_elem(&cs_tainted_pipes, &pipe);
	if (cred)
		cs_taint(*cred, CS_TAINT_PIPE);
}

SEC("tp/syscalls/sys_enter_connect")
int cs_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_connect_call call = {};
	__u32 tid;

	if (!cs_in_scope())
		return 0;
	call.fd = ctx->args[0];
	call.family = cs_read_sockaddr((const void *)ctx->args[1], &call.port, call.addr);
	if (!call.family)
		return 0; /* AF_UNIX, AF_NETLINK, ...: not egress */
	cs_taint_from_stdin();
	tid = cs_tid();
	if (bpf_map_update_elem(&connect_calls, &tid, &call, BPF_ANY))
		cs_count(CS_CNT_CALL_TABLE_FULL);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int cs_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = cs_tid();
	struct cs_connect_call *pending = bpf_map_lookup_elem(&connect_calls, &tid);
	struct cs_connect_call call;

	if (!pending)
		return 0;
	call = *pending;
	bpf_map_delete_elem(&connect_calls, &tid);
	return cs_connect_done(&call, ctx->ret, CS_VIA_SYSCALL);
}

/*
 * Entry half of write/writev/sendto/sendmsg. Unwatched fds return after the watched_fds gate
 * (one load; a lookup only when their slot is in use). For watched sockets, decides TLS vs plain
 * on the first TCP write, ties the socket to a running SSL_write of this thread, and remembers
 * the buffer for the exit half.
 */
static __always_inline int cs_write_enter_fd(struct cs_fd_state *st, __u8 op, long fd, __u64 buf,
					     __u32 iovcnt, const void *uaddr)
{
	struct cs_io_call call = {};
	__u32 tid;

	if (!st || st->kind == CS_FD_CRED_FILE)
		return 0;
	tid = cs_tid();
	if (st->kind == CS_FD_SOCK_TCP && st->sock_state == CS_SOCK_TLS) {
		struct cs_tls_call *tls = bpf_map_lookup_elem(&tls_calls, &tid);

		/* Ciphertext: never copied. Only note which socket this SSL_write uses. No scope
		 * check: a tls_calls entry exists only for a thread that passed it at SSL_write. */
		if (tls)
			tls->fd = fd;
		else
			cs_note_tls_handshake(tid, fd);
		return 0;
	}
	if (!cs_in_scope())
		return 0;
	call.sock_state = st->sock_state;
	if (st->kind == CS_FD_SOCK_TCP && st->sock_state == CS_SOCK_UNKNOWN) {
		call.sock_state = cs_starts_tls_handshake(buf, iovcnt) ? CS_SOCK_TLS : CS_SOCK_PLAIN;
		st->sock_state = call.sock_state;
		if (call.sock_state == CS_SOCK_TLS)
			cs_note_tls_handshake(tid, fd);
	}
	call.op = op;
	call.fd = fd;
	call.buf = buf;
	call.iovcnt = iovcnt;
	call.kind = st->kind;
	if (uaddr)
		call.family = cs_read_sockaddr(uaddr, &call.port, call.addr);
	if (!call.family)
		call.family = cs_sock_peer(fd, &call.port, call.addr);
	cs_io_call_start(tid, &call);
	return 0;
}

static __always_inline int cs_write_enter(__u8 op, long fd, __u64 buf, __u32 iovcnt,
					  const void *uaddr)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };

	return cs_write_enter_fd(cs_watched_fd(&key), op, fd, buf, iovcnt, uaddr);
}

/*
 * An unconnected UDP socket sending to port 53 (sendto with an address: dig, Python, Go's
 * resolver on some paths) never went through connect(), so it is not watched yet. Watch it as a
 * DNS socket so its query is copied now and its answer at the receive. Only reached for
 * unwatched sendto calls that name an address; the port is compared before anything else.
 */
static __always_inline struct cs_fd_state *cs_watch_dns_sendto(long fd, const void *uaddr)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state st = { .kind = CS_FD_SOCK_UDP, .flags = CS_FD_F_DNS };
	struct file *file;
	__u16 head[2] = {}; /* sa_family, port (network order) */

	if (bpf_probe_read_user(head, sizeof(head), uaddr))
		return NULL;
	if (head[1] != __builtin_bswap16(CS_DNS_PORT) ||
	    (head[0] != CS_AF_INET && head[0] != CS_AF_INET6) || !cs_in_scope())
		return NULL;
	file = cs_task_fd_file(cs_current(), fd);
	if (!file || cs_file_sock_type(file) != 2 /* SOCK_DGRAM */)
		return NULL;
	if (cs_watch_fd(&key, &st, BPF_NOEXIST)) {
		cs_count(CS_CNT_FD_TABLE_FULL);
		return NULL;
	}
	return cs_watched_fd(&key);
}

SEC("tp/syscalls/sys_enter_write")
int cs_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return cs_write_enter(CS_OP_WRITE, ctx->args[0], ctx->args[1], 0, NULL);
}

SEC("tp/syscalls/sys_exit_write")
int cs_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_WRITE, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_writev")
int cs_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	__u32 iovcnt = ctx->args[2];

	/* iovcnt 0 means "plain buffer" to the exit half; a writev of nothing copies nothing. */
	if (iovcnt == 0)
		return 0;
	return cs_write_enter(CS_OP_WRITEV, ctx->args[0], ctx->args[1], iovcnt, NULL);
}

SEC("tp/syscalls/sys_exit_writev")
int cs_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_WRITEV, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendto")
int cs_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	const void *uaddr = (const void *)ctx->args[4];
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct cs_fd_state *st = cs_watched_fd(&key);

	if (!st) {
		if (!uaddr)
			return 0;
		st = cs_watch_dns_sendto(key.fd, uaddr);
		if (!st)
			return 0;
	}
	return cs_write_enter_fd(st, CS_OP_SENDTO, key.fd, ctx->args[1], 0, uaddr);
}

SEC("tp/syscalls/sys_exit_sendto")
int cs_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_SENDTO, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_sendmsg")
int cs_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct user_msghdr msg;

	/* The same gate as every write before touching the msghdr in user memory. */
	if (!cs_watched_fd(&key) || !cs_in_scope())
		return 0;
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)ctx->args[1])) {
		cs_count(CS_CNT_READ_FAULT);
		return 0;
	}
	if (msg.msg_iovlen == 0)
		return 0;
	return cs_write_enter(CS_OP_SENDMSG, key.fd, (__u64)msg.msg_iov, msg.msg_iovlen,
			      msg.msg_name);
}

SEC("tp/syscalls/sys_exit_sendmsg")
int cs_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	cs_io_exit(CS_OP_SENDMSG, ctx->ret);
	return 0;
}

/*
 * sendmmsg(fd, struct mmsghdr *vec, vlen, flags) on a DNS socket: each datagram is its own
 * message, so each becomes its own record (user space parses one DNS message per record).
 * Other sockets' sendmmsg (QUIC bursts) is not copied.
 */
SEC("tp/syscalls/sys_enter_sendmmsg")
int cs_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct cs_fd_state *st = cs_watched_fd(&key);
	struct cs_io_call call = {};

	if (!st || !(st->flags & CS_FD_F_DNS) || st->kind != CS_FD_SOCK_UDP || !cs_in_scope())
		return 0;
	call.op = CS_OP_SENDMMSG;
	call.fd = key.fd;
	call.buf = ctx->args[1];
	call.iovcnt = ctx->args[2];
	call.kind = st->kind;
	call.sock_state = st->sock_state;
	cs_io_call_start(cs_tid(), &call);
	return 0;
}

/* Takes this thread's pending call if it is an `op` call; false when there is none. */
static __always_inline bool cs_take_call(__u8 op, struct cs_io_call *call)
{
	__u32 tid = cs_tid();
	struct cs_io_call *pending;

	if (!cs_io_calls_maybe())
		return false;
	pending = bpf_map_lookup_elem(&io_calls, &tid);
	if (!pending)
		return false;
	*call = *pending;
	cs_io_call_end(tid);
	return call->op == op;
}

SEC("tp/syscalls/sys_exit_sendmmsg")
int cs_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	struct cs_io_call call;
	long sent = ctx->ret; /* datagrams sent; each mmsghdr's msg_len now holds its bytes */

	if (!cs_take_call(CS_OP_SENDMMSG, &call) || sent <= 0)
		return 0;
	if (sent > CS_MMSG_MAX)
		cs_count_n(CS_CNT_DNS_MSGS_SKIPPED, sent - CS_MMSG_MAX);
	for (int i = 0; i < CS_MMSG_MAX; i++) {
		struct cs_payload_record *rec;
		struct mmsghdr m;

		if (i >= sent)
			break;
		if (bpf_probe_read_user(&m, sizeof(m),
					(void *)(call.buf + i * sizeof(struct mmsghdr)))) {
			cs_count(CS_CNT_READ_FAULT);
			break;
		}
		if (m.msg_hdr.msg_iovlen == 0 || m.msg_len == 0)
			continue;
		rec = cs_payload_begin(CS_EV_SOCK_DATA);
		if (!rec)
			break;
		rec->ev.fd = call.fd;
		rec->ev.fd_kind = call.kind;
		rec->ev.sock_state = call.sock_state;
		cs_emit_payload(rec, (__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen, m.msg_len, 1,
				CS_CNT_TRUNC_SOCK);
	}
	return 0;
}

/* Entry half of recvfrom/recvmsg: only DNS sockets go further than the one lookup. */
static __always_inline int cs_recv_enter(struct cs_fd_state *st, __u8 op, long fd, __u64 buf,
					 __u32 iovcnt)
{
	struct cs_io_call call = {};

	call.op = op;
	call.fd = fd;
	call.buf = buf;
	call.iovcnt = iovcnt;
	call.kind = st->kind;
	call.sock_state = st->sock_state;
	cs_io_call_start(cs_tid(), &call);
	return 0;
}

/* Exit half: copies what was received, one record (a DNS message over UDP is at most 4 KiB with
 * EDNS in practice; CS_CHUNK_MAX bounds it), as ingress socket data. */
static __always_inline void cs_recv_exit(__u8 op, long ret)
{
	struct cs_payload_record *rec;
	struct cs_io_call call;

	if (!cs_take_call(op, &call) || ret <= 0)
		return;
	rec = cs_payload_begin(CS_EV_SOCK_DATA);
	if (!rec)
		return;
	/* Prevent mode: a tainted process may connect only where the DNS answers it got allow, and
	 * the agent learns those from this record. The process is stopped here, before it can use
	 * the answer, until the agent has read it (the hold of prevent.bpf.h, bounded the same
	 * way): its connect then finds the address allowed, not a race it loses. UDP only: glibc's
	 * resolver over TCP reads with read(), whose answer is not held. */
	if (call.kind == CS_FD_SOCK_UDP && cs_tainted_now() && cs_prevent_stop()) {
		rec->extra_flags = CS_CHUNK_HELD;
		cs_count(CS_CNT_BLOCK_DNS_HOLDS);
	}
	rec->ev.fd = call.fd;
	rec->ev.direction = CS_DIR_INGRESS;
	rec->ev.fd_kind = call.kind;
	rec->ev.sock_state = call.sock_state;
	cs_emit_payload(rec, call.buf, call.iovcnt, ret, 1, CS_CNT_TRUNC_DNS_ANSWER);
}

SEC("tp/syscalls/sys_enter_recvfrom")
int cs_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct cs_fd_state *st = cs_watched_fd(&key);

	if (!st || !(st->flags & CS_FD_F_DNS) || !cs_in_scope())
		return 0;
	return cs_recv_enter(st, CS_OP_RECVFROM, key.fd, ctx->args[1], 0);
}

SEC("tp/syscalls/sys_exit_recvfrom")
int cs_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	cs_recv_exit(CS_OP_RECVFROM, ctx->ret);
	return 0;
}

SEC("tp/syscalls/sys_enter_recvmsg")
int cs_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = ctx->args[0] };
	struct cs_fd_state *st = cs_watched_fd(&key);
	struct user_msghdr msg;

	if (!st || !(st->flags & CS_FD_F_DNS) || !cs_in_scope())
		return 0;
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)ctx->args[1])) {
		cs_count(CS_CNT_READ_FAULT);
		return 0;
	}
	if (msg.msg_iovlen == 0)
		return 0;
	return cs_recv_enter(st, CS_OP_RECVMSG, key.fd, (__u64)msg.msg_iov, msg.msg_iovlen);
}

SEC("tp/syscalls/sys_exit_recvmsg")
int cs_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	cs_recv_exit(CS_OP_RECVMSG, ctx->ret);
	return 0;
}
