import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { attachProgram } from '../../src/linux/attach-object.js';
import { objectGlobals } from '../../src/linux/globals.js';
import { BpfVerifierError, XdpAction } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { editMap } from '../../src/object/index.js';
import { repoRoot } from '../support/paths.js';
import { getpidSyscall, skipReason } from './support.js';

const GLOBALS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'globals.bpf.o');
const open = () => openObjectForKernel(new Uint8Array(readFileSync(GLOBALS_OBJ)), { fileName: 'globals.bpf.o' });
const hasCode = (code: string) => (e: unknown) => e instanceof TsbpfError && e.code === code;
/** Mappings of BPF maps in this process. */
const bpfMappings = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('bpf-map')).length;

test('globals: .bss counter and .data config shared through mmap with a test-run program', { skip: skipReason }, () => {
  using kernel = loadObjectIntoKernel(open(), { programs: ['count_packets'] });
  const bss = kernel.globals('.bss');
  const data = kernel.globals('.data');
  assert.equal(bss.access, 'mmap');
  assert.equal(kernel.globals('.bss'), bss); // one mapping per section
  assert.deepEqual(data.toObject(), { step: 1, limits: { first: 1000, second: 7 }, greeting: 'hello', enabled: true });
  const run = (length: number) => kernel.program('count_packets').testRun({ data: new Uint8Array(length) }).retval;

  assert.equal(run(64), XdpAction.PASS);
  assert.equal(bss.get('packets'), 1n);
  assert.equal(bss.get('last_length'), -64); // __s32, read signed
  data.set('step', 5); // seen by the next run without any syscall
  run(100);
  assert.equal(bss.get('packets'), 6n);
  bss.set('packets', 1000n); // and the program sees user space's write
  run(100);
  assert.equal(bss.get('packets'), 1005n);
  data.set('enabled', false);
  run(100);
  assert.equal(bss.get('packets'), 1005n);
  data.set('enabled', true);
  // The raw bytes are the live mapping: little-endian packets at offset 0.
  assert.equal(new DataView(bss.bytes.buffer, bss.bytes.byteOffset).getBigUint64(0, true), 1005n);
  // Custom .data.NAME sections are maps of their own.
  assert.equal(kernel.globals('.data.custom').get('custom_hits'), 103n); // 100 + the three runs that were enabled
  // Structs and arrays: bytes from get(), decoded values from decode(); set() takes exact bytes.
  assert.deepEqual(data.get('limits'), new Uint8Array([0xe8, 0x03, 0, 0, 7, 0, 0, 0]));
  data.set('greeting', new TextEncoder().encode('bye\0\0\0\0\0'));
  assert.equal(data.decode('greeting'), 'bye');
  assert.equal(kernel.map('.data').lookup(new Uint8Array(4))![12], 'b'.charCodeAt(0)); // same bytes through bpf()
});

test('globals: .rodata set before load is constant-folded by the verifier and read-only after', { skip: skipReason }, () => {
  // mode 2 makes reachable a helper XDP may not call: only that setting fails verification.
  const refused = open();
  objectGlobals(refused, '.rodata').set('mode', 2);
  assert.throws(() => loadObjectIntoKernel(refused, { programs: ['count_packets'] }), (e: unknown) => e instanceof BpfVerifierError && /bpf_skb_load_bytes|unknown func/.test(e.log));

  const object = open();
  const before = objectGlobals(object, '.rodata');
  before.set('mode', 1);
  assert.equal(before.access, 'object');
  using kernel = loadObjectIntoKernel(object, { programs: ['count_packets'] });
  assert.equal(kernel.program('count_packets').testRun({ data: new Uint8Array(64) }).retval, XdpAction.DROP);
  const rodata = kernel.globals('.rodata');
  assert.equal(rodata.readOnly, true);
  assert.equal(rodata.get('mode'), 1);
  assert.throws(() => rodata.set('mode', 0), hasCode('linux/global-read-only'));
  rodata.bytes[0] = 9; // a copy: the mapping is read-only
  assert.equal(rodata.get('mode'), 1);
});

test('globals: a tracepoint counts this process\'s getpid calls into .bss', { skip: skipReason }, () => {
  const object = open();
  objectGlobals(object, '.rodata').set('target_tgid', process.pid);
  using kernel = loadObjectIntoKernel(object, { programs: ['count_getpid'] });
  const bss = kernel.globals('.bss');
  {
    using _link = attachProgram(kernel, 'count_getpid');
    for (let i = 0; i < 50; i++) getpidSyscall();
  }
  // Other threads of this process may call getpid too: at least our 50.
  const calls = bss.get('getpid_calls') as bigint;
  assert.ok(calls >= 50n && calls < 1000n, `counted ${calls}`);
});

test('globals: lookup/update fallback when the map is not mmapable; errors name what is wrong', { skip: skipReason }, () => {
  const object = open();
  editMap(object, '.bss', { flags: 0 });
  using kernel = loadObjectIntoKernel(object, { programs: ['count_packets'] });
  const bss = kernel.globals('.bss');
  assert.equal(bss.access, 'syscall');
  kernel.program('count_packets').testRun({ data: new Uint8Array(64) });
  assert.equal(bss.get('packets'), 1n);
  bss.set('packets', 41n);
  kernel.program('count_packets').testRun({ data: new Uint8Array(64) });
  assert.equal(bss.get('packets'), 42n);
  assert.equal(bss.get('last_length'), -64);

  const data = kernel.globals('.data');
  assert.throws(() => kernel.globals('.nope'), hasCode('linux/no-global-section'));
  assert.throws(() => data.get('nope'), hasCode('linux/no-global'));
  assert.throws(() => data.set('step', 2 ** 32), hasCode('linux/bad-global-value'));
  assert.throws(() => data.set('step', 1.5), hasCode('linux/bad-global-value'));
  assert.throws(() => data.set('enabled', 1), hasCode('linux/bad-global-value'));
  assert.throws(() => data.set('limits', new Uint8Array(3)), hasCode('linux/bad-global-value'));
  data.set('step', -1); // either reading of the bits
  assert.equal(data.get('step'), 0xffffffff);
});

test('globals: close unmaps every section; a view kept past close is refused', { skip: skipReason }, () => {
  const before = bpfMappings();
  const kernel = loadObjectIntoKernel(open(), { programs: ['count_packets'] });
  const bss = kernel.globals('.bss');
  for (const section of ['.data', '.rodata', '.data.custom']) kernel.globals(section);
  assert.equal(bpfMappings(), before + 4);
  const stale = bss.bytes;
  kernel.close();
  assert.equal(bpfMappings(), before);
  assert.throws(() => bss.get('packets'), hasCode('linux/closed'));
  stale[0] = 1; // lands in private placeholder pages, not in whatever is mapped next
});
