/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Socket facts shared by the socket syscalls (net.bpf.c) and io_uring requests (uring.bpf.c). */
#ifndef CS_SOCK_BPF_H
#define CS_SOCK_BPF_H

#include "helpers/common.bpf.h"
#include "core_fixes.bpf.h"

#define CS_DNS_PORT 53

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
 * Peer address of a connected inet socket, read from its struct sock. A plain write's record then
 * names its destination itself: user space handles the connect record (control ring) and the
 * data records (data ring) in no guaranteed order, and a write handled first would otherwise go
 * to "an unknown peer" (and miss the DNS name of its address).
 */
static __always_inline __u16 cs_file_sock_peer(struct file *file, __u16 *port, __u8 addr[16])
{
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == CS_AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(addr, &a, 4);
	} else if (family == CS_AF_INET6) {
		/* All 16 bytes, sized here: BPF_CORE_READ_INTO sizes the copy by *dst, and `addr`
		 * decays to a __u8 pointer, so it copied one byte and "::1" read as "::". A dual-stack
		 * socket talking to an IPv4 peer holds it here as ::ffff:a.b.c.d. */
		bpf_core_read(addr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	*port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	return family;
}

static __always_inline __u16 cs_sock_peer(long fd, __u16 *port, __u8 addr[16])
{
	return cs_file_sock_peer(cs_task_fd_file(cs_current(), fd), port, addr);
}

/* A handshake record written outside any TLS write function: prevent mode's hint of which
 * socket the thread's next held GnuTLS write goes to (tls_handshake_fds). */
static __always_inline void cs_note_tls_handshake(__u32 tid, __s32 fd)
{
	if (*(volatile __u32 *)&cs_prevent_on)
		bpf_map_update_elem(&tls_handshake_fds, &tid, &fd, BPF_ANY);
}

/*
 * A connect finished with `ret` (0, -EINPROGRESS or an error): a connected inet socket becomes
 * watched, and CS_EV_CONNECT tells user space where it goes. Runs in the connecting thread (the
 * syscall exit) or in a thread of its process (an io_uring completion), so the fd names the
 * same file in both.
 */
static __always_inline int cs_connect_done(const struct cs_connect_call *call, long ret, __u8 via)
{
	struct cs_connect_event *ev;
	struct file *file;
	short type = -1;

	if (ret == 0 || ret == -CS_EINPROGRESS) {
		file = cs_task_fd_file(cs_current(), call->fd);
		if (file)
			type = cs_file_sock_type(file);
		if (type == 1 /* SOCK_STREAM */ || type == 2 /* SOCK_DGRAM */) {
			struct cs_fd_key key = { .pid = cs_tgid(), .fd = call->fd };
			struct cs_fd_state st = {
				.kind = type == 1 ? CS_FD_SOCK_TCP : CS_FD_SOCK_UDP,
				.sock_state = CS_SOCK_UNKNOWN,
				.flags = call->port == CS_DNS_PORT ? CS_FD_F_DNS : 0,
			};

			/* BPF_ANY: a re-connected UDP socket starts over. */
			if (cs_watch_fd(&key, &st, BPF_ANY))
				cs_count(CS_CNT_FD_TABLE_FULL);
		}
	}

	ev = CS_RESERVE_CONTROL(struct cs_connect_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_CONNECT);
	ev->fd = call->fd;
	ev->ret = ret;
	ev->family = call->family;
	ev->port = call->port;
	ev->sock_type = type < 0 ? 0 : type;
	ev->via = via;
	__builtin_memcpy(ev->addr, call->addr, sizeof(ev->addr));
	cs_submit_control(ev);
	return 0;
}

#endif /* CS_SOCK_BPF_H */
