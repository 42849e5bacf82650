import { HASH_INDEX, HASH_INDEX_KIND } from '../abi.js';
import { ByteWriter, ModuleBuilder, Op, ValType, VOID_BLOCK, encodeLocals } from './wasm.js';
import { Global, ImportFn, LookupFn, WINDOW_SLOT } from './layout.js';
import { callImport } from './import-table.js';

/**
 * Helpers whose whole work is arithmetic or copying over memory, answered in WebAssembly inside the
 * program's own module: bpf_csum_diff, bpf_skb_load_bytes, and map_update_elem of a key already in a
 * hash map (through the map's published index). Each is a function (r1..r5, insn) -> r0 that the
 * program calls directly, with its arguments as wasm values: no register file, no call out of the
 * module, and V8 may inline it into the caller. Packet parsers, checksum loops and counters call these
 * once per header, chunk or event, so the call sequence is most of their cost.
 *
 * Only for unchecked programs (the verifier vouched for the pointers and sizes; checked mode keeps the
 * JS helpers' region checks) and only for helpers the table holds the runtime's implementation of.
 * Anything unusual (a pointer with a high half, sizes past csum_diff's scratch limit, no packet
 * window, an insertion) goes to the JS helper through the register file, which owns the errors. The
 * runtime's implementations of these three never stop the program or tail-call, so the fallback
 * needs no unwinding.
 */

export const MAP_UPDATE_HELPER_ID = 2;
export const SKB_LOAD_BYTES_HELPER_ID = 26;
export const CSUM_DIFF_HELPER_ID = 28;
/** bpf_csum_diff's scratch buffer: from_size + to_size may not exceed it. */
const CSUM_DIFF_MAX = 512;
const EFAULT = 14;

/** The helpers a program's module answers in wasm (part of the module's cache key). */
export interface WasmHelperChoice {
  csumDiff: boolean;
  loadBytes: boolean;
  mapUpdate: boolean;
}

export const NO_WASM_HELPERS: WasmHelperChoice = { csumDiff: false, loadBytes: false, mapUpdate: false };

export const wasmHelperKey = (choice: WasmHelperChoice): string =>
  `${choice.csumDiff ? 'c' : ''}${choice.loadBytes ? 'l' : ''}${choice.mapUpdate ? 'u' : ''}`;

const EMITTERS: readonly [id: number, chosen: keyof WasmHelperChoice, emit: (e: Emitter) => void][] = [
  [CSUM_DIFF_HELPER_ID, 'csumDiff', emitCsumDiff],
  [SKB_LOAD_BYTES_HELPER_ID, 'loadBytes', emitLoadBytes],
  [MAP_UPDATE_HELPER_ID, 'mapUpdate', emitMapUpdate],
];

/**
 * Adds the chosen helpers to a program's module (`ImportFn.callHelper`, in the import table, is the
 * fallbacks'; map_update_elem calls the imported `LookupFn.find`): their function indexes by helper id.
 */
export function addWasmHelpers(m: ModuleBuilder, choice: WasmHelperChoice): Map<number, number> {
  const functions = new Map<number, number>();
  const i64 = ValType.i64;
  let type: number | undefined;
  for (const [id, chosen, emit] of EMITTERS) {
    if (!choice[chosen]) continue;
    type ??= m.type([i64, i64, i64, i64, i64, ValType.i32], [i64]);
    const fn = m.declareFunction(type);
    const e = new Emitter();
    encodeLocals(e.w, [[2, ValType.i64], [5, ValType.i32]]);
    emit(e);
    e.fallback(id);
    m.defineFunction(fn, e.w.finish());
    functions.set(id, fn);
  }
  return functions;
}

/** Emits `op` with a memory immediate (alignment 0: packet data is anywhere). */
function mem(w: ByteWriter, op: number, offset: number): void {
  w.byte(op);
  w.u32(0);
  w.u32(offset);
}

// Parameters (r1..r5, insn) and locals (i64 first, then i32).
const R1 = 0;
const R2 = 1;
const R3 = 2;
const R4 = 3;
const R5 = 4;
const INSN = 5;
const SUM = 6;
const PARTIAL_SUM = 7;
const DST = 8;
const SRC = 9;
const LEFT = 10;
const PARTIAL_AT = 11;
const PARTIAL_END = 12;

/** Emitting a helper's body: small spellings of what the helpers' code repeats. */
class Emitter {
  readonly w = new ByteWriter();
  get(local: number): void { this.w.byte2(Op.local_get, local); }
  set(local: number): void { this.w.byte2(Op.local_set, local); }
  tee(local: number): void { this.w.byte2(Op.local_tee, local); }
  op(op: number): void { this.w.byte(op); }
  i32(value: number): void { this.w.byte(Op.i32_const); this.w.s32(value); }
  i64(lo: number, hi = 0): void { this.w.byte(Op.i64_const); this.w.s64(lo, hi); }
  /** A register's low half as i32. */
  low(r: number): void { this.get(r); this.op(Op.i32_wrap_i64); }
  /** A register's low half zero-extended to i64. */
  low64(r: number): void { this.get(r); this.i64(-1, 0); this.op(Op.i64_and); }
  /** A register's high half as i32. */
  high(r: number): void { this.get(r); this.i64(32); this.op(Op.i64_shr_u); this.op(Op.i32_wrap_i64); }
  /** A load from the packet window (in the register file, kept current by the JS side). */
  window(op: number, offset: number): void { this.w.byte2(Op.global_get, Global.regfile); mem(this.w, op, WINDOW_SLOT + offset); }
  call(fn: number): void { this.w.byte(Op.call); this.w.u32(fn); }
  callImport(fn: number): void { callImport(this.w, fn); }
  /** Return r0 = what `value` pushes (an i64). */
  returnR0(value: () => void): void { value(); this.op(Op.return); }

  /** The JS helper: r1..r5 out through the register file (r0 zeroed), r0 back; ends the body. */
  fallback(id: number): void {
    const store = (offset: number, value: () => void): void => {
      this.w.byte2(Op.global_get, Global.regfile); value(); mem(this.w, Op.i64_store, offset);
    };
    store(0, () => this.i64(0));
    for (let r = 1; r <= 5; r++) store(8 * r, () => this.get(R1 + r - 1));
    this.i32(id); this.get(INSN); this.callImport(ImportFn.callHelper); this.op(Op.drop);
    this.w.byte2(Op.global_get, Global.regfile); mem(this.w, Op.i64_load, 0);
    this.op(Op.end);
  }
}

/**
 * csum_diff(r1 = from, r2 = from_size, r3 = to, r4 = to_size, r5 = seed), unless a pointer has a high
 * half or the sizes exceed the scratch buffer: fold16(fold32(fold32(seed + partial(to)) +
 * ~fold32(partial(from)))), as the JS helper.
 */
function emitCsumDiff(e: Emitter): void {
  e.get(R1); e.get(R3); e.op(Op.i64_or); e.i64(32); e.op(Op.i64_shr_u); e.op(Op.i64_eqz);
  e.low64(R2); e.low64(R4); e.op(Op.i64_add);
  e.i64(CSUM_DIFF_MAX); e.op(Op.i64_le_u); e.op(Op.i32_and);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.low64(R5);
  emitPartial(e, R3, R4);
  e.op(Op.i64_add); emitFold32(e);
  // ~fold32(partial(from)): 0xffffffff for an empty `from`, as csum_diff(NULL, 0, to, ...) has.
  e.low(R2); e.op(Op.i32_eqz);
  e.w.byte2(Op.if, ValType.i64);
  e.i64(-1);
  e.op(Op.else);
  emitPartial(e, R1, R2);
  emitFold32(e); e.i64(-1); e.op(Op.i64_xor);
  e.op(Op.end);
  e.op(Op.i64_add); emitFold32(e); e.set(SUM);
  for (let k = 0; k < 2; k++) {
    e.get(SUM); e.i64(16); e.op(Op.i64_shr_u);
    e.get(SUM); e.i64(0xffff); e.op(Op.i64_and);
    e.op(Op.i64_add); e.set(SUM);
  }
  e.returnR0(() => { e.get(SUM); e.i64(0xffff); e.op(Op.i64_and); });
  e.op(Op.end);
}

/**
 * At a csum_diff call site: csum_diff(from, 0, to, 4, seed), the one-word form checksum loops and
 * header rewrites call, as straight-line code in the caller (no call: the constant sizes fold away in
 * TurboFan, the helper's loops and branches with them; checksum of 1500 bytes, 55 of its 60 calls in
 * this form: 410 ns per run with the call, 310 inline).
 * Pushes the i32 1 when the call has that form (sizes' low halves 0 and 4, pointers without high
 * halves, as emitCsumDiff requires); csumDiffWord then pushes r0, what emitCsumDiff computes for it:
 * A = low32(seed) + u32 at `to` (< 2^33), B = A folded to 32 bits (two end-around carries suffice),
 * plus ~fold32 of the empty `from` (0xffffffff: B unchanged, but 0 becomes 0xffffffff), folded to 16.
 */
export function csumDiffWordForm(w: ByteWriter, reg: (r: number) => void): void {
  const i64c = (value: number): void => { w.byte(Op.i64_const); w.s64(value, 0); };
  reg(2); w.byte(Op.i32_wrap_i64); w.byte(Op.i32_eqz);
  reg(4); w.byte(Op.i32_wrap_i64); w.byte(Op.i32_const); w.s32(4); w.byte(Op.i32_eq); w.byte(Op.i32_and);
  reg(1); reg(3); w.byte(Op.i64_or); i64c(32); w.byte(Op.i64_shr_u); w.byte(Op.i64_eqz); w.byte(Op.i32_and);
}

/** The r0 of csumDiffWordForm's calls; `scratch` is an i64 local. */
export function csumDiffWord(w: ByteWriter, reg: (r: number) => void, scratch: number): void {
  const i64c = (lo: number, hi = 0): void => { w.byte(Op.i64_const); w.s64(lo, hi); };
  const get = (): void => { w.byte(Op.local_get); w.u32(scratch); };
  const set = (): void => { w.byte(Op.local_set); w.u32(scratch); };
  const foldAt = (bits: number, mask: () => void): void => {
    set(); get(); mask(); w.byte(Op.i64_and); get(); i64c(bits); w.byte(Op.i64_shr_u); w.byte(Op.i64_add);
  };
  reg(5); i64c(-1); w.byte(Op.i64_and);
  reg(3); w.byte(Op.i32_wrap_i64); mem(w, Op.i64_load32_u, 0); w.byte(Op.i64_add);
  for (let k = 0; k < 2; k++) foldAt(32, () => i64c(-1));
  // + 0xffffffff with an end-around carry: B when B > 0, 0xffffffff for 0.
  set(); i64c(-1); get(); get(); w.byte(Op.i64_eqz); w.byte(Op.select);
  for (let k = 0; k < 2; k++) foldAt(16, () => i64c(0xffff));
  i64c(0xffff); w.byte(Op.i64_and);
}

/**
 * Pushes csum_partial of (register `pointer`, register `length`) before its folding: the little-endian
 * u32 words summed in 64 bits (16 bytes per turn, then 4), then a u16 and a byte for the tail; lengths
 * up to 512 cannot overflow. Inline: a call per chunk cost a tenth of a small csum_diff.
 */
function emitPartial(e: Emitter, pointer: number, length: number): void {
  e.low(pointer); e.set(PARTIAL_AT);
  e.get(PARTIAL_AT); e.low(length); e.op(Op.i32_add); e.set(PARTIAL_END);
  e.i64(0); e.set(PARTIAL_SUM);
  const room = (bytes: number): void => { e.get(PARTIAL_AT); e.i32(bytes); e.op(Op.i32_add); e.get(PARTIAL_END); e.op(Op.i32_le_u); };
  const advance = (bytes: number): void => { e.get(PARTIAL_AT); e.i32(bytes); e.op(Op.i32_add); e.set(PARTIAL_AT); };
  const addWords = (count: number): void => {
    e.get(PARTIAL_SUM);
    for (let k = 0; k < count; k++) {
      e.get(PARTIAL_AT); mem(e.w, Op.i64_load32_u, 4 * k); e.op(Op.i64_add);
    }
    e.set(PARTIAL_SUM);
  };
  for (const words of [4, 1]) {
    e.w.byte2(Op.block, VOID_BLOCK);
    e.w.byte2(Op.loop, VOID_BLOCK);
    room(4 * words); e.op(Op.i32_eqz); e.w.byte2(Op.br_if, 1);
    addWords(words);
    advance(4 * words);
    e.w.byte2(Op.br, 0);
    e.op(Op.end);
    e.op(Op.end);
  }
  for (const [bytes, load] of [[2, Op.i64_load16_u], [1, Op.i64_load8_u]] as const) {
    room(bytes);
    e.w.byte2(Op.if, VOID_BLOCK);
    e.get(PARTIAL_SUM); e.get(PARTIAL_AT); mem(e.w, load, 0); e.op(Op.i64_add); e.set(PARTIAL_SUM);
    advance(bytes);
    e.op(Op.end);
  }
  e.get(PARTIAL_SUM);
}

/**
 * The i64 on the stack folded to 32 bits with end-around carries (csum_add's ones'-complement
 * arithmetic): three steps reach 32 bits from anything below 2^63.
 */
function emitFold32(e: Emitter): void {
  for (let k = 0; k < 3; k++) {
    e.set(PARTIAL_SUM);
    e.get(PARTIAL_SUM); e.i64(-1); e.op(Op.i64_and);
    e.get(PARTIAL_SUM); e.i64(32); e.op(Op.i64_shr_u);
    e.op(Op.i64_add);
  }
}

/**
 * skb_load_bytes(r1 = skb, r2 = offset, r3 = to, r4 = len) over the window, unless `to` has a high half
 * or there is no window: out of the packet (or len 0) zeroes `to` and returns -EFAULT.
 */
function emitLoadBytes(e: Emitter): void {
  e.window(Op.i32_load, 8);
  e.high(R3); e.op(Op.i32_eqz); e.op(Op.i32_and);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.low64(R2); e.low64(R4); e.op(Op.i64_add);
  e.window(Op.i64_load32_u, 4); e.op(Op.i64_gt_u);
  e.low(R4); e.op(Op.i32_eqz); e.op(Op.i32_or);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.low(R3); e.i32(0); e.low(R4); memoryFill(e.w);
  e.returnR0(() => e.i64(-EFAULT, -1));
  e.op(Op.end);
  e.low(R3); e.set(DST);
  e.window(Op.i32_load, 0); e.low(R2); e.op(Op.i32_add); e.set(SRC);
  e.low(R4); e.set(LEFT);
  // Headers are a few words: a loop beats memory.copy's call out of the module.
  copyLoop(e.w, DST, SRC, LEFT, 8, Op.i64_load, Op.i64_store);
  copyLoop(e.w, DST, SRC, LEFT, 1, Op.i64_load8_u, Op.i64_store8);
  e.returnR0(() => e.i64(0));
  e.op(Op.end);
}

/**
 * map_update_elem(r1 = map, r2 = key, r3 = value, r4 = flags) of a key already in a hash map that
 * publishes its index, with flags BPF_ANY or BPF_EXIST: the value copied over the element's, r0 = 0.
 * Anything else (an insertion, other flags, other maps) is the JS helper's.
 */
function emitMapUpdate(e: Emitter): void {
  e.w.byte2(Op.block, VOID_BLOCK);
  // No high halves, and flags 0 or 2.
  for (const r of [R1, R2, R3]) { e.get(r); if (r !== R1) e.op(Op.i64_or); }
  e.i64(32); e.op(Op.i64_shr_u);
  e.get(R4); e.i64(~2, -1); e.op(Op.i64_and); e.op(Op.i64_or);
  e.op(Op.i64_eqz); e.op(Op.i32_eqz);
  e.w.byte2(Op.br_if, 0);
  // The map's published hash index, and the key's value in it.
  e.low(R1); mem(e.w, Op.i32_load, 0); e.tee(DST); e.op(Op.i32_eqz); e.w.byte2(Op.br_if, 0);
  e.get(DST); mem(e.w, Op.i32_load, HASH_INDEX.kind); e.i32(HASH_INDEX_KIND.hash); e.op(Op.i32_ne); e.w.byte2(Op.br_if, 0);
  e.get(DST); mem(e.w, Op.i32_load, HASH_INDEX.valueSize); e.set(LEFT);
  e.get(DST); e.low(R2); e.call(LookupFn.find); e.tee(DST); e.op(Op.i32_eqz); e.w.byte2(Op.br_if, 0);
  e.low(R3); e.set(SRC);
  copyLoop(e.w, DST, SRC, LEFT, 8, Op.i64_load, Op.i64_store);
  copyLoop(e.w, DST, SRC, LEFT, 1, Op.i64_load8_u, Op.i64_store8);
  e.returnR0(() => e.i64(0));
  e.op(Op.end);
}

/** memory.fill (bulk memory): (dest, byte, length). */
function memoryFill(w: ByteWriter): void {
  w.byte2(0xfc, 0x0b);
  w.byte(0);
}

/** While `left` >= `step`: copy `step` bytes from `src` to `dst` with the load/store given, advancing. */
function copyLoop(w: ByteWriter, dst: number, src: number, left: number, step: number, load: number, store: number): void {
  const get = (n: number): void => w.byte2(Op.local_get, n);
  const bump = (n: number, by: number): void => { get(n); w.byte(Op.i32_const); w.s32(by); w.byte(Op.i32_add); w.byte2(Op.local_set, n); };
  w.byte2(Op.block, VOID_BLOCK);
  w.byte2(Op.loop, VOID_BLOCK);
  get(left); w.byte(Op.i32_const); w.s32(step); w.byte(Op.i32_lt_u); w.byte2(Op.br_if, 1);
  get(dst); get(src); mem(w, load, 0); mem(w, store, 0);
  bump(dst, step);
  bump(src, step);
  bump(left, -step);
  w.byte2(Op.br, 0);
  w.byte(Op.end);
  w.byte(Op.end);
}
