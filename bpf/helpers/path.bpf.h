/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Best-effort path of an open file, rebuilt from its dentries (only for credential files).
 * Include from ONE .bpf.c only: cs_path_prepend is a global (non-static) function.
 */
#ifndef CS_PATH_BPF_H
#define CS_PATH_BPF_H

#include "helpers/common.bpf.h"
#include "core_fixes.bpf.h"

/* Dentries visited at most (mount crossings included); deeper paths lose leading components. */
#define CS_PATH_STEPS 24

/*
 * Writes "/<name of dentry>" so that it ends at path_scratch[pos] and returns the new start, or
 * -1 when it does not fit. The path is built backwards, ending at buf[CS_PATH_MAX].
 *
 * A global function on purpose: the verifier checks it once with `pos` unknown, so the walk
 * below carries no precise offsets and its unrolled steps prune to one state each. The first
 * version inlined this and blew the 1M-instruction budget on 6.18 (every distinct offset after
 * every step was a new state).
 */
__noinline int cs_path_prepend(__u32 pos, __u64 dentry_ptr)
{
	struct dentry *d = (struct dentry *)dentry_ptr;
	struct cs_path_buf *scratch;
	__u32 zero = 0, len, start;

	scratch = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!scratch || pos > CS_PATH_MAX)
		return -1;
	len = BPF_CORE_READ(d, d_name.len);
	if (len == 0 || len >= CS_PATH_MAX || len + 1 > pos)
		return -1;
	start = pos - len - 1;
	/* start < CS_PATH_MAX follows from the checks, but the verifier does not relate pos and
	 * len; the mask states it (and the buffer is 2 * CS_PATH_MAX, so start + 1 + len fits). */
	barrier_var(start);
	start &= CS_PATH_MAX - 1;
	scratch->buf[start] = '/';
	if (bpf_probe_read_kernel(&scratch->buf[start + 1], len, BPF_CORE_READ(d, d_name.name)))
		return -1;
	return start;
}

/*
 * Builds the path of `file` in path_scratch; returns where it starts (CS_PATH_MAX readable bytes,
 * NUL-terminated) and its length in *len, or NULL.
 * Walks d_parent upwards, stepping to the parent mount at a mount root, and stops at the root of
 * the mount tree, at a dentry that is its own parent, or after CS_PATH_STEPS, so it cannot loop.
 * The walk is not under rename_lock: a concurrent rename can yield a mixed path, which is
 * acceptable for evidence (the inode identity in the event is exact).
 * Call before reserving ring-buffer space: a global function may not run with a reservation held
 * on older kernels.
 */
static __always_inline const char *cs_file_path(struct file *file, __u32 *len)
{
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct mount *mnt = cs_real_mount(BPF_CORE_READ(file, f_path.mnt));
	struct cs_path_buf *scratch;
	__u32 zero = 0, pos = CS_PATH_MAX;

	scratch = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!scratch)
		return NULL;
	scratch->buf[CS_PATH_MAX] = '\0';
	for (int i = 0; i < CS_PATH_STEPS; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		int start;

		if (d == mnt_root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt)
				break; /* root of this mount namespace */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			continue;
		}
		if (!d || d == parent)
			break;
		start = cs_path_prepend(pos, (__u64)d);
		if (start < 0)
			break;
		pos = start;
		d = parent;
	}
	if (pos == CS_PATH_MAX) {
		pos = CS_PATH_MAX - 1;
		scratch->buf[pos] = '/';
	}
	barrier_var(pos);
	if (pos > CS_PATH_MAX)
		return NULL;
	*len = CS_PATH_MAX - pos;
	return &scratch->buf[pos];
}

#endif /* CS_PATH_BPF_H */
