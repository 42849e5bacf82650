/**
 * A minimal WebAssembly binary encoder: just what the eBPF compiler emits (one memory import, a few
 * function, global and table imports, a table of the module's functions, functions with i64/i32/f64
 * locals, structured control flow, integer arithmetic, loads and stores). Everything is written into growable byte buffers; no text format.
 */

export const ValType = { i32: 0x7f, i64: 0x7e, f64: 0x7c } as const;
export type ValType = (typeof ValType)[keyof typeof ValType];

/** Block type "no result". */
export const VOID_BLOCK = 0x40;

/** The opcodes the compiler uses, by their names in the text format. */
export const Op = {
  unreachable: 0x00, nop: 0x01, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b,
  br: 0x0c, br_if: 0x0d, br_table: 0x0e, return: 0x0f, call: 0x10, call_indirect: 0x11, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22, global_get: 0x23, global_set: 0x24,
  i32_load: 0x28, i64_load: 0x29,
  i64_load8_s: 0x30, i64_load8_u: 0x31, i64_load16_s: 0x32, i64_load16_u: 0x33,
  i64_load32_s: 0x34, i64_load32_u: 0x35,
  i32_store: 0x36, i64_store: 0x37, i64_store8: 0x3c, i64_store16: 0x3d, i64_store32: 0x3e,
  i32_const: 0x41, i64_const: 0x42, f64_const: 0x44,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a,
  i32_gt_u: 0x4b, i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  i64_eqz: 0x50, i64_eq: 0x51, i64_ne: 0x52, i64_lt_s: 0x53, i64_lt_u: 0x54, i64_gt_s: 0x55,
  i64_gt_u: 0x56, i64_le_s: 0x57, i64_le_u: 0x58, i64_ge_s: 0x59, i64_ge_u: 0x5a,
  f64_lt: 0x63,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_div_s: 0x6d, i32_div_u: 0x6e, i32_rem_s: 0x6f,
  i32_rem_u: 0x70, i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shl: 0x74, i32_shr_s: 0x75,
  i32_shr_u: 0x76, i32_rotl: 0x77, i32_rotr: 0x78,
  i64_add: 0x7c, i64_sub: 0x7d, i64_mul: 0x7e, i64_div_s: 0x7f, i64_div_u: 0x80, i64_rem_s: 0x81,
  i64_rem_u: 0x82, i64_and: 0x83, i64_or: 0x84, i64_xor: 0x85, i64_shl: 0x86, i64_shr_s: 0x87,
  i64_shr_u: 0x88, i64_rotl: 0x89, i64_rotr: 0x8a,
  f64_sub: 0xa1,
  i32_wrap_i64: 0xa7, i64_trunc_f64_s: 0xb0, f64_convert_i64_s: 0xb9, i64_extend_i32_s: 0xac, i64_extend_i32_u: 0xad, f64_convert_i32_u: 0xb8,
  i32_extend8_s: 0xc0, i32_extend16_s: 0xc1, i64_extend8_s: 0xc2, i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;

const UTF8 = new TextEncoder();

/** A growable byte buffer with LEB128 writers. */
export class ByteWriter {
  bytes: Uint8Array<ArrayBuffer>;
  length = 0;

  constructor(capacity = 256) {
    this.bytes = new Uint8Array(capacity);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  byte2(a: number, b: number): void {
    this.reserve(2);
    this.bytes[this.length++] = a;
    this.bytes[this.length++] = b;
  }

  append(other: Uint8Array): void {
    this.reserve(other.length);
    this.bytes.set(other, this.length);
    this.length += other.length;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  u32(value: number): void {
    this.reserve(8);
    let v = value;
    for (;;) {
      const low = v % 128;
      v = Math.floor(v / 128);
      if (v === 0) { this.bytes[this.length++] = low; return; }
      this.bytes[this.length++] = low | 0x80;
    }
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(value: number): void {
    this.reserve(5);
    let v = value | 0;
    for (;;) {
      const low = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (low & 0x40) === 0) || (v === -1 && (low & 0x40) !== 0);
      if (done) { this.bytes[this.length++] = low; return; }
      this.bytes[this.length++] = low | 0x80;
    }
  }

  /** Signed LEB128 of a 64-bit integer given as 32-bit halves (no BigInt). */
  s64(lo: number, hi: number): void {
    this.reserve(10);
    let l = lo >>> 0;
    let h = hi | 0;
    for (;;) {
      const low = l & 0x7f;
      // Arithmetic shift of the 64-bit value right by 7.
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>= 7;
      const signBitClear = (low & 0x40) === 0;
      const done = (l === 0 && h === 0 && signBitClear) || (l === 0xffffffff && h === -1 && !signBitClear);
      if (done) { this.bytes[this.length++] = low; return; }
      this.bytes[this.length++] = low | 0x80;
    }
  }

  f64(value: number): void {
    this.reserve(8);
    new DataView(this.bytes.buffer).setFloat64(this.length, value, true);
    this.length += 8;
  }

  name(text: string): void {
    if (/^[\x00-\x7f]*$/.test(text)) {
      // ASCII (every name the compiler writes): one byte per character, no encoder call.
      this.u32(text.length);
      this.reserve(text.length);
      for (let i = 0; i < text.length; i++) this.bytes[this.length++] = text.charCodeAt(i);
      return;
    }
    const encoded = UTF8.encode(text);
    this.u32(encoded.length);
    this.append(encoded);
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.bytes.subarray(0, this.length);
  }
}

export interface FuncType {
  params: readonly ValType[];
  results: readonly ValType[];
}

interface FunctionImport { module: string; field: string; type: number }
interface GlobalImport { module: string; field: string; valType: ValType; mutable: boolean }
interface GlobalDef { valType: ValType; mutable: boolean; init: (w: ByteWriter) => void }
interface FunctionDef { type: number; body: Uint8Array }
interface ExportDef { name: string; kind: 0 | 1 | 3; index: number }
interface TableImport { module: string; field: string; minimum: number }

/** Reference type of a table of functions. */
const FUNCREF = 0x70;

/**
 * Builds one module. Imported functions and globals come first in their index spaces, so declare all
 * imports before defining functions or globals (indexes returned are final).
 */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly typeKeys = new Map<string, number>();
  private readonly funcImports: FunctionImport[] = [];
  private readonly globalImports: GlobalImport[] = [];
  private memoryImport: { module: string; field: string; minPages: number } | undefined;
  private tableImport: TableImport | undefined;
  /** The module's own table (table 0 when none is imported): the functions it starts with. */
  private tableElements: readonly number[] | undefined;
  private readonly globals: GlobalDef[] = [];
  private readonly functions: FunctionDef[] = [];
  private readonly exports: ExportDef[] = [];
  private readonly unlikelyBranches = new Map<number, number[]>();

  type(params: readonly ValType[], results: readonly ValType[]): number {
    const key = params.join(',') + '>' + results.join(',');
    const known = this.typeKeys.get(key);
    if (known !== undefined) return known;
    this.types.push({ params, results });
    this.typeKeys.set(key, this.types.length - 1);
    return this.types.length - 1;
  }

  importMemory(module: string, field: string, minPages = 0): void {
    this.memoryImport = { module, field, minPages };
  }

  importFunction(module: string, field: string, type: number): number {
    if (this.functions.length > 0) throw new Error('imports must precede function definitions');
    this.funcImports.push({ module, field, type });
    return this.funcImports.length - 1;
  }

  /** Import table 0, a table of functions (`call_indirect` reaches them by slot). */
  importTable(module: string, field: string, minimum: number): void {
    this.tableImport = { module, field, minimum };
  }

  /** Define table 0, holding these functions from slot 0 on (a module without a table import). */
  table(functions: readonly number[]): void {
    this.tableElements = functions;
  }

  importGlobal(module: string, field: string, valType: ValType, mutable = false): number {
    if (this.globals.length > 0) throw new Error('imports must precede global definitions');
    this.globalImports.push({ module, field, valType, mutable });
    return this.globalImports.length - 1;
  }

  global(valType: ValType, mutable: boolean, init: (w: ByteWriter) => void): number {
    this.globals.push({ valType, mutable, init });
    return this.globalImports.length + this.globals.length - 1;
  }

  /** Reserve the index of a function whose body is supplied later with `defineFunction`. */
  declareFunction(type: number): number {
    this.functions.push({ type, body: new Uint8Array(0) });
    return this.funcImports.length + this.functions.length - 1;
  }

  /** `body` is the complete function body: locals vector, code, final `end`. */
  defineFunction(index: number, body: Uint8Array): void {
    this.functions[index - this.funcImports.length]!.body = body;
  }

  /**
   * Mark `if`s of function `index` as unlikely (offsets of the `if` opcode from the start of its body,
   * locals included): the branch-hint section lets V8 keep slow paths (check misses, faults) out of
   * the hot path's register allocation.
   */
  hintUnlikely(index: number, offsets: readonly number[]): void {
    if (offsets.length > 0) this.unlikelyBranches.set(index, [...offsets]);
  }

  exportFunction(name: string, index: number): void {
    this.exports.push({ name, kind: 0, index });
  }

  exportGlobal(name: string, index: number): void {
    this.exports.push({ name, kind: 3, index });
  }

  exportTable(name: string): void {
    this.exports.push({ name, kind: 1, index: 0 });
  }

  encode(): Uint8Array<ArrayBuffer> {
    // Sized for the code, which is most of the module, so neither buffer grows.
    const codeBytes = this.functions.reduce((sum, f) => sum + f.body.length + 5, 5);
    const out = new ByteWriter(1024 + codeBytes);
    out.append(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const section = (id: number, fill: (w: ByteWriter) => void, capacity = 256): void => {
      const w = new ByteWriter(capacity);
      fill(w);
      out.byte(id);
      out.u32(w.length);
      out.append(w.finish());
    };
    section(1, (w) => {
      w.u32(this.types.length);
      for (const t of this.types) {
        w.byte(0x60);
        w.u32(t.params.length);
        for (const p of t.params) w.byte(p);
        w.u32(t.results.length);
        for (const r of t.results) w.byte(r);
      }
    });
    section(2, (w) => {
      const memory = this.memoryImport;
      const table = this.tableImport;
      w.u32(this.funcImports.length + this.globalImports.length + (memory ? 1 : 0) + (table ? 1 : 0));
      for (const f of this.funcImports) {
        w.name(f.module); w.name(f.field); w.byte(0x00); w.u32(f.type);
      }
      if (table) {
        w.name(table.module); w.name(table.field); w.byte(0x01); w.byte(FUNCREF); w.byte(0x00); w.u32(table.minimum);
      }
      if (memory) {
        w.name(memory.module); w.name(memory.field); w.byte(0x02); w.byte(0x00); w.u32(memory.minPages);
      }
      for (const g of this.globalImports) {
        w.name(g.module); w.name(g.field); w.byte(0x03); w.byte(g.valType); w.byte(g.mutable ? 1 : 0);
      }
    });
    section(3, (w) => {
      w.u32(this.functions.length);
      for (const f of this.functions) w.u32(f.type);
    });
    const elements = this.tableElements;
    if (elements) section(4, (w) => { w.u32(1); w.byte(FUNCREF); w.byte(0x00); w.u32(elements.length); });
    if (this.globals.length > 0) {
      section(6, (w) => {
        w.u32(this.globals.length);
        for (const g of this.globals) {
          w.byte(g.valType);
          w.byte(g.mutable ? 1 : 0);
          g.init(w);
          w.byte(Op.end);
        }
      });
    }
    section(7, (w) => {
      w.u32(this.exports.length);
      for (const e of this.exports) { w.name(e.name); w.byte(e.kind); w.u32(e.index); }
    });
    if (elements) {
      // One active segment at offset 0 of table 0.
      section(9, (w) => {
        w.u32(1); w.u32(0);
        w.byte(Op.i32_const); w.s32(0); w.byte(Op.end);
        w.u32(elements.length);
        for (const fn of elements) w.u32(fn);
      });
    }
    if (this.unlikelyBranches.size > 0) {
      section(0, (w) => {
        w.name('metadata.code.branch_hint');
        const functions = [...this.unlikelyBranches.entries()].sort((x, y) => x[0] - y[0]);
        w.u32(functions.length);
        for (const [index, offsets] of functions) {
          w.u32(index);
          w.u32(offsets.length);
          for (const offset of offsets) { w.u32(offset); w.u32(1); w.byte(0); }
        }
      });
    }
    section(10, (w) => {
      w.u32(this.functions.length);
      for (const f of this.functions) { w.u32(f.body.length); w.append(f.body); }
    }, codeBytes);
    return out.finish();
  }
}

/** Encode a locals vector: runs of (count, type). */
export function encodeLocals(w: ByteWriter, runs: ReadonlyArray<readonly [number, ValType]>): void {
  const nonEmpty = runs.filter(([count]) => count > 0);
  w.u32(nonEmpty.length);
  for (const [count, type] of nonEmpty) { w.u32(count); w.byte(type); }
}
