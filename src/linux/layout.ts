import { bufferAddress } from './libc.js';

/**
 * C structures described as data: each field has an offset and a kind, and one encoder/decoder reads
 * every table. Pointer fields take a Uint8Array (its address goes in); the encoder remembers those
 * buffers so they stay referenced until the call that uses the structure returns.
 */
export type FieldKind = 'u8' | 'u32' | 's32' | 'u64' | 'ptr' | 'str';

export interface FieldSpec {
  readonly offset: number;
  readonly kind: FieldKind;
  /** Bytes, for `str` (a fixed char array, NUL padded) and byte arrays. */
  readonly size?: number;
}

export interface Layout {
  readonly name: string;
  /** Bytes up to the end of the last field: the size passed to the kernel. */
  readonly size: number;
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

type ValueFor<K extends FieldKind> = K extends 'ptr'
  ? Uint8Array | null
  : K extends 'str'
    ? string
    : K extends 'u64'
      ? bigint | number
      : number;

/** The values a caller may set on a layout: every field optional, typed by its kind. */
export type FieldValues<L extends Layout> = {
  -readonly [F in keyof L['fields']]?: ValueFor<L['fields'][F]['kind']>;
};

/** An encoded structure: the bytes plus the buffers its pointer fields point into. */
export interface Encoded<L extends Layout> {
  readonly layout: L;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly keepAlive: Uint8Array[];
}

export function defineLayout<const F extends Record<string, FieldSpec>>(name: string, fields: F): { name: string; size: number; fields: F } {
  let size = 0;
  for (const spec of Object.values(fields)) size = Math.max(size, spec.offset + fieldBytes(spec));
  return { name, size: (size + 7) & ~7, fields };
}

function fieldBytes(spec: FieldSpec): number {
  switch (spec.kind) {
    case 'u8': return spec.size ?? 1;
    case 'u32': case 's32': return 4;
    case 'u64': case 'ptr': return 8;
    case 'str': return spec.size ?? 16;
  }
}

export function encodeLayout<L extends Layout>(layout: L, values: FieldValues<L>, size = layout.size): Encoded<L> {
  const bytes = new Uint8Array(Math.max(size, layout.size));
  const view = new DataView(bytes.buffer);
  const keepAlive: Uint8Array[] = [];
  const encoded: Encoded<L> = { layout, bytes, view, keepAlive };
  for (const [name, value] of Object.entries(values) as [string, unknown][]) {
    if (value === undefined) continue;
    const spec = layout.fields[name];
    if (!spec) throw new Error(`${layout.name} has no field ${name}`);
    writeField(encoded, spec, value);
  }
  return encoded;
}

function writeField<L extends Layout>(enc: Encoded<L>, spec: FieldSpec, value: unknown): void {
  const { view, bytes } = enc;
  switch (spec.kind) {
    case 'u8':
      if (value instanceof Uint8Array) bytes.set(value.subarray(0, spec.size ?? 1), spec.offset);
      else view.setUint8(spec.offset, Number(value));
      return;
    case 'u32': view.setUint32(spec.offset, Number(value) >>> 0, true); return;
    case 's32': view.setInt32(spec.offset, Number(value) | 0, true); return;
    case 'u64': view.setBigUint64(spec.offset, BigInt.asUintN(64, BigInt(value as bigint | number)), true); return;
    case 'ptr': {
      if (value === null) { view.setBigUint64(spec.offset, 0n, true); return; }
      const buf = value as Uint8Array;
      enc.keepAlive.push(buf);
      view.setBigUint64(spec.offset, bufferAddress(buf), true);
      return;
    }
    case 'str': {
      const text = new TextEncoder().encode(String(value));
      // Keep one byte for the terminating NUL the kernel requires.
      bytes.set(text.subarray(0, (spec.size ?? 16) - 1), spec.offset);
      return;
    }
  }
}

/** Reads a numeric field back (u64 as a JS number: counters and ids here stay far below 2^53). */
export function readNumber<L extends Layout>(enc: { bytes: Uint8Array; layout: L }, name: keyof L['fields'] & string): number {
  const spec = enc.layout.fields[name]!;
  const view = new DataView(enc.bytes.buffer, enc.bytes.byteOffset, enc.bytes.byteLength);
  if (spec.offset + fieldBytes(spec) > enc.bytes.byteLength) return 0;
  switch (spec.kind) {
    case 'u8': return view.getUint8(spec.offset);
    case 'u32': return view.getUint32(spec.offset, true);
    case 's32': return view.getInt32(spec.offset, true);
    case 'u64': case 'ptr': return Number(view.getBigUint64(spec.offset, true));
    case 'str': throw new Error(`${enc.layout.name}.${name} is a string`);
  }
}

export function readBigInt<L extends Layout>(enc: { bytes: Uint8Array; layout: L }, name: keyof L['fields'] & string): bigint {
  const spec = enc.layout.fields[name]!;
  if (spec.offset + 8 > enc.bytes.byteLength) return 0n;
  return new DataView(enc.bytes.buffer, enc.bytes.byteOffset).getBigUint64(spec.offset, true);
}

export function readString<L extends Layout>(enc: { bytes: Uint8Array; layout: L }, name: keyof L['fields'] & string): string {
  const spec = enc.layout.fields[name]!;
  const raw = enc.bytes.subarray(spec.offset, spec.offset + (spec.size ?? 16));
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

export function readBytes<L extends Layout>(enc: { bytes: Uint8Array; layout: L }, name: keyof L['fields'] & string): Uint8Array {
  const spec = enc.layout.fields[name]!;
  return enc.bytes.slice(spec.offset, spec.offset + fieldBytes(spec));
}

/**
 * Blocks being passed to the kernel right now. Holding them in a module-level stack keeps the buffers
 * their pointer fields point into alive (and so at fixed addresses) until the call returns; a local
 * alone could be considered dead by the optimiser once its last use is behind it.
 */
const inFlight: Encoded<Layout>[] = [];

/** Runs `call` with `encoded`, and every buffer it points into, held referenced until it returns. */
export function callWith<L extends Layout, T>(encoded: Encoded<L>, call: (bytes: Uint8Array) => T): T {
  inFlight.push(encoded);
  try {
    return call(encoded.bytes);
  } finally {
    inFlight.pop();
  }
}
