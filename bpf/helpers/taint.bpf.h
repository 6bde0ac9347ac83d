/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The taint of prevent mode's connect block (credsentry_abi.h, bpf/egress.bpf.c): marked here,
 * in the kernel, at the read itself, so a process that reads a credential and connects within
 * microseconds is already known at its connect, whatever the agent has handled by then.
 */
#ifndef CS_TAINT_BPF_H
#define CS_TAINT_BPF_H

#include "helpers/common.bpf.h"

static __always_inline __u64 cs_cred_bit(__u32 cred_id)
{
	if (cred_id == 0 || cred_id > 63)
		return CS_CRED_BIT_OTHER;
	return 1ull << (cred_id - 1);
}

/* Adds `creds` to the caller's taint. Tainting costs a lookup on credential reads and scrapes
 * only, never on the hot paths. Call in scope only. */
static __always_inline void cs_taint_tgid(__u32 tgid, __u64 creds, __u32 cred_id, __u8 source)
{
	struct cs_taint *t = bpf_map_lookup_elem(&cs_tainted, &tgid);
	struct cs_taint fresh = {};

	if (t) {
		if ((t->creds & creds) != creds)
			__sync_fetch_and_or(&t->creds, creds);
		return;
	}
	fresh.creds = creds;
	fresh.ts_ns = bpf_ktime_get_ns();
	fresh.cred_id = cred_id;
	fresh.source = source;
	/* BPF_NOEXIST: another thread may have tainted it meanwhile; its bits are then added. */
	if (bpf_map_update_elem(&cs_tainted, &tgid, &fresh, BPF_NOEXIST)) {
		t = bpf_map_lookup_elem(&cs_tainted, &tgid);
		if (t)
			__sync_fetch_and_or(&t->creds, creds);
		else
			cs_count(CS_CNT_TAINT_FULL);
	}
}

static __always_inline void cs_taint(__u32 cred_id, __u8 source)
{
	cs_taint_tgid(cs_tgid(), source == CS_TAINT_MEMORY ? CS_CRED_BIT_OTHER : cs_cred_bit(cred_id),
		      cred_id, source);
}

static __always_inline bool cs_tainted_now(void)
{
	__u32 tgid = cs_tgid();

	return bpf_map_lookup_elem(&cs_tainted, &tgid) != NULL;
}

#endif /* CS_TAINT_BPF_H */
