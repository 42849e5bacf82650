import { CbpfError } from './cbpf-error.js';
import { checkClassic } from './check.js';
import { prepareCbpf, type CbpfRunner } from './interpret.js';
import type { CbpfInstruction } from './opcodes.js';

/**
 * seccomp filters: classic programs over `struct seccomp_data` (64 bytes, native byte order):
 * `nr` s32 at 0, `arch` u32 at 4, `instruction_pointer` u64 at 8, `args[6]` u64 from 16.
 */
export const SECCOMP_DATA_SIZE = 64;

export const SeccompRet = {
  KILL_PROCESS: 0x80000000, KILL_THREAD: 0x00000000, TRAP: 0x00030000, ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000, TRACE: 0x7ff00000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000,
} as const;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

export type SeccompActionName = 'kill_process' | 'kill_thread' | 'trap' | 'errno' | 'user_notif' | 'trace' | 'log' | 'allow';

/** Return actions by value; the kernel treats any other action as KILL_PROCESS. */
export const SECCOMP_ACTIONS: ReadonlyArray<{ name: SeccompActionName; value: number }> = [
  { name: 'kill_process', value: SeccompRet.KILL_PROCESS }, { name: 'kill_thread', value: SeccompRet.KILL_THREAD },
  { name: 'trap', value: SeccompRet.TRAP }, { name: 'errno', value: SeccompRet.ERRNO },
  { name: 'user_notif', value: SeccompRet.USER_NOTIF }, { name: 'trace', value: SeccompRet.TRACE },
  { name: 'log', value: SeccompRet.LOG }, { name: 'allow', value: SeccompRet.ALLOW },
];

/** AUDIT_ARCH_ values for `seccomp_data.arch`. */
export const AuditArch = {
  X86_64: 0xc000003e, I386: 0x40000003, AARCH64: 0xc00000b7, ARM: 0x40000028, RISCV64: 0xc00000f3,
  PPC64LE: 0xc0000015, S390X: 0x80000016,
} as const;

export interface SeccompData {
  nr: number;
  arch?: number;
  /** Up to 2^64-1: bigint, or a number below 2^53. */
  instructionPointer?: bigint | number;
  args?: ReadonlyArray<bigint | number>;
}

/** The 64-byte `struct seccomp_data` in little-endian (x86-64, arm64) order. */
export function buildSeccompData(data: SeccompData): Uint8Array {
  const bytes = new Uint8Array(SECCOMP_DATA_SIZE);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, data.nr | 0, true);
  view.setUint32(4, (data.arch ?? AuditArch.X86_64) >>> 0, true);
  view.setBigUint64(8, BigInt.asUintN(64, BigInt(data.instructionPointer ?? 0)), true);
  const args = data.args ?? [];
  if (args.length > 6) throw new CbpfError('cbpf/seccomp-args', `seccomp_data has 6 arguments, got ${args.length}`);
  args.forEach((arg, i) => view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, BigInt(arg)), true));
  return bytes;
}

/**
 * The kernel's `seccomp_check_filter`, after `checkClassic`: only aligned 32-bit absolute loads
 * inside seccomp_data, LEN loads (which become the constant 64), and a whitelist without
 * indirect/byte/half loads, MOD or XOR.
 */
const SECCOMP_ALLOWED_OPCODES: ReadonlySet<number> = new Set([
  0x06, 0x16, // RET K, RET A
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x54, 0x5c, 0x44, 0x4c, 0x64, 0x6c, 0x74, 0x7c, 0x84, // ALU without MOD/XOR
  0x00, 0x01, 0x07, 0x87, 0x60, 0x61, 0x02, 0x03, // IMM, TAX/TXA, MEM, ST/STX
  0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, // jumps
  0x20, 0x80, 0x81, // LD W ABS, LD/LDX LEN
]);

export function checkSeccomp(prog: readonly CbpfInstruction[]): void {
  checkClassic(prog);
  prog.forEach((insn, pc) => {
    if (!SECCOMP_ALLOWED_OPCODES.has(insn.code)) {
      throw new CbpfError('cbpf/seccomp-opcode', `opcode 0x${insn.code.toString(16).padStart(2, '0')} is not allowed in seccomp filters`, { insn: pc });
    }
    const k = insn.k >>> 0;
    if (insn.code === 0x20 && (k >= SECCOMP_DATA_SIZE || k & 3)) {
      throw new CbpfError('cbpf/seccomp-bad-load', `load at offset ${k} is not an aligned 32-bit word of seccomp_data`, { insn: pc });
    }
  });
}

export interface SeccompFilter {
  /** Instructions, for the kernel's limit on a stack of filters. */
  length: number;
  /** The filter's return value. */
  run(data: Uint8Array): number;
}

/** The kernel's cap on instructions along a stack of filters (each costs 4 more). */
export const MAX_INSNS_PER_PATH = 32768;

/** Adds a filter on top of a stack as seccomp(SECCOMP_SET_MODE_FILTER) does, refusing an oversized stack. */
export function stackSeccomp(stack: readonly SeccompFilter[], filter: SeccompFilter): SeccompFilter[] {
  const total = stack.reduce((n, f) => n + f.length + 4, filter.length);
  if (total > MAX_INSNS_PER_PATH) {
    throw new CbpfError('cbpf/seccomp-too-many', `a stack of ${stack.length + 1} filters has ${total} instructions counting the kernel's penalty, more than ${MAX_INSNS_PER_PATH}`);
  }
  return [...stack, filter];
}

/**
 * Checks a seccomp program and prepares it to run. seccomp_data is in native (little-endian) order
 * while classic loads are big-endian; every allowed load is an aligned word, so swapping each word
 * of the data once gives the classic interpreter exactly the kernel's view.
 */
export function prepareSeccomp(prog: readonly CbpfInstruction[]): SeccompFilter {
  checkSeccomp(prog);
  const runner: CbpfRunner = prepareCbpf(prog);
  const swapped = new Uint8Array(SECCOMP_DATA_SIZE);
  return {
    length: prog.length,
    run(data: Uint8Array): number {
      if (data.length !== SECCOMP_DATA_SIZE) throw new CbpfError('cbpf/seccomp-data', `seccomp_data is ${SECCOMP_DATA_SIZE} bytes, got ${data.length}`);
      for (let i = 0; i < SECCOMP_DATA_SIZE; i += 4) {
        swapped[i] = data[i + 3]!; swapped[i + 1] = data[i + 2]!; swapped[i + 2] = data[i + 1]!; swapped[i + 3] = data[i]!;
      }
      return runner.run(swapped, SECCOMP_DATA_SIZE);
    },
  };
}

export function runSeccomp(prog: readonly CbpfInstruction[], data: Uint8Array | SeccompData): number {
  return prepareSeccomp(prog).run(data instanceof Uint8Array ? data : buildSeccompData(data));
}

export interface SeccompDecision {
  action: SeccompActionName;
  /** The full return value of the deciding filter. */
  value: number;
  /** SECCOMP_RET_DATA: the errno for ERRNO, the message for TRAP/TRACE/USER_NOTIF. */
  data: number;
}

/** Names a return value; unknown actions count as kill_process, as in the kernel. */
export function seccompAction(value: number): SeccompDecision {
  const action = (value & SECCOMP_RET_ACTION_FULL) >>> 0;
  const known = SECCOMP_ACTIONS.find((a) => a.value === action);
  return { action: known?.name ?? 'kill_process', value: value >>> 0, data: value & SECCOMP_RET_DATA };
}

/**
 * Runs stacked filters (all of them, as the kernel does) and returns the decision: the action
 * with the lowest signed value wins (KILL_PROCESS < KILL_THREAD < TRAP < ERRNO < ... < ALLOW);
 * among equal actions the most recently installed filter (last in `filters`) decides.
 */
export function evaluateSeccomp(filters: readonly SeccompFilter[], data: Uint8Array | SeccompData): SeccompDecision {
  const bytes = data instanceof Uint8Array ? data : buildSeccompData(data);
  // Like the kernel: start from ALLOW, keep a value only when its action is strictly lower.
  let best: number = SeccompRet.ALLOW;
  for (let i = filters.length - 1; i >= 0; i--) {
    const value = filters[i]!.run(bytes) >>> 0;
    if (((value & SECCOMP_RET_ACTION_FULL) | 0) < ((best & SECCOMP_RET_ACTION_FULL) | 0)) best = value;
  }
  return seccompAction(best);
}
