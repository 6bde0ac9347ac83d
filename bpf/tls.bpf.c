// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * OpenSSL 3 and GnuTLS 3 plaintext, before encryption. The loader attaches these programs per
 * library file (SEC("uprobe") carries no target) with bpf_program__attach_uprobe_opts(func_name).
 *
 * The SSL object (GnuTLS: the session) is tied to its socket without per-version struct offsets:
 * the write function's entry remembers the thread is inside it, and the socket write the library
 * makes inside the call (net.bpf.c, a watched TCP fd in CS_SOCK_TLS state, same thread) records
 * its fd here. GnuTLS has no SNI hook: user space names the destination from the ClientHello
 * that net.bpf.c copies from the socket's first write.
 */
#include "helpers/prevent.bpf.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CS_SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define CS_TLSEXT_NAMETYPE_host_name 0

/* How a write function reports the bytes it took. */
enum cs_tls_ret {
	CS_TLS_RET_INT = 1,    /* SSL_write: int count, <= 0 on error / retry */
	CS_TLS_RET_EX = 2,     /* SSL_write_ex: 1 on success, the count in *written */
	CS_TLS_RET_SSIZE = 3,  /* gnutls_record_send: ssize_t count, < 0 on error (0: nothing) */
};

/*
 * Prevent mode: a held write's bytes go out now, at entry (the exit is after encryption, too
 * late for a verdict), marked CS_CHUNK_HELD; its exit then sends nothing. The socket is not known
 * yet (the library writes it inside the call): for OpenSSL user space has it from SSL_set_fd (or
 * the ClientHello's SNI for a memory BIO, node); for GnuTLS it is the socket the thread just
 * made its handshake on.
 */
static __always_inline bool cs_tls_hold_at_entry(__u8 lib, void *ssl, const void *buf, __u64 num)
{
	struct cs_payload_record *rec;

	if (!cs_prevent_hold((__u64)ssl, (__u64)buf, num))
		return false;
	rec = cs_payload_begin(CS_EV_TLS_DATA);
	if (!rec)
		return true;
	rec->extra_flags = CS_CHUNK_HELD;
	rec->ev.fd = -1;
	if (lib == CS_TLS_GNUTLS) {
		__u32 tid = cs_tid();
		__s32 *fd = bpf_map_lookup_elem(&tls_handshake_fds, &tid);

		if (fd) {
			rec->ev.fd = *fd;
			rec->ev.fd_kind = CS_FD_SOCK_TCP;
		}
	}
	rec->ev.tls_lib = lib;
	rec->ev.sock_state = CS_SOCK_TLS;
	rec->ev.ssl = (__u64)ssl;
	cs_emit_payload(rec, (__u64)buf, 0, num, CS_CHUNKS_PER_CALL, CS_CNT_TRUNC_TLS);
	return true;
}

static __always_inline int cs_tls_write_enter(__u8 lib, void *ssl, const void *buf, __u64 num,
					      void *written)
{
	struct cs_tls_call call = {};
	__u32 tid;

	if (!cs_in_scope()) {
		cs_count(CS_CNT_OUT_OF_SCOPE_TLS);
		return 0;
	}
	call.ssl = (__u64)ssl;
	call.buf = (__u64)buf;
	call.written = (__u64)written;
	call.fd = -1;
	call.lib = lib;
	call.emitted = cs_tls_hold_at_entry(lib, ssl, buf, num);
	tid = cs_tid();
	if (bpf_map_update_elem(&tls_calls, &tid, &call, BPF_ANY))
		cs_count(CS_CNT_CALL_TABLE_FULL);
	return 0;
}

static __always_inline int cs_tls_write_exit(enum cs_tls_ret kind, long ret)
{
	__u32 tid = cs_tid();
	struct cs_tls_call *pending = bpf_map_lookup_elem(&tls_calls, &tid);
	__u32 trunc_counter = CS_CNT_TRUNC_TLS;
	struct cs_payload_record *rec;
	struct cs_fd_state *st = NULL;
	struct cs_tls_call call;
	__u64 n = 0, cap;

	if (!pending)
		return 0;
	call = *pending;
	bpf_map_delete_elem(&tls_calls, &tid);
	if (call.emitted)
		return 0;
	if (kind == CS_TLS_RET_EX) {
		if (ret != 1 || !call.written ||
		    bpf_probe_read_user(&n, sizeof(n), (void *)call.written))
			return 0;
	} else if (kind == CS_TLS_RET_INT) {
		if ((int)ret <= 0)
			return 0;
		n = (int)ret;
	} else {
		if (ret <= 0)
			return 0;
		n = ret;
	}
	if (n == 0)
		return 0;
	if (call.fd >= 0) {
		struct cs_fd_key key = { .pid = cs_tgid(), .fd = call.fd };

		st = cs_watched_fd(&key);
	}
	cap = cs_budget_cap(st, n, &trunc_counter);
	rec = cs_payload_begin(CS_EV_TLS_DATA);
	if (!rec)
		return 0;
	rec->ev.fd = call.fd;
	rec->ev.fd_kind = call.fd >= 0 ? CS_FD_SOCK_TCP : 0;
	rec->ev.tls_lib = call.lib;
	rec->ev.sock_state = CS_SOCK_TLS;
	rec->ev.ssl = call.ssl;
	cs_emit_payload_capped(rec, call.buf, 0, n, cap, CS_CHUNKS_PER_CALL, trunc_counter);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cs_ssl_write, void *ssl, const void *buf, int num)
{
	return cs_tls_write_enter(CS_TLS_OPENSSL, ssl, buf, num > 0 ? num : 0, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(cs_ssl_write_ret, long ret)
{
	return cs_tls_write_exit(CS_TLS_RET_INT, ret);
}

SEC("uprobe")
int BPF_KPROBE(cs_ssl_write_ex, void *ssl, const void *buf, __u64 num, void *written)
{
	return cs_tls_write_enter(CS_TLS_OPENSSL, ssl, buf, num, written);
}

SEC("uretprobe")
int BPF_KRETPROBE(cs_ssl_write_ex_ret, long ret)
{
	return cs_tls_write_exit(CS_TLS_RET_EX, ret);
}

/* ssize_t gnutls_record_send(gnutls_session_t session, const void *data, size_t data_size) */
SEC("uprobe")
int BPF_KPROBE(cs_gnutls_record_send, void *session, const void *data, __u64 data_size)
{
	return cs_tls_write_enter(CS_TLS_GNUTLS, session, data, data_size, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(cs_gnutls_record_send_ret, long ret)
{
	return cs_tls_write_exit(CS_TLS_RET_SSIZE, ret);
}

/* SSL_set_tlsext_host_name(ssl, name) is a macro for SSL_ctrl(ssl, 55, 0, name). */
SEC("uprobe")
int BPF_KPROBE(cs_ssl_ctrl, void *ssl, int cmd, long larg, const char *parg)
{
	struct cs_tls_sni_event *ev;
	long n;

	if (cmd != CS_SSL_CTRL_SET_TLSEXT_HOSTNAME || larg != CS_TLSEXT_NAMETYPE_host_name ||
	    !parg || !cs_in_scope())
		return 0;
	ev = CS_RESERVE_CONTROL(struct cs_tls_sni_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_TLS_SNI);
	ev->ssl = (__u64)ssl;
	n = bpf_probe_read_user_str(ev->name, sizeof(ev->name), parg);
	if (n < 0)
		cs_count(CS_CNT_READ_FAULT);
	ev->name_len = n > 0 ? n - 1 : 0;
	cs_submit_control(ev);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cs_ssl_set_fd, void *ssl, int fd)
{
	struct cs_tls_fd_event *ev;

	if (!cs_in_scope())
		return 0;
	ev = CS_RESERVE_CONTROL(struct cs_tls_fd_event);
	if (!ev)
		return 0;
	cs_fill_header(&ev->hdr, CS_EV_TLS_FD);
	ev->ssl = (__u64)ssl;
	ev->fd = fd;
	cs_submit_control(ev);
	return 0;
}
