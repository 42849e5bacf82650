import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asm, BpfBtf, BpfMap, BpfProgram, BtfLoadError, minimalBtf, XdpAction } from '../../src/linux/index.js';
import { skipReason } from './support.js';

const opts = { skip: skipReason };

/** BTF with `int` [1], `void *` [2], `int (void *ctx)` [3] and `static int xdp_main(...)` [4]. */
function btfWithFunction(): Uint8Array {
  const strings = '\0int\0ctx\0xdp_main\0';
  const off = (s: string): number => strings.indexOf('\0' + s + '\0') + 1;
  const kind = (k: number, vlen = 0): number => ((k << 24) | vlen) >>> 0;
  const types = new Uint32Array([
    off('int'), kind(1), 4, (1 << 24) | 32,        // [1] INT
    0, kind(2), 0,                                  // [2] PTR -> void
    0, kind(13, 1), 1, off('ctx'), 2,               // [3] FUNC_PROTO int (void *ctx)
    off('xdp_main'), kind(12), 3,                   // [4] FUNC static xdp_main
  ]);
  const str = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + types.byteLength + str.byteLength);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(12, types.byteLength, true);
  v.setUint32(16, types.byteLength, true);
  v.setUint32(20, str.byteLength, true);
  out.set(new Uint8Array(types.buffer), 24);
  out.set(str, 24 + types.byteLength);
  return out;
}

test('BTF load, a map with BTF key/value types, and a program with func_info', opts, () => {
  using btf = BpfBtf.load(minimalBtf());
  using map = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 4, maxEntries: 1, btf: { fd: btf.fd, keyTypeId: 1, valueTypeId: 2 } });
  const info = map.info();
  assert.ok(info.btfId > 0);
  assert.deepEqual([info.btfKeyTypeId, info.btfValueTypeId], [1, 2]);
  assert.ok([...BpfBtf.ids()].includes(info.btfId));

  using progBtf = BpfBtf.load(btfWithFunction());
  using prog = BpfProgram.load({
    type: 'XDP', name: 'xdp_main', btfFd: progBtf.fd, insns: [asm.mov64Imm(0, XdpAction.PASS), asm.exit()],
    funcInfo: { recordSize: 8, records: new Uint8Array(new Uint32Array([0, 4]).buffer) },
  });
  assert.ok(prog.info().btfId > 0);
  assert.equal(prog.testRun({ data: new Uint8Array(64) }).retval, XdpAction.PASS);
});

test('a broken BTF blob is rejected with the kernel BTF log', opts, () => {
  const blob = minimalBtf();
  // Point the struct member at a type id that does not exist.
  new DataView(blob.buffer).setUint32(24 + 16 + 16, 99, true);
  assert.throws(() => BpfBtf.load(blob), (e: unknown) => {
    assert.ok(e instanceof BtfLoadError);
    assert.equal(e.errnoName, 'EINVAL');
    assert.match(e.log, /Invalid member|Invalid type_id|type_id/);
    return true;
  });
});
