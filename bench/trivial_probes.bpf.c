// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The floor the agent's probes are measured against (bench/README.md): one empty program per
 * attach kind, attached by trivial_probes.cpp to every hook the agent attaches. Each program does
 * only what every agent program does before any real work: the --cgroup scope check with
 * bpf_current_task_under_cgroup over a cgroup array. Without it the floor would be cheaper than
 * any correct agent and the ratio would blame the agent for the scope check it must do.
 *
 * In-scope hits are counted per attach kind so the benchmark can prove the programs ran (and,
 * for the uprobes, how many SSL_write calls the upload made). Out-of-scope hits are not counted:
 * they return right after the scope check, as the agent's do.
 *
 * SEC("tp"), SEC("raw_tp") and SEC("uprobe") carry no target: the loader attaches each program
 * to many hooks by name.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "trivial_probes.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load: how many --cgroup scopes it filled in. */
const volatile __u32 scope_count = 0;

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, TRIVIAL_MAX_SCOPES);
	__type(key, __u32);
	__type(value, __u32);
} scope_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRIVIAL_HIT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* The same loop as cs_in_scope() in bpf/helpers/common.bpf.h. */
static __always_inline bool trivial_in_scope(void)
{
	if (scope_count == 0)
		return true;
	for (__u32 i = 0; i < TRIVIAL_MAX_SCOPES; i++) {
		if (i >= scope_count)
			break;
		if (bpf_current_task_under_cgroup(&scope_cgroups, i) == 1)
			return true;
	}
	return false;
}

static __always_inline int trivial_hit(__u32 kind)
{
	__u64 *n;

	if (!trivial_in_scope())
		return 0;
	n = bpf_map_lookup_elem(&hits, &kind);
	/* Per-CPU slot: no other CPU writes it, so a plain increment is exact. */
	if (n)
		*n += 1;
	return 0;
}

SEC("tp")
int trivial_tracepoint(void *ctx)
{
	return trivial_hit(TRIVIAL_HIT_TRACEPOINT);
}

SEC("raw_tp")
int trivial_raw_tracepoint(void *ctx)
{
	return trivial_hit(TRIVIAL_HIT_RAW_TRACEPOINT);
}

SEC("uprobe")
int trivial_uprobe(void *ctx)
{
	return trivial_hit(TRIVIAL_HIT_UPROBE);
}

SEC("uretprobe")
int trivial_uretprobe(void *ctx)
{
	return trivial_hit(TRIVIAL_HIT_URETPROBE);
}
