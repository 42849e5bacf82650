import { TsbpfError, type ErrorLocation } from '../errors.js';

/**
 * A classic BPF program that cannot be run or was rejected. Codes: cbpf/bad-opcode, cbpf/bad-jump,
 * cbpf/empty, cbpf/too-long, cbpf/div-by-zero, cbpf/bad-shift, cbpf/bad-mem-index,
 * cbpf/uninitialized-mem, cbpf/no-return, cbpf/bad-ancillary, cbpf/seccomp-bad-load,
 * cbpf/seccomp-opcode, cbpf/loop-limit, cbpf/unsupported. `location.insn` names the instruction.
 */
export class CbpfError extends TsbpfError {
  override name = 'CbpfError';
  constructor(code: string, message: string, location: ErrorLocation = {}) {
    super(code, message, location);
  }
}
