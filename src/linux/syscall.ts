import { BpfCommand, type BpfCommandName } from './constants.js';
import { BpfSyscallError } from './errors.js';
import { Errno } from './errno.js';
import { callWith, encodeLayout, type Encoded, type FieldValues, type Layout } from './layout.js';
import { lastErrno, libc, syscallNumbers } from './libc.js';

/**
 * `bpf(cmd, attr, size)`: the one entry point to the kernel. The attribute block is encoded from the
 * command's layout table; the encoded block is returned so callers can read fields the kernel filled
 * in (retval, next_id, log_true_size ...).
 */
export interface BpfResult<L extends Layout> {
  /** The non-negative return value (a file descriptor for the commands that create one). */
  ret: number;
  attr: Encoded<L>;
}

export function bpf<L extends Layout>(command: BpfCommandName, layout: L, values: FieldValues<L>): BpfResult<L> {
  const attr = encodeLayout(layout, values);
  const ret = bpfRaw(command, attr);
  if (ret < 0) throw new BpfSyscallError(`BPF_${command}`, -ret);
  return { ret, attr };
}

/** Like `bpf` but returns `-errno` instead of throwing, for callers that branch on the errno. */
export function bpfTry<L extends Layout>(command: BpfCommandName, layout: L, values: FieldValues<L>): BpfResult<L> {
  const attr = encodeLayout(layout, values);
  return { ret: bpfRaw(command, attr), attr };
}

/** Runs an already encoded block; returns the result or `-errno`. PROG_LOAD is retried on EINTR/EAGAIN, as libbpf does. */
export function bpfRaw<L extends Layout>(command: BpfCommandName, attr: Encoded<L>): number {
  const { syscall3 } = libc();
  const nr = syscallNumbers().bpf;
  return callWith(attr, (bytes) => {
    for (let attempt = 0; ; attempt++) {
      const ret = syscall3(nr, BpfCommand[command], bytes, bytes.byteLength);
      if (ret >= 0) return ret;
      const errno = lastErrno();
      if ((errno === Errno.EINTR || errno === Errno.EAGAIN) && attempt < 5 && command === 'PROG_LOAD') continue;
      return -errno;
    }
  });
}
