/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by trivial_probes.bpf.c and its loader trivial_probes.cpp: slots of the `hits` map. */
#ifndef CREDSENTRY_BENCH_TRIVIAL_PROBES_H
#define CREDSENTRY_BENCH_TRIVIAL_PROBES_H

/* Same bound as CS_MAX_SCOPE_CGROUPS in bpf/credsentry_abi.h. */
#define TRIVIAL_MAX_SCOPES 16

enum trivial_hit_kind {
	TRIVIAL_HIT_TRACEPOINT = 0,
	TRIVIAL_HIT_RAW_TRACEPOINT = 1,
	TRIVIAL_HIT_UPROBE = 2,
	TRIVIAL_HIT_URETPROBE = 3,
	TRIVIAL_HIT__COUNT
};

#endif /* CREDSENTRY_BENCH_TRIVIAL_PROBES_H */
