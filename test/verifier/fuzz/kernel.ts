import type { Instruction } from '../../../src/isa/instruction.js';
import { BpfMap, BpfProgram, BpfSyscallError, BpfVerifierError } from '../../../src/linux/index.js';
import { probeSyscall } from '../../../src/linux/probe.js';
import type { FuzzProgType } from './targets.js';
import { MAPS } from './targets.js';

/** The running kernel as the oracle: the same program, with the same maps by fd_array index. */

export interface KernelVerdict {
  verdict: 'accept' | 'reject';
  /** The kernel's reason (its log's last line, or the errno). */
  error?: string;
  /** The instruction the log names last before the error. */
  insn?: number;
}

const KERNEL_TYPE = {
  xdp: 'XDP', socket_filter: 'SOCKET_FILTER', sched_cls: 'SCHED_CLS', tracepoint: 'TRACEPOINT', raw_tracepoint: 'RAW_TRACEPOINT',
} as const satisfies Record<FuzzProgType, string>;

/** Why the kernel cannot be asked here, or undefined when it can. */
export function kernelUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (bpf() with CAP_BPF/CAP_SYS_ADMIN)';
  const probe = probeSyscall();
  return probe.status === 'supported' ? undefined : `bpf() unavailable: ${probe.detail ?? probe.status}`;
}

function lastInsnBefore(log: string, errorLine: string): number | undefined {
  const lines = log.split('\n');
  const end = lines.lastIndexOf(errorLine);
  for (let i = (end < 0 ? lines.length : end) - 1; i >= 0; i--) {
    const hit = /^(\d+): \(/.exec(lines[i]!);
    if (hit) return Number(hit[1]);
  }
  return undefined;
}

export class KernelOracle implements Disposable {
  private readonly maps: BpfMap[];

  constructor() {
    this.maps = MAPS.map((m) => BpfMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name }));
  }

  verify(insns: readonly Instruction[], type: FuzzProgType): KernelVerdict {
    try {
      const program = BpfProgram.load({ type: KERNEL_TYPE[type], insns, fdArray: this.maps.map((m) => m.fd), name: 'fuzz' });
      program.close();
      return { verdict: 'accept' };
    } catch (e) {
      if (e instanceof BpfVerifierError) {
        const error = e.summary || e.message;
        const insn = lastInsnBefore(e.log, e.summary);
        return { verdict: 'reject', error, ...(insn !== undefined ? { insn } : {}) };
      }
      if (e instanceof BpfSyscallError) return { verdict: 'reject', error: e.errnoName };
      throw e;
    }
  }

  [Symbol.dispose](): void {
    for (const map of this.maps) map.close();
  }
}
