import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { parseHexBytes } from '../isa/instruction.js';
import type { BpfMap } from '../maps/map.js';
import { openObject, decodeBtfValue, type BpfObject, type Decoded, type ObjectMap } from '../object/index.js';
import { UsageError } from './command.js';

export { parseCommandArgs } from './command.js';

export function readInputFile(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsbpfError('cli/read', `cannot read ${what} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

export function loadObjectFile(path: string): BpfObject {
  return openObject(readInputFile(path, 'object'), { fileName: path });
}

/** `--data HEX` or `--data-file F` (one of them, or none). */
export function dataArgument(values: { data?: string | undefined; 'data-file'?: string | undefined }): Uint8Array | undefined {
  if (values.data !== undefined && values['data-file'] !== undefined) throw new UsageError('give --data or --data-file, not both');
  if (values.data !== undefined) return parseHexBytes(values.data);
  if (values['data-file'] !== undefined) return readInputFile(values['data-file'], 'data file');
  return undefined;
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export interface MapEntryView {
  key: Decoded;
  value: Decoded;
}

/** Every entry of a map, decoded through the object's BTF where it describes key and value. */
export function dumpMap(object: BpfObject, spec: ObjectMap, map: Pick<BpfMap, 'entries' | 'perCpu' | 'cpus'>): MapEntryView[] {
  const btf = object.btf;
  const decodeWith = (typeId: number | undefined, bytes: Uint8Array): Decoded => (btf && typeId ? decodeBtfValue(btf, typeId, bytes) : hex(bytes));
  const out: MapEntryView[] = [];
  for (const [key, value] of map.entries()) {
    let decodedValue: Decoded;
    if (map.perCpu) {
      const slot = (spec.valueSize + 7) & ~7;
      decodedValue = Array.from({ length: map.cpus }, (_, cpu) => decodeWith(spec.btfValueTypeId, value.subarray(cpu * slot, cpu * slot + spec.valueSize)));
    } else if (spec.origin === 'data' || spec.origin === 'rodata' || spec.origin === 'bss') {
      const datasec = btf?.findByName(spec.section, 'DATASEC');
      decodedValue = datasec && btf ? decodeBtfValue(btf, datasec.id, value) : hex(value);
    } else {
      decodedValue = decodeWith(spec.btfValueTypeId, value);
    }
    out.push({ key: decodeWith(spec.btfKeyTypeId, key), value: decodedValue });
  }
  return out;
}

/** `{"a": 1}` style one-liners for the text output. */
export function formatDecoded(value: Decoded): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
