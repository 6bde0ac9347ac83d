/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Chunked copy of the bytes a call transferred into data_rb records (header + bytes). */
#ifndef CS_PAYLOAD_BPF_H
#define CS_PAYLOAD_BPF_H

#include "helpers/common.bpf.h"
#include "helpers/taint.bpf.h"

/* writev/sendmsg iovecs copied per call; the rest are counted in CS_CNT_IOV_SKIPPED. Must be a
 * power of two (used as an index mask). */
#define CS_IOV_MAX 4

static __always_inline void cs_count_n(__u32 counter, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&cs_counters, &counter);

	if (v)
		*v += n;
}

/* Returns the per-CPU payload record, its cs_data_event zeroed and its header filled. */
static __always_inline struct cs_payload_record *cs_payload_begin(__u16 type)
{
	__u32 zero = 0;
	struct cs_payload_record *rec = bpf_map_lookup_elem(&payload_scratch, &zero);

	if (!rec)
		return NULL;
	__builtin_memset(&rec->ev, 0, sizeof(rec->ev));
	rec->captured = 0;
	rec->records_left = 0;
	rec->extra_flags = 0;
	cs_fill_header(&rec->ev.hdr, type);
	rec->ev.direction = CS_DIR_EGRESS;
	return rec;
}

/* Ring record sizes for a chunk of n bytes: most writes are small, and a record reserved at
 * CS_CHUNK_MAX for a 200-byte request would take the ring space of 80 of them. */
#define CS_RECORD_SMALL 512
#define CS_RECORD_MEDIUM 4096

static __always_inline struct cs_data_event *cs_reserve_data(__u64 n)
{
	if (n <= CS_RECORD_SMALL)
		return bpf_ringbuf_reserve(&data_rb, sizeof(struct cs_data_event) + CS_RECORD_SMALL,
					   0);
	if (n <= CS_RECORD_MEDIUM)
		return bpf_ringbuf_reserve(&data_rb, sizeof(struct cs_data_event) + CS_RECORD_MEDIUM,
					   0);
	return bpf_ringbuf_reserve(&data_rb, sizeof(struct cs_data_event) + CS_CHUNK_MAX, 0);
}

/* Payload records do not wake the consumer: it reads the data ring on a short period
 * (agent/src/loader/ring_reader.cpp says why). Only when the ring already holds more than
 * data_wakeup_bytes does a call's last record wake it by force, so a burst cannot fill the ring
 * while the reader sleeps. */
static __always_inline __u64 cs_chunk_wakeup(__u32 chunk_flags)
{
	/* A held writer waits for the verdict on these bytes: no period may pass first. */
	if (chunk_flags & CS_CHUNK_HELD)
		return BPF_RB_FORCE_WAKEUP;
	if ((chunk_flags & CS_CHUNK_LAST) && data_wakeup_bytes &&
	    bpf_ringbuf_query(&data_rb, BPF_RB_AVAIL_DATA) > data_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * Sends the next record of the call planned in payload_scratch: up to CS_CHUNK_MAX bytes of the
 * `seg_left` bytes at user address `src`, which sit at offset `off` of the call. Returns the
 * bytes consumed (0: nothing more to send from this segment).
 *
 * The bytes are read from user memory straight into the reserved ring record (one copy). Only
 * the call's last record may wake the consumer, and only in a burst (cs_chunk_wakeup).
 *
 * A global function on purpose (__weak so every family may include it and the linker keeps
 * one): the verifier checks it once with unknown arguments, and the loops calling it carry no
 * precise offsets, so their states prune. Inlined, the chunk loop cost 710k verified
 * instructions per write-exit program (70% of the 1M budget).
 */
__weak __noinline __s64 cs_emit_chunk(__u64 src, __u64 seg_left, __u64 off)
{
	__u32 zero = 0;
	struct cs_payload_record *rec = bpf_map_lookup_elem(&payload_scratch, &zero);
	struct cs_data_event *out;
	__u64 n;

	if (!rec || rec->records_left == 0 || off >= rec->captured || seg_left == 0)
		return 0;
	n = rec->captured - off;
	if (n > seg_left)
		n = seg_left;
	if (n > CS_CHUNK_MAX)
		n = CS_CHUNK_MAX;
	rec->records_left--;
	rec->ev.offset = off;
	rec->ev.len = n;
	rec->ev.chunk_flags = rec->extra_flags;
	if (off + n >= rec->captured || rec->records_left == 0) {
		rec->ev.chunk_flags |= CS_CHUNK_LAST;
		if (off + n < rec->ev.total_len) {
			rec->ev.chunk_flags |= CS_CHUNK_TRUNCATED;
			cs_count(rec->trunc_counter);
		}
	}
	out = cs_reserve_data(n);
	if (!out) {
		cs_count(CS_CNT_RB_DROP_DATA);
		return n;
	}
	__builtin_memcpy(out, &rec->ev, sizeof(rec->ev));
	if (bpf_probe_read_user(out + 1, n, (void *)src)) {
		bpf_ringbuf_discard(out, BPF_RB_NO_WAKEUP);
		cs_count(CS_CNT_READ_FAULT);
		return n;
	}
	bpf_ringbuf_submit(out, cs_chunk_wakeup(rec->ev.chunk_flags));
	cs_count(CS_CNT_EVENTS_DATA);
	return n;
}

/*
 * Bytes of a `total`-byte write to copy under its socket's capture budget (conn_capture_budget),
 * charged to the socket. A write that starts inside the budget is copied whole (up to the
 * per-call bound); later ones only in their head, and *trunc_counter becomes CS_CNT_TRUNC_BUDGET
 * so the cut is counted as what it is. `st` NULL (socket unknown): no budget.
 */
static __always_inline __u64 cs_budget_cap(struct cs_fd_state *st, __u64 total,
					   __u32 *trunc_counter)
{
	__u64 cap = total;

	if (!st || conn_capture_budget == 0)
		return total;
	if (st->captured >= conn_capture_budget && total > call_capture_head) {
		cap = call_capture_head;
		*trunc_counter = CS_CNT_TRUNC_BUDGET;
	}
	__sync_fetch_and_add(&st->captured, cap);
	return cap;
}

/*
 * Emits the first bytes of what one call transferred: `total` bytes from the user buffer `buf`,
 * or, when iovcnt > 0, from the iovec array at `buf` (first CS_IOV_MAX iovecs). At most
 * max_records records of at most CS_CHUNK_MAX bytes each; the last one carries CS_CHUNK_LAST and,
 * when the call moved more than was copied, CS_CHUNK_TRUNCATED (and `trunc_counter` counts it).
 * At most `cap` bytes are copied (cs_budget_cap). rec->ev must be filled except
 * offset/len/chunk_flags/total_len.
 */
static __always_inline void cs_emit_payload_capped(struct cs_payload_record *rec, __u64 buf,
						   __u32 iovcnt, __u64 total, __u64 cap,
						   __u32 max_records, __u32 trunc_counter)
{
	__u64 seg_base[CS_IOV_MAX] = {};
	__u64 seg_len[CS_IOV_MAX] = {};
	__u64 captured = 0, off = 0;
	__u32 nseg = 1;

	if (iovcnt == 0) {
		seg_base[0] = buf;
		seg_len[0] = total;
	} else {
		nseg = iovcnt < CS_IOV_MAX ? iovcnt : CS_IOV_MAX;
		if (iovcnt > CS_IOV_MAX)
			cs_count_n(CS_CNT_IOV_SKIPPED, iovcnt - CS_IOV_MAX);
		for (int i = 0; i < CS_IOV_MAX; i++) {
			struct iovec iov;

			if (i >= nseg)
				break;
			if (bpf_probe_read_user(&iov, sizeof(iov),
						(void *)(buf + i * sizeof(struct iovec)))) {
				cs_count(CS_CNT_READ_FAULT);
				nseg = i;
				break;
			}
			seg_base[i] = (__u64)iov.iov_base;
			seg_len[i] = iov.iov_len;
		}
	}
	for (int i = 0; i < CS_IOV_MAX; i++)
		if (i < nseg)
			captured += seg_len[i];
	if (captured > total)
		captured = total;
	if (captured > cap)
		captured = cap;
	if (captured > (__u64)max_records * CS_CHUNK_MAX)
		captured = (__u64)max_records * CS_CHUNK_MAX;

	rec->ev.total_len = total;
	rec->captured = captured;
	rec->records_left = max_records;
	rec->trunc_counter = trunc_counter;
	for (int i = 0; i < CS_IOV_MAX; i++) {
		__u64 base = seg_base[i], left = seg_len[i];

		if (i >= nseg)
			break;
		for (int j = 0; j < CS_CHUNKS_PER_CALL; j++) {
			__s64 n = cs_emit_chunk(base, left, off);

			if (n <= 0)
				break;
			base += n;
			left -= n;
			off += n;
		}
	}
	if (captured == 0 && total > 0)
		cs_count(trunc_counter);
}

/* cs_emit_payload_capped without a budget. */
static __always_inline void cs_emit_payload(struct cs_payload_record *rec, __u64 buf, __u32 iovcnt,
					    __u64 total, __u32 max_records, __u32 trunc_counter)
{
	cs_emit_payload_capped(rec, buf, iovcnt, total, total, max_records, trunc_counter);
}

/* Exit half of every watched read/write: copies what the call actually transferred. */
static __always_inline void cs_io_exit(__u8 op, long ret)
{
	__u32 tid = cs_tid();
	struct cs_io_call *pending;
	struct cs_io_call call;
	struct cs_payload_record *rec;
	bool is_read;

	if (!cs_io_calls_maybe())
		return;
	pending = bpf_map_lookup_elem(&io_calls, &tid);
	if (!pending)
		return;
	call = *pending;
	cs_io_call_end(tid);
	if (call.op != op || ret <= 0)
		return;
	is_read = op == CS_OP_READ || op == CS_OP_PREAD;
	if (is_read && call.kind == CS_FD_CRED_FILE)
		cs_taint(call.cred_id, CS_TAINT_READ);
	rec = cs_payload_begin(is_read && call.kind == CS_FD_CRED_FILE ? CS_EV_CRED_READ :
									  CS_EV_SOCK_DATA);
	if (!rec)
		return;
	rec->ev.fd = call.fd;
	rec->ev.direction = is_read ? CS_DIR_INGRESS : CS_DIR_EGRESS;
	rec->ev.fd_kind = call.kind;
	rec->ev.sock_state = call.sock_state;
	rec->ev.family = call.family;
	rec->ev.port = call.port;
	__builtin_memcpy(rec->ev.addr, call.addr, sizeof(call.addr));
	if (is_read && call.kind == CS_FD_CRED_FILE) {
		cs_emit_payload(rec, call.buf, 0, ret, 1, CS_CNT_TRUNC_CRED_READ);
	} else if (is_read) {
		/* read() of a DNS socket (file.bpf.c): the answer, as ingress socket data. */
		cs_emit_payload(rec, call.buf, 0, ret, 1, CS_CNT_TRUNC_DNS_ANSWER);
	} else {
		struct cs_fd_key key = { .pid = cs_tgid(), .fd = call.fd };
		__u32 trunc_counter = CS_CNT_TRUNC_SOCK;
		__u64 cap = cs_budget_cap(cs_watched_fd(&key), ret, &trunc_counter);

		cs_emit_payload_capped(rec, call.buf, call.iovcnt, ret, cap, CS_CHUNKS_PER_CALL,
				       trunc_counter);
	}
}

#endif /* CS_PAYLOAD_BPF_H */
