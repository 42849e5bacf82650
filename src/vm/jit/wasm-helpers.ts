import { HASH_INDEX, HASH_INDEX_KIND } from '../abi.js';
import { ByteWriter, ModuleBuilder, Op, ValType, VOID_BLOCK, encodeLocals } from './wasm.js';
import { IMPORT_MODULE } from './layout.js';
import type { FindInIndex } from './wasm-lookup.js';

/**
 * Helpers whose whole work is arithmetic or copying over memory, answered in WebAssembly: a small
 * module that sits between a program's module and the JS helpers (it is the program's `call_helper`
 * import), computes bpf_csum_diff and bpf_skb_load_bytes itself, updates the value of a key already
 * in a hash map (map_update_elem, through the map's published index), and passes every other call on.
 * A call into JS costs more than summing or copying a few words, and packet parsers, checksum loops
 * and counters call these once per header, chunk or event.
 *
 * Only for unchecked programs (the verifier vouched for the pointers and sizes; checked mode keeps the
 * JS helpers' region checks) and only for helpers the table holds the runtime's implementation of.
 * Anything unusual (a pointer with a high half, sizes past csum_diff's scratch limit, no packet
 * window) goes to the JS helper, which owns the errors.
 */

export const MAP_UPDATE_HELPER_ID = 2;
export const SKB_LOAD_BYTES_HELPER_ID = 26;
export const CSUM_DIFF_HELPER_ID = 28;
/** bpf_csum_diff's scratch buffer: from_size + to_size may not exceed it. */
const CSUM_DIFF_MAX = 512;
const EFAULT = 14;

/**
 * The packet skb_load_bytes reads, kept current by the JS side (at the start of a run and after every
 * JS helper, which may move it): u32 data address, u32 length, u32 1 when there is one.
 */
export const WINDOW_BYTES = 12;

/** The call_helper the module exports: (helper id, insn) -> the JS call_helper's result. */
export type CallHelper = (id: number, insn: number) => number;

export interface WasmHelperOptions {
  csumDiff: boolean;
  loadBytes: boolean;
  mapUpdate: boolean;
  /** Address of the packet window (WINDOW_BYTES), when `loadBytes`. */
  window: number;
}

/**
 * One module per choice of helpers: V8 optimises a wasm function with what ran in it so far, so a
 * module shared by programs using different helpers ran the later ones through code tuned for others.
 */
const compiled = new Map<string, WebAssembly.Module>();

/**
 * A call_helper answering the chosen helpers in wasm and forwarding the rest to `jsHelper`; `find`
 * searches a hash index (wasm-lookup.ts), for map_update_elem.
 */
export function wasmHelpers(
  memory: WebAssembly.Memory, regfile: number, options: WasmHelperOptions, jsHelper: CallHelper, find: FindInIndex,
): CallHelper {
  const key = `${options.csumDiff ? 'c' : ''}${options.loadBytes ? 'l' : ''}${options.mapUpdate ? 'u' : ''}`;
  let module = compiled.get(key);
  if (module === undefined) compiled.set(key, (module = new WebAssembly.Module(encodeModule(options))));
  const instance = new WebAssembly.Instance(module, { [IMPORT_MODULE]: { memory, regfile, js_helper: jsHelper, find, window: options.window } });
  return instance.exports.call_helper as CallHelper;
}

// Function indexes: the imports, then the module's own.
const JS_HELPER = 0;
const FIND = 1;
const CALL_HELPER = 2;
// Imported globals.
const REGFILE = 0;
const WINDOW = 1;

function encodeModule(options: WasmHelperOptions): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  const helperType = m.type([ValType.i32, ValType.i32], [ValType.i32]);
  m.importMemory(IMPORT_MODULE, 'memory');
  m.importFunction(IMPORT_MODULE, 'js_helper', helperType);
  m.importFunction(IMPORT_MODULE, 'find', helperType);
  for (const name of ['regfile', 'window']) m.importGlobal(IMPORT_MODULE, name, ValType.i32);
  m.defineFunction(m.declareFunction(helperType), callHelperBody(options));
  m.exportFunction('call_helper', CALL_HELPER);
  return m.encode();
}

/** Emits `op` with a memory immediate (alignment 0: packet data is anywhere). */
function mem(w: ByteWriter, op: number, offset: number): void {
  w.byte(op);
  w.u32(0);
  w.u32(offset);
}

// call_helper's parameters and locals (i64 first, then i32).
const ID = 0;
const INSN = 1;
const SUM = 2;
const PARTIAL_SUM = 3;
const DST = 4;
const SRC = 5;
const LEFT = 6;
const PARTIAL_AT = 7;
const PARTIAL_END = 8;

/** Emitting call_helper's body: small spellings of what the helpers' code repeats. */
class Emitter {
  readonly w = new ByteWriter();
  get(local: number): void { this.w.byte2(Op.local_get, local); }
  set(local: number): void { this.w.byte2(Op.local_set, local); }
  tee(local: number): void { this.w.byte2(Op.local_tee, local); }
  op(op: number): void { this.w.byte(op); }
  i32(value: number): void { this.w.byte(Op.i32_const); this.w.s32(value); }
  i64(lo: number, hi = 0): void { this.w.byte(Op.i64_const); this.w.s64(lo, hi); }
  /** A load (or store) at regfile + offset, i.e. a register's half or whole. */
  reg(op: number, offset: number): void { this.w.byte2(Op.global_get, REGFILE); mem(this.w, op, offset); }
  window(op: number, offset: number): void { this.w.byte2(Op.global_get, WINDOW); mem(this.w, op, offset); }
  call(fn: number): void { this.w.byte2(Op.call, fn); }
  /** r0 = what `value` pushes (an i64). */
  setR0(value: () => void): void { this.w.byte2(Op.global_get, REGFILE); value(); mem(this.w, Op.i64_store, 0); }
  /** Return 0: the program goes on with r0 as written. */
  continueProgram(): void { this.i32(0); this.op(Op.return); }
}

/** (id, insn): the chosen helpers when they can be answered here, else the JS helper. */
function callHelperBody(options: WasmHelperOptions): Uint8Array {
  const e = new Emitter();
  encodeLocals(e.w, [[2, ValType.i64], [5, ValType.i32]]);
  if (options.csumDiff) emitCsumDiff(e);
  if (options.loadBytes) emitLoadBytes(e);
  if (options.mapUpdate) emitMapUpdate(e);
  e.get(ID); e.get(INSN); e.call(JS_HELPER);
  e.op(Op.end);
  return e.w.finish();
}

/**
 * csum_diff(r1 = from, r2 = from_size, r3 = to, r4 = to_size, r5 = seed), unless a pointer has a high
 * half or the sizes exceed the scratch buffer: fold16(fold32(fold32(seed + partial(to)) +
 * ~fold32(partial(from)))), as the JS helper.
 */
function emitCsumDiff(e: Emitter): void {
  e.get(ID); e.i32(CSUM_DIFF_HELPER_ID); e.op(Op.i32_eq);
  e.reg(Op.i32_load, 12); e.reg(Op.i32_load, 28); e.op(Op.i32_or); e.op(Op.i32_eqz); e.op(Op.i32_and);
  e.reg(Op.i64_load32_u, 16); e.reg(Op.i64_load32_u, 32); e.op(Op.i64_add);
  e.i64(CSUM_DIFF_MAX); e.op(Op.i64_le_u); e.op(Op.i32_and);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.reg(Op.i64_load32_u, 40);
  emitPartial(e, 24, 32);
  e.op(Op.i64_add); emitFold32(e);
  // ~fold32(partial(from)): 0xffffffff for an empty `from`, as csum_diff(NULL, 0, to, ...) has.
  e.reg(Op.i32_load, 16); e.op(Op.i32_eqz);
  e.w.byte2(Op.if, ValType.i64);
  e.i64(-1);
  e.op(Op.else);
  emitPartial(e, 8, 16);
  emitFold32(e); e.i64(-1); e.op(Op.i64_xor);
  e.op(Op.end);
  e.op(Op.i64_add); emitFold32(e); e.set(SUM);
  for (let k = 0; k < 2; k++) {
    e.get(SUM); e.i64(16); e.op(Op.i64_shr_u);
    e.get(SUM); e.i64(0xffff); e.op(Op.i64_and);
    e.op(Op.i64_add); e.set(SUM);
  }
  e.setR0(() => { e.get(SUM); e.i64(0xffff); e.op(Op.i64_and); });
  e.continueProgram();
  e.op(Op.end);
}

/**
 * Pushes csum_partial of (the pointer at regfile + `pointer`, the length at regfile + `length`) before
 * its folding: the little-endian u32 words summed in 64 bits (16 bytes per turn, then 4), then a u16
 * and a byte for the tail; lengths up to 512 cannot overflow. Inline: a call per chunk cost a tenth
 * of a small csum_diff.
 */
function emitPartial(e: Emitter, pointer: number, length: number): void {
  e.reg(Op.i32_load, pointer); e.set(PARTIAL_AT);
  e.get(PARTIAL_AT); e.reg(Op.i32_load, length); e.op(Op.i32_add); e.set(PARTIAL_END);
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
  e.get(ID); e.i32(SKB_LOAD_BYTES_HELPER_ID); e.op(Op.i32_eq);
  e.window(Op.i32_load, 8); e.op(Op.i32_and);
  e.reg(Op.i32_load, 28); e.op(Op.i32_eqz); e.op(Op.i32_and);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.reg(Op.i64_load32_u, 16); e.reg(Op.i64_load32_u, 32); e.op(Op.i64_add);
  e.window(Op.i64_load32_u, 4); e.op(Op.i64_gt_u);
  e.reg(Op.i32_load, 32); e.op(Op.i32_eqz); e.op(Op.i32_or);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.reg(Op.i32_load, 24); e.i32(0); e.reg(Op.i32_load, 32); memoryFill(e.w);
  e.setR0(() => e.i64(-EFAULT, -1));
  e.op(Op.else);
  e.reg(Op.i32_load, 24); e.set(DST);
  e.window(Op.i32_load, 0); e.reg(Op.i32_load, 16); e.op(Op.i32_add); e.set(SRC);
  e.reg(Op.i32_load, 32); e.set(LEFT);
  // Headers are a few words: a loop beats memory.copy's call out of the module.
  copyLoop(e.w, DST, SRC, LEFT, 8, Op.i64_load, Op.i64_store);
  copyLoop(e.w, DST, SRC, LEFT, 1, Op.i64_load8_u, Op.i64_store8);
  e.setR0(() => e.i64(0));
  e.op(Op.end);
  e.continueProgram();
  e.op(Op.end);
}

/**
 * map_update_elem(r1 = map, r2 = key, r3 = value, r4 = flags) of a key already in a hash map that
 * publishes its index, with flags BPF_ANY or BPF_EXIST: the value copied over the element's, r0 = 0.
 * Anything else (an insertion, other flags, other maps) is the JS helper's.
 */
function emitMapUpdate(e: Emitter): void {
  e.get(ID); e.i32(MAP_UPDATE_HELPER_ID); e.op(Op.i32_eq);
  e.w.byte2(Op.if, VOID_BLOCK);
  e.w.byte2(Op.block, VOID_BLOCK);
  // No high halves, and flags 0 or 2.
  for (const high of [12, 20, 28, 36]) e.reg(Op.i32_load, high);
  e.op(Op.i32_or); e.op(Op.i32_or); e.op(Op.i32_or);
  e.reg(Op.i32_load, 32); e.i32(~2); e.op(Op.i32_and); e.op(Op.i32_or);
  e.w.byte2(Op.br_if, 0);
  // The map's published hash index, and the key's value in it.
  e.reg(Op.i32_load, 8); mem(e.w, Op.i32_load, 0); e.tee(DST); e.op(Op.i32_eqz); e.w.byte2(Op.br_if, 0);
  e.get(DST); mem(e.w, Op.i32_load, HASH_INDEX.kind); e.i32(HASH_INDEX_KIND.hash); e.op(Op.i32_ne); e.w.byte2(Op.br_if, 0);
  e.get(DST); mem(e.w, Op.i32_load, HASH_INDEX.valueSize); e.set(LEFT);
  e.get(DST); e.reg(Op.i32_load, 16); e.call(FIND); e.tee(DST); e.op(Op.i32_eqz); e.w.byte2(Op.br_if, 0);
  e.reg(Op.i32_load, 24); e.set(SRC);
  copyLoop(e.w, DST, SRC, LEFT, 8, Op.i64_load, Op.i64_store);
  copyLoop(e.w, DST, SRC, LEFT, 1, Op.i64_load8_u, Op.i64_store8);
  e.setR0(() => e.i64(0));
  e.continueProgram();
  e.op(Op.end);
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
