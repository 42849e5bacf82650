import { TsbpfError } from '../errors.js';
import { errnoName, Errno } from './errno.js';
import { summarizeVerifierLog } from './verifier-log.js';

/** Why a bpf() (or related) call most likely failed, by errno, worded for someone at a terminal. */
const HINTS: Readonly<Record<number, string>> = {
  [Errno.EPERM]: 'not permitted: run as root (or with CAP_BPF/CAP_SYS_ADMIN); some program types (fentry, LSM, ext) are refused even to root under lockdown',
  [Errno.EACCES]: 'access denied: the verifier rejected the program, or the object is read-only',
  [Errno.EINVAL]: 'invalid argument: the kernel does not support this type/flag combination, or a field is out of range',
  [Errno.E2BIG]: 'too big: a size or count exceeds what the kernel allows, or unknown non-zero attr fields (kernel too old)',
  [Errno.ENOENT]: 'no such element, object or attach point',
  [Errno.EEXIST]: 'already exists (update flag NOEXIST, or something is already attached)',
  [Errno.ENOMEM]: 'out of memory (check the map size and RLIMIT_MEMLOCK / memory cgroup)',
  [Errno.ENOSPC]: 'no space: the map is full, or a log/output buffer was too small',
  [Errno.EBADF]: 'bad file descriptor (closed object?)',
  [Errno.EBUSY]: 'busy: something is already attached here',
  [Errno.ENOSYS]: 'bpf() is not available (kernel built without CONFIG_BPF_SYSCALL, or blocked by seccomp)',
  [Errno.EOPNOTSUPP]: 'operation not supported by this map/program type or device',
  [Errno.ENOTSUPP]: 'operation not supported by this kernel (ENOTSUPP)',
  [Errno.ENODEV]: 'no such device (interface gone, or the feature is missing from this kernel)',
  [Errno.EFAULT]: 'bad address passed to the kernel (a bug in the caller)',
  [Errno.EMFILE]: 'too many open files',
};

/** A failed system call of the Linux backend: command, errno number and name, and a hint. */
export class BpfSyscallError extends TsbpfError {
  override name = 'BpfSyscallError';
  readonly command: string;
  readonly errno: number;
  readonly errnoName: string;
  readonly hint: string;

  constructor(command: string, errno: number, detail?: string, options?: { cause?: unknown }) {
    const name = errnoName(errno);
    const hint = HINTS[errno] ?? 'see the kernel documentation for this command';
    super(`linux/${name.toLowerCase()}`, `${command} failed: ${name} (${hint})${detail ? `: ${detail}` : ''}`, {}, options);
    this.command = command;
    this.errno = errno;
    this.errnoName = name;
    this.hint = hint;
  }
}

/**
 * BPF_PROG_LOAD refused by the verifier: carries the full verifier log and a one-line `summary` (the
 * log's last line that is not a statistic, i.e. the reason).
 */
export class BpfVerifierError extends BpfSyscallError {
  override name = 'BpfVerifierError';
  readonly log: string;
  readonly summary: string;
  readonly programName: string;
  constructor(errno: number, log: string, programName: string) {
    const summary = summarizeVerifierLog(log).lastLine;
    super('BPF_PROG_LOAD', errno, `program ${programName || '(unnamed)'}${summary ? `: ${summary}` : ''}`);
    this.log = log;
    this.summary = summary;
    this.programName = programName;
  }

  /** The summary line followed by the whole log, as a terminal should show it. */
  fullReport(): string {
    return `${this.message}\n--- verifier log (${this.log.split('\n').length} lines) ---\n${this.log.trimEnd()}\n`;
  }
}

/** Using an object after close(). */
export class ClosedObjectError extends TsbpfError {
  override name = 'ClosedObjectError';
  constructor(what: string) {
    super('linux/closed', `${what} is closed`);
  }
}
