/**
 * A tiny BTF blob built by hand: `int` (id 1) and `struct probe_value { int value; }` (id 2). Enough
 * for the map types that demand BTF key/value types (local storage maps) when probing features.
 */
export function minimalBtf(): Uint8Array {
  const strings = '\0int\0probe_value\0value\0';
  const nameOff = (s: string): number => strings.indexOf('\0' + s + '\0') + 1;
  const BTF_KIND_INT = 1;
  const BTF_KIND_STRUCT = 4;
  const types = new Uint32Array([
    // [1] INT 'int' size 4, encoding SIGNED, 32 bits
    nameOff('int'), BTF_KIND_INT << 24, 4, (1 << 24) | 32,
    // [2] STRUCT 'probe_value' size 4, one member 'value' of type 1 at bit 0
    nameOff('probe_value'), (BTF_KIND_STRUCT << 24) | 1, 4, nameOff('value'), 1, 0,
  ]);
  const stringBytes = new TextEncoder().encode(strings);
  const header = 24;
  const out = new Uint8Array(header + types.byteLength + stringBytes.byteLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xeb9f, true);
  view.setUint8(2, 1);
  view.setUint8(3, 0);
  view.setUint32(4, header, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, types.byteLength, true);
  view.setUint32(16, types.byteLength, true);
  view.setUint32(20, stringBytes.byteLength, true);
  out.set(new Uint8Array(types.buffer), header);
  out.set(stringBytes, header + types.byteLength);
  return out;
}
