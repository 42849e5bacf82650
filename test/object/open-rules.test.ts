import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { parseElf } from '../../src/elf/index.js';
import { objectMap, openObject } from '../../src/object/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';
import { corpus, missingCorpus } from '../support/paths.js';

const samples = corpus('verifier', 'ebpf-samples');
const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(join(samples!, name)));
const UNKNOWN_BTF = 'invalid/ab3408afd06d68dd7e73bf21bde38350d9751a78';

/** A copy of `bytes` whose first BTF type has kind 0 (which no BTF has). */
function withBrokenBtf(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const btf = parseElf(out).sectionByName('.BTF')!;
  const view = new DataView(out.buffer, btf.offset);
  const firstType = view.getUint32(4, true) + view.getUint32(8, true);
  view.setUint8(firstType + 7, 0);
  return out;
}

test('an object with only .text functions: each global function is a program (libbpf would have none)', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = openObject(bytesOf('build/prog_array.o'), { fileName: 'build/prog_array.o' });
  assert.deepEqual(object.programs.map((p) => [p.name, p.section, p.insns.length]), [
    ['func0', '.text', 2], ['func1', '.text', 2], ['func2', '.text', 2], ['func3', '.text', 2], ['func', '.text', 11],
  ]);
  // The prog_array's initialiser names them; each links on its own.
  assert.deepEqual(objectMap(object, 'prog_array_map').innerSlots?.map((s) => s.map), ['func0', 'func1', 'func2', 'func3']);
  using runtime = new Runtime();
  const loaded = runtime.loadObject(object, { type: 'socket_filter' });
  assert.equal(loaded.program('func2').testRun({ data: new Uint8Array(64) }).retval, 2);
});

test('.text functions stay subprograms when the object has program sections', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = openObject(bytesOf('build/bpf2bpf.o'));
  assert.deepEqual(object.programs.map((p) => p.name), ['func']);
  assert.deepEqual(object.programs[0]!.functions.map((f) => f.name).sort(), ['add1', 'add2', 'func']);
});

test('a .BTF the parser refuses is ignored with a warning when nothing needs it, as libbpf does', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = openObject(bytesOf(UNKNOWN_BTF), { fileName: UNKNOWN_BTF });
  assert.equal(object.btf, undefined);
  assert.equal(object.btfExt, undefined);
  assert.equal(object.warnings?.length, 1);
  assert.match(object.warnings![0]!, /section \.BTF: .*unknown kind 0: \.BTF ignored, continuing without BTF/);
  assert.deepEqual(object.programs.map((p) => p.name), ['authorize_connect4', 'authorize_connect6', 'cgroup/recv_accept4', 'authorize_recv_accept6']);
  assert.deepEqual(object.maps.map((m) => m.name), ['ingress_connection_policy_map', 'egress_connection_policy_map']);
});

test('a .BTF the parser refuses is an error when BTF-defined maps need it', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  assert.throws(() => openObject(withBrokenBtf(bytesOf('build/prog_array.o')), { fileName: 'prog_array.o' }),
    (e: unknown) => e instanceof TsbpfError && e.code.startsWith('btf/') && /prog_array\.o: section \.BTF/.test(e.message));
  // The same object without that need opens: an intact object has no warnings.
  assert.equal(openObject(bytesOf('build/map_in_map_legacy.o')).warnings, undefined);
});

test('legacy map-in-map templates: samples/bpf inner_map_idx counts maps across maps/NAME sections', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = openObject(bytesOf('build/map_in_map_legacy.o'));
  assert.deepEqual(objectMap(object, 'array_of_maps').innerMap, { name: 'inner_map', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 });
});

test('legacy map-in-map templates: iproute2 outer maps name theirs by inner_id (cilium maglev)', (t) => {
  if (!samples) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const object = openObject(bytesOf('cilium/bpf_xdp_dsr_linux.o'));
  for (const outer of ['cilium_lb4_maglev', 'cilium_lb6_maglev']) {
    const map = objectMap(object, outer);
    assert.equal(map.innerMap?.name, `${outer}_inner`);
    assert.equal(map.innerMap?.valueSize, 4078);
    assert.equal(map.innerSlots, undefined, 'the inner map asks not to be prepopulated (inner_idx -1)');
  }
});
