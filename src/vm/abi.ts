import type { AddressSpace } from './memory.js';

/**
 * How an engine (interpreter or WebAssembly JIT) calls a helper, so one helper implementation serves
 * both. Arguments and the result travel through a register file in the shared linear memory: r_i is
 * the little-endian 64-bit word at `regfile + 8 * i`. Before a call the engine stores r1..r5 there;
 * the helper reads them and writes r0; after the call the engine reloads r0 (r1..r5 are clobbered, as
 * in the kernel's calling convention). No BigInt crosses the boundary.
 */

export const REGFILE_SLOTS = 11;
export const REGFILE_BYTES = REGFILE_SLOTS * 8;

/** What a helper tells the engine to do next. */
export const HelperStatus = {
  /** Continue after the call with r0 as written. */
  CONTINUE: 0,
  /** End the program now; its return value is r0 as written (uBPF's unwind, errors). */
  STOP: 1,
  /** Leave the current program and start `call.tailCallTarget` with the same r1 (bpf_tail_call). */
  TAIL_CALL: 2,
} as const;
export type HelperStatus = (typeof HelperStatus)[keyof typeof HelperStatus];

/**
 * Reused across calls of one run; helpers must not keep it. `env` carries what the runtime needs
 * (program, maps, context, CPU id ...); engines pass it through untouched.
 */
export interface HelperCall<Env = unknown> {
  readonly space: AddressSpace;
  readonly regfile: number;
  /** Index of the call instruction (for error messages). */
  insn: number;
  env: Env;
  /** Set by a helper that returns TAIL_CALL. Opaque to helpers; the runtime interprets it. */
  tailCallTarget: unknown;
  /**
   * Provided by engines that support callback helpers (bpf_loop, for_each_map_elem, timers): runs the
   * BPF function starting at instruction `target` as a nested call one frame deeper, with r1..r5 =
   * `args` (safe integers; pointers are addresses), and returns its r0 as a number (exact when it fits
   * in 53 bits; callbacks return small values). Undefined when the engine cannot.
   */
  invoke?: (target: number, args: ArrayLike<number>) => number;
}

export type Helper<Env = unknown> = (call: HelperCall<Env>) => HelperStatus | void;

/** Helpers by id (dense array: the hot path indexes it). */
export type HelperTable<Env = unknown> = ReadonlyArray<Helper<Env> | undefined>;

// Argument and result accessors. `n` is the register number (1..5 for arguments).

export function argU32(call: HelperCall, n: number): number {
  return call.space.view.getUint32(call.regfile + 8 * n, true);
}
export function argI32(call: HelperCall, n: number): number {
  return call.space.view.getInt32(call.regfile + 8 * n, true);
}
export function argHi(call: HelperCall, n: number): number {
  return call.space.view.getUint32(call.regfile + 8 * n + 4, true);
}
/** A 64-bit argument as a double: exact up to 2^53 in magnitude; negative values as signed. */
export function argNumber(call: HelperCall, n: number): number {
  const lo = call.space.view.getUint32(call.regfile + 8 * n, true);
  const hi = call.space.view.getInt32(call.regfile + 8 * n + 4, true);
  return hi * 4294967296 + lo;
}
export function argBigInt(call: HelperCall, n: number): bigint {
  return call.space.view.getBigUint64(call.regfile + 8 * n, true);
}
/** A pointer argument: its address, or -1 when the upper 32 bits are set (never a valid address). */
export function argPointer(call: HelperCall, n: number): number {
  return argHi(call, n) === 0 ? argU32(call, n) : -1;
}

export function setReturn(call: HelperCall, lo: number, hi: number): void {
  call.space.view.setUint32(call.regfile, lo >>> 0, true);
  call.space.view.setUint32(call.regfile + 4, hi >>> 0, true);
}
/** Return a (safe) integer, negative values as 64-bit two's complement (e.g. -ENOENT). */
export function setReturnNumber(call: HelperCall, value: number): void {
  const lo = value >>> 0;
  const hi = Math.floor(value / 4294967296);
  setReturn(call, lo, hi);
}
export function setReturnBigInt(call: HelperCall, value: bigint): void {
  call.space.view.setBigUint64(call.regfile, BigInt.asUintN(64, value), true);
}
