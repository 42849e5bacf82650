import { parseBtf, type Btf } from '../btf/index.js';
import { decodeBtfValue, type Decoded } from '../object/decode.js';
import { BpfBtf } from './btf-object.js';
import { MapType } from './constants.js';
import { BtfInfoLayout } from './info.js';
import { readNumber } from './layout.js';
import { splitPerCpu, type BpfMap, type MapInfo } from './map.js';
import { objectInfo } from './objects.js';
import { vmlinuxBtf } from './vmlinux.js';

/**
 * Reading a kernel map's entries for people: keys and values decoded through the BTF the map was
 * created with (map info: btf_id, key and value type ids; the BTF itself fetched by id), hex
 * otherwise.
 */

/** The raw BTF of a kernel BTF object (BPF_OBJ_GET_INFO_BY_FD twice: size, then bytes). */
export function fetchBtfBytes(btf: BpfBtf): { bytes: Uint8Array; kernel: boolean; name: string } {
  const head = objectInfo(btf.fd, BtfInfoLayout);
  const size = readNumber(head, 'btf_size');
  const bytes = new Uint8Array(size);
  const nameBytes = new Uint8Array(64);
  const full = objectInfo(btf.fd, BtfInfoLayout, { btf: bytes, btf_size: size, name: nameBytes, name_len: nameBytes.byteLength });
  const end = nameBytes.indexOf(0);
  return { bytes, kernel: readNumber(full, 'kernel_btf') !== 0, name: new TextDecoder().decode(nameBytes.subarray(0, end < 0 ? undefined : end)) };
}

/** Parsed BTF of a kernel BTF id (module BTF is split on vmlinux); undefined when it is gone. */
export function btfById(id: number): Btf | undefined {
  const handle = BpfBtf.fromId(id);
  if (!handle) return undefined;
  try {
    const { bytes, kernel, name } = fetchBtfBytes(handle);
    // Kernel modules' BTF is split BTF on top of vmlinux.
    return kernel && name !== 'vmlinux' ? parseBtf(bytes, { base: vmlinuxBtf() }) : parseBtf(bytes);
  } finally {
    handle.close();
  }
}

export interface KernelMapEntry {
  key: Decoded;
  value: Decoded;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Map types whose contents cannot be walked with GET_NEXT_KEY + LOOKUP. */
const NOT_DUMPABLE: ReadonlySet<number> = new Set([
  MapType.RINGBUF, MapType.USER_RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER,
  MapType.STRUCT_OPS, MapType.ARENA,
]);

export function isDumpable(type: number): boolean {
  return !NOT_DUMPABLE.has(type);
}

export interface KernelMapDecoder {
  key(bytes: Uint8Array): Decoded;
  /** One value (per-CPU maps: one CPU's slot). */
  value(bytes: Uint8Array): Decoded;
}

/** Decoding of a kernel map's keys and values through the BTF it was created with (hex without one). */
export function kernelMapDecoder(info: MapInfo): KernelMapDecoder {
  const btf = info.btfId ? btfById(info.btfId) : undefined;
  const decode = (typeId: number, bytes: Uint8Array): Decoded => {
    if (!btf || !typeId) return hex(bytes);
    try {
      return decodeBtfValue(btf, typeId, bytes);
    } catch {
      return hex(bytes);
    }
  };
  return {
    // Global data maps have BTF for the value only; their key is the u32 index 0.
    key: (bytes) => btf && !info.btfKeyTypeId && bytes.byteLength === 4 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) : decode(info.btfKeyTypeId, bytes),
    value: (bytes) => decode(info.btfValueTypeId, bytes),
  };
}

/** Every entry of `map`, decoded through its BTF where it has one. */
export function dumpKernelMap(map: BpfMap, info: MapInfo = map.info()): KernelMapEntry[] {
  const decoder = kernelMapDecoder(info);
  const out: KernelMapEntry[] = [];
  for (const [key, value] of map.entries()) {
    const decodedValue = map.isPerCpu ? splitPerCpu(value, info.valueSize).map((v) => decoder.value(v)) : decoder.value(value);
    out.push({ key: decoder.key(key), value: decodedValue });
  }
  return out;
}
