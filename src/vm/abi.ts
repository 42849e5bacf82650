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

// The index of a hash map or LPM trie, as engines may search it in place (src/maps/key-table.ts keeps
// it). A map whose lookups change nothing (plain BPF_MAP_TYPE_HASH, LPM_TRIE) writes its descriptor's
// address as the u32 at its handle; any other map leaves 0 there.

/** The descriptor: byte offsets of its u32 fields. */
export const HASH_INDEX = {
  /** HASH_INDEX_KIND. */
  kind: 0,
  keySize: 4,
  /** Slots - 1 (a power of two minus one). */
  mask: 8,
  /** i32 per slot: an entry number, HASH_INDEX_EMPTY or HASH_INDEX_DELETED; probing is linear from hash & mask. */
  slots: 12,
  /** HASH_INDEX_ENTRY_BYTES per entry: the key's hash (i32), the value's address (u32). */
  entries: 16,
  /** keySize bytes per entry. */
  keys: 20,
  /**
   * LPM tries: the prefix lengths present, longest first (a u32 count, then the u32 lengths). Their
   * keys are {u32 prefixlen, data masked to prefixlen, zeros}: a lookup probes each length at most
   * the key's prefixlen (and the data's bits) with the key masked to it, and takes the first hit.
   */
  lengths: 24,
  /** LPM tries: keySize bytes where a lookup builds the masked keys it probes. */
  scratch: 28,
  /** Hash maps: the value size (what an update of a present key copies into its value). */
  valueSize: 32,
  bytes: 36,
} as const;
export const HASH_INDEX_KIND = { hash: 1, lpm: 2 } as const;
export const HASH_INDEX_EMPTY = -1;
export const HASH_INDEX_DELETED = -2;
export const HASH_INDEX_ENTRY_BYTES = 8;

/**
 * The index's hash of `size` key bytes at `at`: murmur3-style, 32 bits at a time (a tail of 1..3 bytes
 * is one little-endian word), from h = size, finalised with fmix32 and masked to 31 bits.
 */
export function hashKey(view: DataView, at: number, size: number): number {
  let h = size;
  for (let i = 0; i < size; i += 4) {
    let word: number;
    if (i + 4 <= size) word = view.getUint32(at + i, true);
    else {
      word = 0;
      for (let j = i, shift = 0; j < size; j++, shift += 8) word |= view.getUint8(at + j) << shift;
    }
    // Spelled out (not a function): this is every lookup's inner loop.
    word = Math.imul(word, 0xcc9e2d51);
    word = (word << 15) | (word >>> 17);
    h ^= Math.imul(word, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x7fffffff;
}
