// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sockets: connect() makes an inet socket watched; writes on watched sockets are copied, except
 * TLS ciphertext. Whether a TCP socket carries TLS is decided in the kernel from its first write
 * (a TLS handshake record starts 16 03 0x), so after the ClientHello (emitted once, for SNI and
 * ALPN) no ciphertext ever crosses the ring buffer; the plaintext comes from the TLS uprobes.
 */
#include "helpers/payload.bpf.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
	struct cs_connect_event *ev;
	struct file *file;
	long ret = ctx->ret;
	short type = -1;

	if (!pending)
		return 0;
	call = *pending;
	bpf_map_delete_elem(&connect_calls, &tid);

	if (ret == 0 || ret == -CS_EINPROGRESS) {
		file = cs_task_fd_file(cs_current(), call.fd);
		if (file)
			type = cs_file_sock_type(file);
		if (type == 1 /* SOCK_STREAM */ || type == 2 /* SOCK_DGRAM */) {
			struct cs_fd_key key = { .pid = cs_tgid(), .fd = call.fd };
			struct cs_fd_state st = {
				.kind = type == 1 ? CS_FD_SOCK_TCP : CS_FD_SOCK_UDP,
				.sock_state = CS_SOCK_UNKNOWN,
			};

			/* BPF_ANY: a re-connected UDP socket starts over. */
			if (bpf_map_update_elem(&watched_fds, &key, &st, BPF_ANY))
				cs_count(CS_CNT_FD_TABLE_FULL);
		}
	}

	ev = CS_RESERVE_CONTROL(struct cs_connect_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_CONNECT);
	ev->fd = call.fd;
	ev->ret = ret;
	ev->family = call.family;
	ev->port = call.port;
	ev->sock_type = type < 0 ? 0 : type;
	__builtin_memcpy(ev->addr, call.addr, sizeof(ev->addr));
	cs_submit_control(ev);
	return 0;
}

/* First byte of the data a write hands over: from `buf`, or from the first iovec. */
static __always_inline bool cs_starts_tls_handshake(__u64 buf, __u32 iovcnt)
{
	__u8 head[3] = {};

	if (iovcnt) {
		struct iovec iov;

		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)buf))
			return false;
		buf = (__u64)iov.iov_base;
	}
	if (bpf_probe_read_user(head, sizeof(head), (void *)buf))
		return false;
	return head[0] == 0x16 && head[1] == 0x03 && head[2] <= 0x04;
}

/*
 * Entry half of write/writev/sendto/sendmsg. Unwatched fds return after the one watched_fds
 * lookup. For watched sockets, decides TLS vs plain on the first TCP write, ties the socket to a
 * running SSL_write of this thread, and remembers the buffer for the exit half.
 */
static __always_inline int cs_write_enter(__u8 op, long fd, __u64 buf, __u32 iovcnt,
					  const void *uaddr)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = fd };
	struct cs_fd_state *st = bpf_map_lookup_elem(&watched_fds, &key);
	struct cs_io_call call = {};
	__u32 tid;

	if (!st || st->kind == CS_FD_CRED_FILE || !cs_in_scope())
		return 0;
	tid = cs_tid();
	call.sock_state = st->sock_state;
	if (st->kind == CS_FD_SOCK_TCP) {
		if (st->sock_state == CS_SOCK_UNKNOWN) {
			call.sock_state = cs_starts_tls_handshake(buf, iovcnt) ? CS_SOCK_TLS :
										 CS_SOCK_PLAIN;
			st->sock_state = call.sock_state;
		} else if (st->sock_state == CS_SOCK_TLS) {
			struct cs_tls_call *tls = bpf_map_lookup_elem(&tls_calls, &tid);

			/* Ciphertext: never copied. Only note which socket this SSL_write uses. */
			if (tls)
				tls->fd = fd;
			return 0;
		}
	}
	call.op = op;
	call.fd = fd;
	call.buf = buf;
	call.iovcnt = iovcnt;
	call.kind = st->kind;
	if (uaddr)
		call.family = cs_read_sockaddr(uaddr, &call.port, call.addr);
	cs_io_call_start(tid, &call);
	return 0;
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
	return cs_write_enter(CS_OP_SENDTO, ctx->args[0], ctx->args[1], 0,
			      (const void *)ctx->args[4]);
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

	/* Same single lookup as every write before touching the msghdr in user memory. */
	if (!bpf_map_lookup_elem(&watched_fds, &key) || !cs_in_scope())
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
