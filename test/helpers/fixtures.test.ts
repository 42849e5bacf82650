import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openObject, type BpfObject } from '../../src/object/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { onEachEngine } from '../support/engines.js';
import { fixturesDir } from '../support/paths.js';
import { hex, linux, skipReason, udpFrame } from './harness.js';

/**
 * The compiled helper fixtures (test/fixtures/helpers, rebuilt by its Makefile) loaded through the
 * object loaders on both sides: retval, data_out and every global must agree, on each engine.
 */

type KernelObjects = typeof import('../../src/linux/kernel-object.js');
const kernel: KernelObjects | undefined = skipReason === undefined ? await import('../../src/linux/kernel-object.js') : undefined;
const options = { skip: skipReason };

const fixture = (name: string): BpfObject => openObject(new Uint8Array(readFileSync(join(fixturesDir, 'helpers', name))), { fileName: name });

/** Each engine against a fresh kernel copy of the object (the globals evolve packet by packet). */
function compare(file: string, program: string, packets: Uint8Array[]): void {
  const object = fixture(file);
  onEachEngine((engine) => {
    const runtime = new Runtime({ cpus: linux!.possibleCpuCount(), engine });
    const user = runtime.loadObject(object);
    const kern = kernel!.loadObjectIntoKernel(object);
    try {
      for (const [i, data] of packets.entries()) {
        const u = user.program(program).testRun({ data });
        const k = kern.program(program).testRun({ data });
        assert.equal(u.retval, k.retval, `${program} packet ${i}: retval`);
        assert.equal(hex(u.dataOut), hex(k.dataOut), `${program} packet ${i}: data_out`);
        for (const spec of object.maps) {
          const key = new Uint8Array(spec.keySize);
          assert.equal(hex(user.map(spec.name).lookup(key)), hex(kern.map(spec.name).lookup(key)), `${program} packet ${i}: ${spec.name}`);
        }
      }
    } finally {
      kern.close();
      runtime.close();
    }
  });
}

test('fixture: tc chain of vlan push/pop, change_proto, adjust_room, store_bytes and l3 checksum', options, () => {
  const ipv6 = udpFrame(40);
  ipv6[12] = 0x86; ipv6[13] = 0xdd;
  compare('packet_edits.bpf.o', 'tc_edits', [udpFrame(16), udpFrame(200), udpFrame(16, { vlan: 5 }), ipv6]);
});

test('fixture: XDP metadata, head and tail adjustments, load/store bytes', options, () => {
  compare('packet_edits.bpf.o', 'xdp_edits', [udpFrame(16), udpFrame(1000), udpFrame(4000)]);
});

test('fixture: snprintf with a .rodata format, strtol/strtoul on stack strings', options, () => {
  compare('strings.bpf.o', 'xdp_strings', [udpFrame(8)]);
});
