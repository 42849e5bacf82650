import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openObject, type BpfObject } from '../../src/object/index.js';
import { Runtime, type LoadedObject } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';
import { ethernet, ipv4, ipv6, tcp, udp, icmp, arp } from '../../src/net/build.js';
import type { Engine } from '../../src/vm/engine.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import type { RingBufMap } from '../../src/maps/ringbuf.js';
import { fixturesDir } from '../support/paths.js';
import { onEachEngine } from '../support/engines.js';

/**
 * Both engines everywhere: every fixture object runs in one runtime on the interpreter and in another
 * on the WebAssembly JIT, over the same packets; retval, data_out and the contents of every map (and
 * the ring buffer's records) must be equal. Checked mode (the runtime's default) and unchecked.
 */

const fixture = (name: string): BpfObject => openObject(new Uint8Array(readFileSync(join(fixturesDir, 'progs', name))), { fileName: name });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Side {
  runtime: Runtime;
  object: LoadedObject;
}

function load(name: string, engine: Engine, checked: boolean, setup?: (side: Side) => void): Side {
  const runtime = new Runtime({ engine, cpus: 2 });
  const object = runtime.loadObject(fixture(name), { checked });
  const side = { runtime, object };
  setup?.(side);
  return side;
}

function mapContents(side: Side): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const spec of side.object.object.maps) {
    if (spec.type === MapType.prog_array || spec.type === MapType.perf_event_array) continue;
    const map = side.object.map(spec.name);
    if (spec.type === MapType.ringbuf) {
      out[spec.name] = (map as RingBufMap).drain().map((record) => hex(record));
      continue;
    }
    out[spec.name] = [...map.entries()].map(([k, v]) => `${hex(k)}=${hex(v)}`).sort();
  }
  return out;
}

/** Runs `packets` through `program` on both engines and compares everything observable. */
function compareEngines(name: string, program: string, packets: Uint8Array[], setup?: (side: Side) => void): void {
  for (const checked of [true, false]) {
    const interp = load(name, interpreter, checked, setup);
    const compiled = load(name, jit, checked, setup);
    try {
      for (const [i, data] of packets.entries()) {
        const a = interp.object.program(program).testRun({ data });
        const b = compiled.object.program(program).testRun({ data });
        const where = `${program} (${checked ? 'checked' : 'unchecked'}) packet ${i}`;
        assert.equal(b.retval, a.retval, `${where}: retval`);
        assert.equal(hex(b.dataOut ?? new Uint8Array()), hex(a.dataOut ?? new Uint8Array()), `${where}: data_out`);
      }
      assert.deepEqual(mapContents(compiled), mapContents(interp), `${program} (${checked ? 'checked' : 'unchecked'}): maps`);
    } finally {
      interp.runtime.close();
      compiled.runtime.close();
    }
  }
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const udpTo = (src: string, dst: string, dport: number, payload = 16): Uint8Array =>
  ethernet({ type: 0x0800, payload: ipv4({ src, dst, payload: udp({ srcPort: 40000, dstPort: dport, payload: new Uint8Array(payload).fill(7) }) }) });
const tcpTo = (src: string, dst: string, dport: number): Uint8Array =>
  ethernet({ type: 0x0800, payload: ipv4({ src, dst, payload: tcp({ srcPort: 40001, dstPort: dport }) }) });
const arpFrame = (): Uint8Array => ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) });

test('engines: XDP firewall (LPM deny list, per-flow hash, per-CPU counters)', () => {
  compareEngines('xdp_firewall.bpf.o', 'xdp_firewall', [
    tcpTo('10.9.1.1', '10.0.0.1', 80),
    udpTo('10.1.1.1', '10.0.0.2', 53),
    udpTo('10.1.1.1', '10.0.0.2', 53, 200),
    tcpTo('10.1.1.2', '10.0.0.2', 443),
    ethernet({ type: 0x0800, payload: ipv4({ src: '10.1.1.3', dst: '10.0.0.2', payload: icmp({ type: 8, code: 0 }) }) }),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '2001:db8::1', dst: '2001:db8::2', payload: tcp({ srcPort: 1, dstPort: 2 }) }) }),
    arpFrame(),
    ethernet({ type: 0x0800, vlans: [{ id: 42 }], payload: ipv4({ src: '10.1.1.4', dst: '10.0.0.2', payload: udp({ srcPort: 1, dstPort: 2 }) }) }),
    new Uint8Array(14).fill(0xff),
  ], ({ object }) => object.map('deny_v4').update(new Uint8Array([16, 0, 0, 0, 10, 9, 0, 0]), u32(1)));
});

test('engines: tc rewrite with l3/l4 checksum helpers', () => {
  compareEngines('tc_rewrite.bpf.o', 'tc_rewrite', [
    udpTo('10.5.5.5', '10.0.0.1', 53), tcpTo('10.5.5.5', '10.0.0.1', 80), udpTo('10.5.5.5', '10.0.0.3', 53), arpFrame(),
  ]);
});

test('engines: socket filter (LD_ABS-free skb_load_bytes)', () => {
  compareEngines('socket_filter.bpf.o', 'dns_filter', [
    udpTo('10.1.1.1', '10.0.0.2', 53), udpTo('10.1.1.1', '10.0.0.2', 53, 300), udpTo('10.1.1.1', '10.0.0.2', 54),
    tcpTo('10.1.1.1', '10.0.0.2', 53),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
  ]);
});

test('engines: tail calls through a prog array', () => {
  compareEngines('tailcall.bpf.o', 'dispatch', [
    udpTo('10.1.1.1', '10.0.0.2', 53),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
    arpFrame(),
  ], ({ runtime, object }) => {
    runtime.setTailCall(object.map('jump_table'), 0, object.program('handle_ipv4'));
    runtime.setTailCall(object.map('jump_table'), 1, object.program('handle_ipv6'));
  });
});

test('engines: BPF-to-BPF calls and global data', () => {
  compareEngines('calls_globals.bpf.o', 'xdp_calls', [20, 63, 64, 100, 511, 512, 1400].map((n) => new Uint8Array(n).fill(n & 0xff)));
});

test('engines: bpf_loop prime counting (nested callbacks, inlined under the JIT)', () => {
  compareEngines('loop.bpf.o', 'xdp_loop', [new Uint8Array(64), new Uint8Array(200).fill(3)]);
  using runtime = new Runtime({ engine: jit });
  const object = runtime.loadObject(fixture('loop.bpf.o'));
  const result = object.program('xdp_loop').testRun({ data: new Uint8Array(64) });
  assert.equal(result.retval, 2, 'XDP_PASS: 168 primes below 1000, as the kernel counts');
  assert.equal(hex(object.map('.bss').lookup(u32(0))!), hex(u32(168)));
});

test('engines: ring buffer producer (verdicts, records, global state)', () => {
  compareEngines('ringbuf.bpf.o', 'xdp_events', [udpTo('10.1.1.1', '10.0.0.2', 53), new Uint8Array(14), tcpTo('10.1.1.1', '10.0.0.2', 1), new Uint8Array(100)]);
});

/** RFC 1071 over `data` as the program computes it: little-endian 16-bit words, folded, inverted. */
function internetChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += data[i]! | ((data[i + 1] ?? 0) << 8);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

test('engines: 16-bit checksum of whole packets up to 1500 bytes (bounded loop, bpf_csum_diff)', () => {
  const frames = [14, 15, 64, 255, 256, 257, 1024, 1499, 1500].map((n) => new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff));
  compareEngines('checksum.bpf.o', 'xdp_csum_loop', frames);
  compareEngines('checksum.bpf.o', 'xdp_csum_diff', frames);
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const object = runtime.loadObject(fixture('checksum.bpf.o'));
    for (const data of frames) {
      object.program('xdp_csum_loop').testRun({ data });
      object.program('xdp_csum_diff').testRun({ data });
      const sums = new Uint16Array(object.map('.bss').lookup(u32(0))!.slice(0, 4).buffer);
      assert.deepEqual([...sums], [internetChecksum(data), internetChecksum(data)], `${data.length} bytes: loop_sum, diff_sum`);
    }
  });
});

test('engines: bpf_loop updating and looking up 256 keys of a hash map', () => {
  compareEngines('hash_loop.bpf.o', 'xdp_hash_loop', [udpTo('10.1.1.1', '10.0.0.2', 53), new Uint8Array(14), new Uint8Array(1500), udpTo('10.1.1.1', '10.0.0.2', 53)]);
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const object = runtime.loadObject(fixture('hash_loop.bpf.o'));
    object.program('xdp_hash_loop').testRun({ data: new Uint8Array(64) });
    // The odd multiplier makes 256 consecutive iterations 256 distinct keys, each counted once.
    assert.equal([...object.map('counters').entries()].length, 256, 'keys in the map');
    assert.equal(hex(object.map('.bss').lookup(u32(0))!), hex(new Uint8Array(new BigUint64Array([256n]).buffer)), 'last_total');
  });
});
