// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prevent mode's connect block: what cannot be read (Java's TLS, rustls, anything we do not
 * hook) is stopped where it leaves. A process tainted by a credential read (helpers/taint.bpf.h)
 * may connect, or send a datagram, only to an address that a DNS answer for an expected
 * destination of every credential it read gave (cs_egress_ips, kept by the agent with the
 * answers' TTLs), or that egress.allow names; anything else fails with EPERM before a packet is
 * built. Port 53 always passes: the process must still resolve names.
 *
 * cgroup sock_addr programs, attached by the loader to each --cgroup scope (the root cgroup
 * without one), so only in-scope processes reach them. An untainted process costs one hash
 * lookup per connect; with prevent mode off, one load.
 */
#include "helpers/common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CS_SOCK_ALLOW 1
#define CS_SOCK_REFUSE 0  /* the syscall fails with EPERM */

/* Whether `key` (a 16-byte address) may be reached by a process holding `creds`. */
static __always_inline bool cs_egress_allowed(const struct cs_egress_key *key, __u64 creds)
{
	struct cs_egress_cidr_key cidr = { .prefixlen = 128 };
	struct cs_egress_allow *a = bpf_map_lookup_elem(&cs_egress_ips, key);

	if (a && bpf_ktime_get_ns() < a->expires_ns) {
		if (a->creds == CS_CREDS_ALL) {
			cs_count(CS_CNT_BLOCK_ALLOWED_EGRESS);
			return true;
		}
		if ((creds & ~a->creds) == 0) {
			cs_count(CS_CNT_BLOCK_ALLOWED_DNS);
			return true;
		}
	}
	__builtin_memcpy(cidr.addr, key->addr, sizeof(cidr.addr));
	if (bpf_map_lookup_elem(&cs_egress_cidrs, &cidr)) {
		cs_count(CS_CNT_BLOCK_ALLOWED_EGRESS);
		return true;
	}
	return false;
}

static __always_inline int cs_egress_check(struct bpf_sock_addr *ctx, bool v6, __u8 hook)
{
	struct cs_egress_key key = {};
	struct cs_block_event *ev;
	struct cs_taint *t;
	__u32 tgid, port;

	if (!*(volatile __u32 *)&cs_prevent_on)
		return CS_SOCK_ALLOW;
	tgid = cs_tgid();
	t = bpf_map_lookup_elem(&cs_tainted, &tgid);
	if (!t)
		return CS_SOCK_ALLOW;
	port = __builtin_bswap16((__u16)ctx->user_port);
	if (port == 53) {
		cs_count(CS_CNT_BLOCK_ALLOWED_DNS_PORT);
		return CS_SOCK_ALLOW;
	}
	if (v6) {
		__u32 w[4];

		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		__builtin_memcpy(key.addr, w, 16);
	} else {
		__u32 ip4 = ctx->user_ip4;

		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &ip4, 4);
	}
	if (cs_egress_allowed(&key, t->creds))
		return CS_SOCK_ALLOW;

	cs_count(CS_CNT_BLOCK_REFUSED);
	ev = CS_RESERVE_CONTROL(struct cs_block_event);
	if (ev) {
		cs_fill_header(&ev->hdr, CS_EV_EGRESS_BLOCKED);
		ev->creds = t->creds;
		ev->cred_id = t->cred_id;
		ev->source = t->source;
		ev->family = v6 ? CS_AF_INET6 : CS_AF_INET;
		ev->port = port;
		ev->sock_type = ctx->type;
		ev->hook = hook;
		if (v6)
			__builtin_memcpy(ev->addr, key.addr, 16);
		else
			__builtin_memcpy(ev->addr, &key.addr[12], 4);
		/* The agent is woken at once: a refused connect is news, and rare. */
		bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
		cs_count(CS_CNT_EVENTS_CONTROL);
	}
	return CS_SOCK_REFUSE;
}

SEC("cgroup/connect4")
int cs_block_connect4(struct bpf_sock_addr *ctx)
{
	return cs_egress_check(ctx, false, CS_HOOK_CONNECT);
}

SEC("cgroup/connect6")
int cs_block_connect6(struct bpf_sock_addr *ctx)
{
	return cs_egress_check(ctx, true, CS_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int cs_block_sendmsg4(struct bpf_sock_addr *ctx)
{
	return cs_egress_check(ctx, false, CS_HOOK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int cs_block_sendmsg6(struct bpf_sock_addr *ctx)
{
	return cs_egress_check(ctx, true, CS_HOOK_SENDMSG);
}
