import koffi from 'koffi';

/**
 * errno numbers to names. libc's table (through koffi) plus the kernel-internal codes that bpf() is
 * known to leak to userspace (ENOTSUPP 524 above all).
 */
const KERNEL_ONLY_ERRNOS: Readonly<Record<number, string>> = {
  512: 'ERESTARTSYS',
  515: 'ENOIOCTLCMD',
  524: 'ENOTSUPP',
};

/** Of two names for one number, the one strace and the kernel sources use. */
const PREFERRED = new Set(['EAGAIN', 'EDEADLK', 'EOPNOTSUPP']);

let byNumber: Map<number, string> | undefined;

function table(): Map<number, string> {
  if (byNumber) return byNumber;
  byNumber = new Map();
  for (const [name, value] of Object.entries(koffi.os.errno)) {
    if (!byNumber.has(value) || PREFERRED.has(name)) byNumber.set(value, name);
  }
  for (const [value, name] of Object.entries(KERNEL_ONLY_ERRNOS)) byNumber.set(Number(value), name);
  return byNumber;
}

export function errnoName(errno: number): string {
  return table().get(errno) ?? `E${errno}`;
}

/** The errno numbers this backend switches on (identical on every Linux architecture it supports). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  E2BIG: 7,
  ENOTSUPP: 524,
} as const;
