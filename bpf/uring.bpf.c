// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * io_uring requests, seen as the syscalls they replace: a process that opens, reads, connects
 * and sends only through a ring (the 2025 "curing" proof of concept) produces the same
 * CS_EV_CRED_OPEN, CS_EV_CRED_READ, CS_EV_CONNECT and CS_EV_SOCK_DATA records as one using
 * openat/read/connect/send, marked as io_uring (CS_VIA_URING, CS_CHUNK_URING), so matching,
 * provenance and alerts work unchanged. No kprobes: two tp_btf programs.
 *
 * io_uring_submit_req fires in io_submit_sqe after io_init_req has run the opcode's prep and
 * before the request is issued, so nothing has moved yet. req->file is not assigned before
 * issue (io_assign_file), but req->cqe.fd holds the sqe's fd: the submitter (or its SQPOLL
 * thread, which shares the owner's tgid and file table) resolves it in its own table like a
 * syscall would. Sends and writes are copied here, from the user buffer the kernel is about to
 * read. Reads, opens and connects need their result, known at io_uring_complete, which runs in
 * a thread of the owner (inline, task work, or an io-wq worker; all share its tgid, cgroup, mm
 * and file table). Opens are finished from the request itself; reads and connects on watched
 * fds are remembered by the request's address (uring_calls), because req->cqe.fd is overwritten
 * by the completion flags by then.
 *
 * What cannot be followed is counted, never dropped silently: a request on a registered (fixed)
 * file naming a socket or credential file, or a direct open of a credential file into the fixed
 * table (no fd exists to follow; CS_CNT_URING_FIXED_FILE); provided buffers, chosen only at
 * issue (CS_CNT_URING_BUF_SELECT); reads/opens/connects with IOSQE_CQE_SKIP_SUCCESS, whose
 * success posts no completion (CS_CNT_URING_NO_CQE). Registered buffers (READ_FIXED and the
 * like) are read at the user address the request names, which they map; a fault is counted as
 * CS_CNT_READ_FAULT like any other.
 */
#include "helpers/payload.bpf.h"
#include "helpers/sock.bpf.h"
#include <bpf/bpf_tracing.h>

/* In file.bpf.c, which says why they are there. */
extern int cs_uring_open_done(long ret);
extern int cs_file_is_credential(__u64 file_ptr);

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CS_MAX_URING_PENDING 8192
/* IORING_FILE_INDEX_ALLOC (include/uapi/linux/io_uring.h): the kernel picks the fixed slot. */
#define CS_URING_INDEX_ALLOC (~0u)
/* io_uring/filetable.h: the low bits of io_rsrc_node.file_ptr are flags. */
#define CS_URING_FFS_MASK (~3ul)

struct cs_uring_call {
	struct cs_io_call io;          /* reads: fd, buffer, iovcnt, kind */
	struct cs_connect_call conn;   /* connects: fd and destination */
	__u64 user_data;
	__u32 tgid;
	__u8 opcode;
	__u8 _pad0[3];
};

struct {
	/* Not an LRU: a ring flooded with requests that never complete must not push out the
	 * ones followed; past the bound a request is not followed, counted (uring_pending_full). */
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_URING_PENDING);
	__type(key, __u64);  /* the struct io_kiocb's address */
	__type(value, struct cs_uring_call);
} uring_calls SEC(".maps");

/* Entries ever put in uring_calls minus those taken out: while it is 0, a completion returns
 * after one load. An entry replaced under the same request address is not subtracted, so it can
 * only stay high (a lookup too many), never low. */
__u64 cs_uring_pending SEC(".bss");

static __always_inline bool cs_uring_is_read(__u8 op)
{
	return op == IORING_OP_READ || op == IORING_OP_READ_FIXED || op == IORING_OP_READV ||
	       op == IORING_OP_READV_FIXED;
}

/* The struct file in fixed slot `idx` of the request's ring, 0 when there is none. */
static __always_inline __u64 cs_uring_fixed_file(struct io_kiocb *req, __u32 idx)
{
	struct io_rsrc_node **nodes;
	struct io_rsrc_node *node = NULL;
	unsigned long ptr;

	if (idx >= BPF_CORE_READ(req, ctx, file_table.data.nr))
		return 0;
	nodes = BPF_CORE_READ(req, ctx, file_table.data.nodes);
	if (!nodes || bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx]) || !node)
		return 0;
	ptr = BPF_CORE_READ(node, file_ptr) & CS_URING_FFS_MASK;
	return ptr;
}

/* S_IFSOCK (include/uapi/linux/stat.h); vmlinux.h carries no macros. */
#define CS_S_IFMT 0170000
#define CS_S_IFSOCK 0140000

/*
 * A fixed-file request: there is no fd in the process's table, so nothing the pipeline keys by
 * (pid, fd) can follow it. Counted when it would have mattered: a socket for sends and
 * connects, a credential file for reads.
 */
static __always_inline int cs_uring_fixed(struct io_kiocb *req, bool is_read)
{
	__u64 file = cs_uring_fixed_file(req, req->cqe.fd);

	if (!file || !cs_in_scope())
		return 0;
	if (is_read ? cs_file_is_credential(file) :
		      (BPF_CORE_READ((struct file *)file, f_inode, i_mode) & CS_S_IFMT) ==
			      CS_S_IFSOCK)
		cs_count(CS_CNT_URING_FIXED_FILE);
	return 0;
}

/* Sum of the first CS_IOV_MAX lengths of a user iovec array: what a vectored request writes as
 * far as we copy it (the rest is counted in CS_CNT_IOV_SKIPPED by the payload copy). */
static __always_inline __u64 cs_iov_total(__u64 uiov, __u32 iovcnt)
{
	__u64 total = 0;

	for (int i = 0; i < CS_IOV_MAX; i++) {
		struct iovec iov;

		if (i >= iovcnt)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov))))
			break;
		total += iov.iov_len;
	}
	return total;
}

/*
 * SEND, SENDMSG, their zero-copy forms, WRITE and WRITEV on a watched socket: the same gates as
 * the write syscalls (watched_fds, TLS decided on the first TCP write, scope), then the bytes are
 * copied now from the buffer (or iovecs) the request names, under the connection's budget.
 */
static __always_inline int cs_uring_send(struct io_kiocb *req, __u64 buf, __u32 iovcnt,
					 __u64 total)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = req->cqe.fd };
	struct cs_payload_record *rec;
	struct cs_fd_state *st;
	__u32 trunc_counter = CS_CNT_TRUNC_SOCK;
	__u64 cap;
	__u8 state;

	st = cs_watched_fd(&key);
	if (!st || st->kind == CS_FD_CRED_FILE || !cs_in_scope())
		return 0;
	if (req->flags & REQ_F_BUFFER_SELECT) {
		cs_count(CS_CNT_URING_BUF_SELECT);
		return 0;
	}
	if (iovcnt)
		total = cs_iov_total(buf, iovcnt);
	if (total == 0)
		return 0;
	state = st->sock_state;
	if (st->kind == CS_FD_SOCK_TCP && state == CS_SOCK_UNKNOWN) {
		state = cs_starts_tls_handshake(buf, iovcnt) ? CS_SOCK_TLS : CS_SOCK_PLAIN;
		st->sock_state = state;
	}
	if (st->kind == CS_FD_SOCK_TCP && state == CS_SOCK_TLS)
		return 0; /* ciphertext: the TLS uprobes see its plaintext */
	rec = cs_payload_begin(CS_EV_SOCK_DATA);
	if (!rec)
		return 0;
	rec->extra_flags = CS_CHUNK_URING;
	rec->ev.fd = key.fd;
	rec->ev.fd_kind = st->kind;
	rec->ev.sock_state = state;
	rec->ev.family = cs_sock_peer(key.fd, &rec->ev.port, rec->ev.addr);
	cap = cs_budget_cap(st, total, &trunc_counter);
	cs_emit_payload_capped(rec, buf, iovcnt, total, cap, CS_CHUNKS_PER_CALL, trunc_counter);
	return 0;
}

/* Remembers a request whose result decides what it did, for cs_uring_complete. */
static __always_inline int cs_uring_remember(struct io_kiocb *req, struct cs_uring_call *call)
{
	__u64 key = (__u64)req;

	if (req->flags & REQ_F_CQE_SKIP) {
		cs_count(CS_CNT_URING_NO_CQE);
		return 0;
	}
	call->opcode = req->opcode;
	call->user_data = req->cqe.user_data;
	call->tgid = cs_tgid();
	if (bpf_map_update_elem(&uring_calls, &key, call, BPF_ANY)) {
		cs_count(CS_CNT_URING_PENDING_FULL);
		return 0;
	}
	__sync_fetch_and_add(&cs_uring_pending, 1);
	return 0;
}

/* READ, READV and their registered-buffer forms on a watched credential fd. */
static __always_inline int cs_uring_read(struct io_kiocb *req, __u64 buf, __u32 iovcnt)
{
	struct cs_fd_key key = { .pid = cs_tgid(), .fd = req->cqe.fd };
	struct cs_uring_call call = {};
	struct cs_fd_state *st;

	st = cs_watched_fd(&key);
	if (!st || st->kind != CS_FD_CRED_FILE || !cs_in_scope())
		return 0;
	if (req->flags & REQ_F_BUFFER_SELECT) {
		cs_count(CS_CNT_URING_BUF_SELECT);
		return 0;
	}
	call.io.op = CS_OP_READ;
	call.io.fd = key.fd;
	call.io.buf = buf;
	call.io.iovcnt = iovcnt;
	call.io.kind = st->kind;
	call.io.cred_id = st->cred_id;
	return cs_uring_remember(req, &call);
}

/* Reads a kernel sockaddr at `sa` into call->conn; false when it is not inet. */
static __always_inline bool cs_uring_sockaddr(struct cs_uring_call *call, const void *sa)
{
	__u16 head[2] = {}; /* sa_family, port (network order) */

	if (bpf_probe_read_kernel(head, sizeof(head), sa))
		return false;
	if (head[0] == CS_AF_INET)
		bpf_probe_read_kernel(call->conn.addr, 4, sa + 4);
	else if (head[0] == CS_AF_INET6)
		bpf_probe_read_kernel(call->conn.addr, 16, sa + 8);
	else
		return false;
	call->conn.family = head[0];
	call->conn.port = __builtin_bswap16(head[1]);
	return true;
}

/*
 * CONNECT: the destination from the kernel's copy of the address, which io_connect_prep made,
 * so what the process changes afterwards does not matter. Where the copy lives changed in 2026
 * (stable too): a struct io_async_msghdr's addr before, a bare sockaddr_storage after. The bare
 * form is tried first: the msghdr form starts with a pointer, whose low bytes are never 2
 * (AF_INET) or 10 (AF_INET6) since pointers there are 8-byte aligned. Neither inet: the user's
 * address, as connect(2) is read at its entry.
 */
static __always_inline int cs_uring_connect(struct io_kiocb *req)
{
	struct io_async_msghdr *io = req->async_data;
	struct io_connect *conn = (void *)&req->cmd;
	struct cs_uring_call call = {};

	if (!cs_in_scope())
		return 0;
	if (!io || (!cs_uring_sockaddr(&call, io) && !cs_uring_sockaddr(&call, &io->addr))) {
		call.conn.family = cs_read_sockaddr(BPF_CORE_READ(conn, addr), &call.conn.port,
						    call.conn.addr);
		if (!call.conn.family)
			return 0; /* AF_UNIX, AF_NETLINK, ...: not egress */
	}
	call.conn.fd = req->cqe.fd;
	return cs_uring_remember(req, &call);
}

/*
 * OPENAT, OPENAT2: the fd (or the fixed slot of a direct open) is known at completion, and the
 * request still holds all the completion needs (struct io_open), so nothing is remembered: opens
 * are the commonest request, and a table entry per open cost more than the rest of the work. One
 * asking for no completion on success is counted here, where it can be.
 */
static __always_inline int cs_uring_open(struct io_kiocb *req)
{
	if ((req->flags & REQ_F_CQE_SKIP) && cs_in_scope())
		cs_count(CS_CNT_URING_NO_CQE);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(cs_uring_submit, struct io_kiocb *req)
{
	struct io_sr_msg *sr = (void *)&req->cmd;
	struct io_rw *rw = (void *)&req->cmd;
	struct io_close *cl = (void *)&req->cmd;
	__u8 op = req->opcode;

	switch (op) {
	case IORING_OP_SEND:
	case IORING_OP_SEND_ZC:
	case IORING_OP_SENDMSG:
	case IORING_OP_SENDMSG_ZC:
	case IORING_OP_WRITE:
	case IORING_OP_WRITE_FIXED:
	case IORING_OP_WRITEV:
	case IORING_OP_WRITEV_FIXED:
	case IORING_OP_CONNECT:
		if (req->flags & REQ_F_FIXED_FILE)
			return cs_uring_fixed(req, false);
		break;
	case IORING_OP_READ:
	case IORING_OP_READ_FIXED:
	case IORING_OP_READV:
	case IORING_OP_READV_FIXED:
		if (req->flags & REQ_F_FIXED_FILE)
			return cs_uring_fixed(req, true);
		break;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
		return cs_uring_open(req);
	case IORING_OP_CLOSE:
		/* A close of a regular fd (not of a fixed slot) is close(2)'s: the watched fd goes,
		 * so a later file given the same number is not taken for the credential file. */
		if (!(req->flags & REQ_F_FIXED_FILE) && !BPF_CORE_READ(cl, file_slot))
			cs_close_fd(BPF_CORE_READ(cl, fd));
		return 0;
	default:
		return 0;
	}

	switch (op) {
	case IORING_OP_SEND:
	case IORING_OP_SEND_ZC:
		return cs_uring_send(req, (__u64)BPF_CORE_READ(sr, buf), 0,
				     (__u32)BPF_CORE_READ(sr, len));
	case IORING_OP_SENDMSG:
	case IORING_OP_SENDMSG_ZC: {
		struct user_msghdr msg;

		/* The gate before touching the msghdr in user memory, as sendmsg(2) does. */
		struct cs_fd_key key = { .pid = cs_tgid(), .fd = req->cqe.fd };

		if (!cs_watched_fd(&key))
			return 0;
		if (bpf_probe_read_user(&msg, sizeof(msg), BPF_CORE_READ(sr, umsg))) {
			cs_count(CS_CNT_READ_FAULT);
			return 0;
		}
		if (msg.msg_iovlen == 0)
			return 0;
		return cs_uring_send(req, (__u64)msg.msg_iov, msg.msg_iovlen, 0);
	}
	case IORING_OP_WRITE:
	case IORING_OP_WRITE_FIXED:
		return cs_uring_send(req, BPF_CORE_READ(rw, addr), 0, BPF_CORE_READ(rw, len));
	case IORING_OP_WRITEV:
	case IORING_OP_WRITEV_FIXED:
		return cs_uring_send(req, BPF_CORE_READ(rw, addr), BPF_CORE_READ(rw, len), 0);
	case IORING_OP_CONNECT:
		return cs_uring_connect(req);
	case IORING_OP_READ:
	case IORING_OP_READ_FIXED:
		return cs_uring_read(req, BPF_CORE_READ(rw, addr), 0);
	case IORING_OP_READV:
	case IORING_OP_READV_FIXED:
		return cs_uring_read(req, BPF_CORE_READ(rw, addr), BPF_CORE_READ(rw, len));
	}
	return 0;
}

/* A credential read through the ring completed with `res` bytes: the same record read(2)
 * gives (one record; vectored reads in their first CS_IOV_MAX iovecs). */
static __always_inline void cs_uring_read_done(const struct cs_uring_call *call, long res)
{
	struct cs_payload_record *rec;

	if (res <= 0)
		return;
	/* As read(2) does: the reader is tainted in the kernel, so prevent mode's connect hooks
	 * see it (the completion may run on an io-wq thread: the request's process is named). */
	cs_taint_tgid(call->tgid, cs_cred_bit(call->io.cred_id), call->io.cred_id, CS_TAINT_READ);
	rec = cs_payload_begin(CS_EV_CRED_READ);
	if (!rec)
		return;
	rec->extra_flags = CS_CHUNK_URING;
	rec->ev.fd = call->io.fd;
	rec->ev.direction = CS_DIR_INGRESS;
	rec->ev.fd_kind = call->io.kind;
	cs_emit_payload(rec, call->io.buf, call->io.iovcnt, res, 1, CS_CNT_TRUNC_CRED_READ);
}

/*
 * An open completed with `res`: an fd in the process's table, which is then handled like
 * openat(2)'s (file.bpf.c checks the scope once the file is a candidate), or for a direct open
 * (io_open.file_slot set) the fixed slot it filled: no fd to watch, counted when it is a
 * credential file.
 */
static __always_inline void cs_uring_open_complete(struct io_kiocb *req, long res)
{
	struct io_open *open = (void *)&req->cmd;
	__u32 file_slot = BPF_CORE_READ(open, file_slot);
	__u32 slot;

	if (!file_slot) {
		cs_uring_open_done(res);
		return;
	}
	if (res < 0)
		return;
	slot = file_slot == CS_URING_INDEX_ALLOC ? res : file_slot - 1;
	if (cs_file_is_credential(cs_uring_fixed_file(req, slot)) && cs_in_scope())
		cs_count(CS_CNT_URING_FIXED_FILE);
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(cs_uring_complete, struct io_ring_ctx *ring, void *req_ptr, struct io_uring_cqe *cqe)
{
	struct io_kiocb *req = req_ptr;
	struct cs_uring_call *pending, call;
	__u64 key = (__u64)req_ptr;
	long res;
	__u8 op;

	if (!req_ptr)
		return 0;
	op = BPF_CORE_READ(req, opcode);
	if (op == IORING_OP_OPENAT || op == IORING_OP_OPENAT2) {
		cs_uring_open_complete(req, BPF_CORE_READ(cqe, res));
		return 0;
	}
	if (!*(volatile __u64 *)&cs_uring_pending)
		return 0;
	pending = bpf_map_lookup_elem(&uring_calls, &key);
	if (!pending)
		return 0;
	call = *pending;
	if (bpf_map_delete_elem(&uring_calls, &key) == 0)
		__sync_fetch_and_add(&cs_uring_pending, -1);
	/* A request recycled since (its entry evicted late, or a CQE lost to overflow) is another
	 * request: it must be the same opcode and user_data, in the same process. */
	if (op != call.opcode || BPF_CORE_READ(req, cqe.user_data) != call.user_data ||
	    cs_tgid() != call.tgid)
		return 0;
	res = BPF_CORE_READ(cqe, res);
	if (cs_uring_is_read(op)) {
		cs_uring_read_done(&call, res);
	} else if (op == IORING_OP_CONNECT) {
		cs_connect_done(&call.conn, res, CS_VIA_URING);
	}
	return 0;
}
