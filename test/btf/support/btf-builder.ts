/**
 * A small BTF encoder for tests: writes the binary format directly from the kernel's layout (btf.h),
 * independently of src/btf, so parser tests and synthetic CO-RE targets do not depend on the parser.
 */
const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

export interface MemberSpec {
  name: string;
  type: number;
  bitOffset: number;
  bitfieldSize?: number;
}

export class BtfBuilder {
  private readonly words: number[] = [];
  private readonly strBytes: number[] = [];
  private readonly strOffsets = new Map<string, number>();
  private nextId: number;

  constructor(
    private readonly options: { littleEndian?: boolean; firstId?: number; firstStringOffset?: number } = {},
  ) {
    this.nextId = options.firstId ?? 1;
    if (options.firstStringOffset === undefined) this.str('');
  }

  /** Offset of `s` in the string section (added on first use). */
  str(s: string): number {
    if (s === '' && this.options.firstStringOffset !== undefined) return 0;
    const known = this.strOffsets.get(s);
    if (known !== undefined) return known;
    const off = (this.options.firstStringOffset ?? 0) + this.strBytes.length;
    for (const b of new TextEncoder().encode(s)) this.strBytes.push(b);
    this.strBytes.push(0);
    this.strOffsets.set(s, off);
    return off;
  }

  /** Append one raw type record; returns its id. */
  raw(name: string | number, kind: number, vlen: number, kflag: boolean, sizeOrType: number, extra: number[] = []): number {
    const nameOff = typeof name === 'number' ? name : this.str(name);
    this.words.push(nameOff, ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...extra);
    return this.nextId++;
  }

  int(name: string, size: number, signed = false, bits = size * 8, encodingBits = signed ? 1 : 0): number {
    return this.raw(name, KIND.INT, 0, false, size, [(encodingBits << 24) | bits]);
  }
  ptr(type: number): number {
    return this.raw('', KIND.PTR, 0, false, type);
  }
  typedef(name: string, type: number): number {
    return this.raw(name, KIND.TYPEDEF, 0, false, type);
  }
  modifier(kind: 'CONST' | 'VOLATILE' | 'RESTRICT', type: number): number {
    return this.raw('', KIND[kind], 0, false, type);
  }
  typeTag(name: string, type: number): number {
    return this.raw(name, KIND.TYPE_TAG, 0, false, type);
  }
  array(type: number, indexType: number, nelems: number): number {
    return this.raw('', KIND.ARRAY, 0, false, 0, [type, indexType, nelems]);
  }
  composite(kind: 'STRUCT' | 'UNION', name: string, size: number, members: MemberSpec[]): number {
    const kflag = members.some((m) => (m.bitfieldSize ?? 0) > 0);
    const extra: number[] = [];
    for (const m of members) {
      extra.push(this.str(m.name), m.type, kflag ? ((m.bitfieldSize ?? 0) << 24) | m.bitOffset : m.bitOffset);
    }
    return this.raw(name, KIND[kind], members.length, kflag, size, extra);
  }
  struct(name: string, size: number, members: MemberSpec[]): number {
    return this.composite('STRUCT', name, size, members);
  }
  enum(name: string, size: number, values: [string, number][], signed = false): number {
    const extra: number[] = [];
    for (const [n, v] of values) extra.push(this.str(n), v >>> 0);
    return this.raw(name, KIND.ENUM, values.length, signed, size, extra);
  }
  enum64(name: string, values: [string, bigint][], signed = false): number {
    const extra: number[] = [];
    for (const [n, v] of values) {
      const u = BigInt.asUintN(64, v);
      extra.push(this.str(n), Number(u & 0xffffffffn), Number(u >> 32n));
    }
    return this.raw(name, KIND.ENUM64, values.length, signed, 8, extra);
  }
  fwd(name: string, union = false): number {
    return this.raw(name, KIND.FWD, 0, union, 0);
  }
  funcProto(ret: number, params: [string, number][]): number {
    const extra: number[] = [];
    for (const [n, t] of params) extra.push(this.str(n), t);
    return this.raw('', KIND.FUNC_PROTO, params.length, false, ret, extra);
  }
  func(name: string, proto: number, linkage = 1): number {
    return this.raw(name, KIND.FUNC, linkage, false, proto);
  }
  variable(name: string, type: number, linkage = 1): number {
    return this.raw(name, KIND.VAR, 0, false, type, [linkage]);
  }
  datasec(name: string, size: number, vars: [number, number, number][]): number {
    return this.raw(name, KIND.DATASEC, vars.length, false, size, vars.flat());
  }
  float(name: string, size: number): number {
    return this.raw(name, KIND.FLOAT, 0, false, size);
  }
  declTag(name: string, type: number, componentIdx: number): number {
    return this.raw(name, KIND.DECL_TAG, 0, false, type, [componentIdx >>> 0]);
  }

  /** The `.BTF` blob: 24-byte header, type section, string section. */
  build(): Uint8Array {
    const le = this.options.littleEndian ?? true;
    const typeLen = this.words.length * 4;
    const strLen = this.strBytes.length;
    const out = new Uint8Array(24 + typeLen + strLen);
    const v = new DataView(out.buffer);
    v.setUint16(0, 0xeb9f, le);
    v.setUint8(2, 1);
    v.setUint8(3, 0);
    v.setUint32(4, 24, le);
    v.setUint32(8, 0, le);
    v.setUint32(12, typeLen, le);
    v.setUint32(16, typeLen, le);
    v.setUint32(20, strLen, le);
    this.words.forEach((w, i) => v.setUint32(24 + i * 4, w >>> 0, le));
    out.set(this.strBytes, 24 + typeLen);
    return out;
  }
}
