/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Prevent mode's in-kernel half: at the entry of a TLS write function (OpenSSL, GnuTLS, Go), the
 * plaintext is scanned for credential anchors, and a write that has one is held: the process is
 * stopped before the library encrypts a byte (credsentry_abi.h gives the protocol). Only a held
 * write costs the user-space round trip; every other write costs one copy and a scan of the bytes
 * the capture budget would copy anyway.
 */
#ifndef CS_PREVENT_BPF_H
#define CS_PREVENT_BPF_H

#include "helpers/payload.bpf.h"

#define CS_SIGSTOP 19
#define CS_MAX_PREVENT_CONNS 16384

/* Written by the loader through the skeleton's mmap, so a newly learned value becomes an anchor
 * without reloading the programs (cs_prevent_on, the switch, is in maps.bpf.h). */
__u64 cs_anchor_any[CS_ANCHOR_ANY_WORDS] __weak SEC(".bss");
__u64 cs_anchor_bits[CS_ANCHOR_WORDS] __weak SEC(".bss");
__u64 cs_huff_bits[CS_ANCHOR_WORDS] __weak SEC(".bss");
__u64 cs_huff_next[CS_HUFF_NEXT_WORDS] __weak SEC(".bss");

struct cs_prevent_conn_key {
	__u32 tgid;
	__u32 _pad0;
	__u64 conn; /* SSL*, gnutls_session_t or *tls.Conn */
};

struct cs_prevent_conn {
	__u64 scanned;   /* plaintext bytes scanned on this connection (the capture budget applies) */
	__u8 tail[2];    /* last two bytes of the previous write: an anchor may straddle two writes */
	__u8 hold_next;  /* the previous write's anchor was near its end: its key may go on here */
	__u8 _pad0[5];
};

/* LRU: connections are never closed here; a freed SSL whose address is reused starts again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CS_MAX_PREVENT_CONNS);
	__type(key, struct cs_prevent_conn_key);
	__type(value, struct cs_prevent_conn);
} prevent_conns SEC(".maps") __weak;

/* tgid -> when it was stopped. User space deletes the entry before it sends SIGCONT or SIGKILL;
 * the guardian (a separate process holding this map) releases whatever the agent left. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CS_MAX_HELD);
	__type(key, __u32);
	__type(value, struct cs_prevent_hold);
} prevent_held SEC(".maps") __weak;

/* Two tail bytes, then the write's first bytes, then 16 bytes of slack so the scan loads two
 * whole words at any offset below CS_PREVENT_SCAN_MAX. */
struct cs_scan_buf {
	__u8 b[CS_PREVENT_SCAN_MAX + 16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cs_scan_buf);
} prevent_scratch SEC(".maps") __weak;

struct cs_scan_ctx {
	__u32 len; /* bytes valid in prevent_scratch */
	__s32 hit; /* offset of the first anchor, -1 while none */
};

static __always_inline bool cs_bit(const __u64 *bits, __u32 words, __u32 slot)
{
	return (bits[(slot >> 6) & (words - 1)] >> (slot & 63)) & 1;
}

/* Byte i (0..15) of the 16 bytes w0, w1. */
static __always_inline __u32 cs_byte(__u64 w0, __u64 w1, __u32 i)
{
	return (i < 8 ? w0 >> (8 * i) : w1 >> (8 * (i - 8))) & 0xff;
}

/* Whether an anchor starts at byte k (0..7) of the 16 bytes w0, w1, the scan being at offset off
 * of a buffer of len bytes (credsentry_abi.h: the two stages). */
static __always_inline bool cs_anchor_at(__u64 w0, __u64 w1, __u32 k, __u32 off, __u32 len)
{
	__u32 t = cs_byte(w0, w1, k) | cs_byte(w0, w1, k + 1) << 8 | cs_byte(w0, w1, k + 2) << 16;
	__u32 slot = cs_anchor_slot(t);

	if (!cs_bit(cs_anchor_any, CS_ANCHOR_ANY_WORDS, cs_anchor_any_slot(slot)))
		return false;
	if (cs_bit(cs_anchor_bits, CS_ANCHOR_WORDS, slot)) {
		bool printable = true;

		for (__u32 i = 3; i < 3 + CS_ANCHOR_TAIL; i++) {
			__u32 b = cs_byte(w0, w1, k + i);

			if (off + k + i < len && b - 0x21 >= 0x5e)
				printable = false;
		}
		if (printable)
			return true;
	}
	if (cs_bit(cs_huff_bits, CS_ANCHOR_WORDS, slot)) {
		__u32 next = cs_byte(w0, w1, k + 3) | cs_byte(w0, w1, k + 4) << 8;

		return off + k + 3 >= len || cs_bit(cs_huff_next, CS_HUFF_NEXT_WORDS, next);
	}
	return false;
}

/* bpf_loop body: the eight positions of word i, each tested against the anchors. Words, not
 * bytes, per iteration: the loop's call costs more than a test. */
static long cs_scan_word(__u64 i, void *data)
{
	struct cs_scan_ctx *c = data;
	__u32 zero = 0, off = (__u32)i * 8;
	struct cs_scan_buf *sb;
	__u64 w0, w1;

	if (off + 2 >= c->len)
		return 1;
	sb = bpf_map_lookup_elem(&prevent_scratch, &zero);
	if (!sb)
		return 1;
	off &= CS_PREVENT_SCAN_MAX - 8;
	w0 = *(__u64 *)&sb->b[off];
	w1 = *(__u64 *)&sb->b[off + 8];
#pragma unroll
	for (__u32 k = 0; k < 8; k++) {
		if (off + k + 2 >= c->len)
			return 1;
		if (cs_anchor_at(w0, w1, k, off, c->len)) {
			c->hit = off + k;
			return 1;
		}
	}
	return 0;
}

/* Stops the calling process (SIGSTOP, taken on its way back to user space) and enters it in
 * prevent_held, where the agent's verdict or the guardian lets it go. False when it could not
 * (counted): the caller goes on unheld. */
static __always_inline bool cs_prevent_stop(void)
{
	struct cs_prevent_hold hold = {};
	__u32 tgid = cs_tgid();

	if (!*(volatile __u32 *)&cs_prevent_on)
		return false;
	hold.ts_ns = bpf_ktime_get_ns();
	hold.tid = cs_tid();
	if (bpf_map_update_elem(&prevent_held, &tgid, &hold, BPF_ANY)) {
		cs_count(CS_CNT_PREVENT_HOLD_FULL);
		return false;
	}
	/* Thread-directed, yet a stop signal stops the whole thread group (the probe of --check
	 * tries exactly this helper). */
	if (bpf_send_signal_thread(CS_SIGSTOP)) {
		bpf_map_delete_elem(&prevent_held, &tgid);
		cs_count(CS_CNT_PREVENT_SIGNAL_FAILED);
		return false;
	}
	cs_count(CS_CNT_PREVENT_HOLDS);
	return true;
}

/*
 * Decides whether the write of `len` bytes at `buf` on connection `conn` is held, and holds it:
 * true means the process has a SIGSTOP pending (taken before it runs another instruction of the
 * write function) and the write's records must carry CS_CHUNK_HELD. Every failure lets the write
 * go (fail-open) and is counted. Call in scope only.
 */
static __always_inline bool cs_prevent_hold(__u64 conn, __u64 buf, __u64 len)
{
	struct cs_prevent_conn_key key = { .tgid = cs_tgid(), .conn = conn };
	struct cs_scan_ctx c = { .hit = -1 };
	struct cs_prevent_conn fresh = {}, *pc;
	__u64 n = len, limit = CS_PREVENT_SCAN_MAX - 2;
	struct cs_scan_buf *sb;
	__u32 zero = 0;
	bool held;

	if (!*(volatile __u32 *)&cs_prevent_on || len == 0)
		return false;
	pc = bpf_map_lookup_elem(&prevent_conns, &key);
	if (!pc) {
		bpf_map_update_elem(&prevent_conns, &key, &fresh, BPF_NOEXIST);
		pc = bpf_map_lookup_elem(&prevent_conns, &key);
		if (!pc)
			return false;
	}
	/* Past the capture budget, where detect mode copies each write's head only, the scan looks
	 * at the first CS_PREVENT_HEAD_SCAN bytes: where a later request on the connection puts its
	 * head. A bulk upload then costs a scan of 512 bytes per write, not of every byte. */
	if (conn_capture_budget && pc->scanned >= conn_capture_budget)
		limit = CS_PREVENT_HEAD_SCAN;
	if (n > limit) {
		n = limit;
		cs_count(CS_CNT_PREVENT_SCAN_CUT);
	}
	sb = bpf_map_lookup_elem(&prevent_scratch, &zero);
	if (!sb)
		return false;
	sb->b[0] = pc->tail[0];
	sb->b[1] = pc->tail[1];
	n &= CS_PREVENT_SCAN_MAX - 1;
	if (bpf_probe_read_user(&sb->b[2], n, (void *)buf)) {
		cs_count(CS_CNT_READ_FAULT);
		return false;
	}
	c.len = n + 2;
	bpf_loop((c.len + 7) / 8, cs_scan_word, &c, 0);
	held = c.hit >= 0 || pc->hold_next;
	pc->scanned += n;
	pc->hold_next = c.hit >= 0 && (__u32)c.hit + CS_PREVENT_STRADDLE >= c.len;
	pc->tail[0] = sb->b[n & (CS_PREVENT_SCAN_MAX - 1)];
	pc->tail[1] = sb->b[(n + 1) & (CS_PREVENT_SCAN_MAX - 1)];
	if (!held)
		return false;

	return cs_prevent_stop();
}

#endif /* CS_PREVENT_BPF_H */
