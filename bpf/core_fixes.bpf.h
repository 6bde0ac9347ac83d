/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every place where the kernel's internal layout or behaviour differs between versions, in one
 * file. Fields are read only through BPF_CORE_READ so libbpf relocates
 * offsets for the running kernel; what CO-RE cannot fix (missing tracepoints, renamed fields)
 * is handled here or by the loader and named with the kernel change that needs it.
 */
#ifndef CS_CORE_FIXES_BPF_H
#define CS_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/*
 * fd -> struct file through task->files->fdt. The fd table is RCU-managed and may be resized
 * (expand_fdtable) while we read; we read the current `fdt` pointer once and bound the index by
 * that table's max_fds, so a concurrent resize yields a stale-but-valid table or NULL, never an
 * out-of-bounds read.
 */
static __always_inline struct file *cs_task_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	unsigned int max_fds;

	if (!fdt || fd < 0)
		return NULL;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/*
 * The same fd -> file walk for the hot open path, as direct (BTF) loads instead of a chain of
 * bpf_probe_read_kernel calls: the verifier turns each load into one fault-safe instruction.
 * Two steps need help: fdt->fd is a `struct file **`, which BTF does not type, so that one slot
 * is read with bpf_probe_read_kernel; and the struct file it yields is typed again with the
 * bpf_rdonly_cast kfunc (6.2+; the verifier replaces the call by a register move, so it is
 * free). Needs bpf_get_current_task_btf (5.11+). Older kernels: use cs_task_fd_file.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct file *cs_current_fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]) || !file)
		return NULL;
	return bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
}

/*
 * Inode number of fd `fd` when it is an anonymous pipe (its inode lives on pipefs), else 0.
 * Named FIFOs live on ordinary filesystems whose inode numbers could collide with pipefs's,
 * so the superblock magic decides, not S_ISFIFO.
 */
#define CS_PIPEFS_MAGIC 0x50495045
static __always_inline __u64 cs_task_fd_pipe(struct task_struct *task, int fd)
{
	struct file *file = cs_task_fd_file(task, fd);
	struct inode *inode;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != CS_PIPEFS_MAGIC)
		return 0;
	return BPF_CORE_READ(inode, i_ino);
}

/* SOCK_STREAM / SOCK_DGRAM of a socket fd's file (file->private_data is the struct socket). */
static __always_inline short cs_file_sock_type(struct file *file)
{
	struct socket *sock = BPF_CORE_READ(file, private_data);

	if (!sock)
		return -1;
	return BPF_CORE_READ(sock, type);
}

/*
 * struct mount is private to fs/ (fs/mount.h) and its layout has changed repeatedly (5.x moved
 * mnt_ns, 6.8 reorganised the mount tree). Only the offset of its embedded `mnt` matters to us;
 * bpf_core_field_offset relocates it, so container_of works on every kernel with BTF.
 */
static __always_inline struct mount *cs_real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/*
 * sched_process_exec's filename is a __data_loc field: the low 16 bits of the u32 are the offset
 * of the string from the start of the record (include/trace/stages/stage6_event_callback.h).
 */
static __always_inline const char *cs_exec_filename(struct trace_event_raw_sched_process_exec *ctx)
{
	return (const char *)ctx + (ctx->__data_loc_filename & 0xFFFF);
}

/*
 * Tracepoints that do not exist everywhere (the loader turns their programs off instead of
 * failing, via bpf_program__set_autoload(false) after checking tracefs):
 *  - syscalls/sys_exit_openat2: added with openat2(2) in 5.6.
 *  - syscalls/sys_exit_open: x86_64 only; arm64 has no open(2).
 */

#endif /* CS_CORE_FIXES_BPF_H */
