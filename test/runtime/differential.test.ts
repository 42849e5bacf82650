import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openObject, type BpfObject } from '../../src/object/index.js';
import { Runtime, type LoadedObject } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';
import { ethernet, ipv4, ipv6, tcp, udp, icmp, arp } from '../../src/net/build.js';
import { fixturesDir } from '../support/paths.js';
import { skipReason } from '../linux/support.js';
import { onEachEngine } from '../support/engines.js';
import type { Engine } from '../../src/vm/engine.js';

/**
 * The runtime issue's oracle: every fixture object runs in the userspace runtime and in the kernel
 * (BPF_PROG_TEST_RUN through tsbpf's own object loader) on the same inputs; retval, data_out and the
 * contents of every map must be equal. Each test runs once per engine (interpreter, JIT), each time
 * against a freshly loaded kernel object. Skips, saying why, where bpf() is not available.
 */

type Kernel = typeof import('../../src/linux/kernel-object.js');
type LinuxIndex = typeof import('../../src/linux/index.js');
let kernel: Kernel | undefined;
let linux: LinuxIndex | undefined;
if (skipReason === undefined) {
  kernel = await import('../../src/linux/kernel-object.js');
  linux = await import('../../src/linux/index.js');
}

const fixture = (name: string): BpfObject => openObject(new Uint8Array(readFileSync(join(fixturesDir, 'progs', name))), { fileName: name });
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Pair {
  user: LoadedObject;
  kern: InstanceType<Kernel['KernelObject']>;
  runtime: Runtime;
}

function both(name: string, engine: Engine, setup?: (p: Pair) => void): Pair {
  const object = fixture(name);
  const runtime = new Runtime({ cpus: linux!.possibleCpuCount(), engine });
  const user = runtime.loadObject(object);
  const kern = kernel!.loadObjectIntoKernel(object);
  const pair = { user, kern, runtime };
  setup?.(pair);
  return pair;
}

function close(p: Pair): void {
  p.kern.close();
  p.runtime.close();
}

/** Loads `name` on both sides for each engine in turn and runs `body`, closing both afterwards. */
function onBothSides(name: string, body: (p: Pair) => void, setup?: (p: Pair) => void): void {
  onEachEngine((engine) => {
    const p = both(name, engine, setup);
    try {
      body(p);
    } finally {
      close(p);
    }
  });
}

/** Sum per-CPU slots (u64 words) so the CPU the kernel happened to run on does not matter. */
function foldPerCpu(value: Uint8Array, valueSize: number, cpus: number): string {
  const slot = (valueSize + 7) & ~7;
  const sums = new Array<bigint>(slot / 8).fill(0n);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  for (let c = 0; c < cpus; c++) for (let w = 0; w < slot / 8; w++) sums[w]! += view.getBigUint64(c * slot + w * 8, true);
  return sums.join(',');
}

function mapContents(p: Pair): { user: Record<string, string[]>; kern: Record<string, string[]> } {
  const user: Record<string, string[]> = {};
  const kern: Record<string, string[]> = {};
  const cpus = p.runtime.cpus;
  for (const spec of p.user.object.maps) {
    const skipped: readonly number[] = [MapType.ringbuf, MapType.prog_array, MapType.perf_event_array];
    if (skipped.includes(spec.type)) continue;
    const perCpu = spec.type === MapType.percpu_array || spec.type === MapType.percpu_hash;
    const show = (v: Uint8Array) => (perCpu ? foldPerCpu(v, spec.valueSize, cpus) : hex(v));
    const um = p.user.map(spec.name);
    user[spec.name] = [...um.entries()].map(([k, v]) => `${hex(k)}=${show(v)}`).sort();
    const km = p.kern.map(spec.name);
    const entries: string[] = [];
    for (let key = km.nextKey(); key !== undefined; key = km.nextKey(key)) {
      const v = km.lookup(key);
      if (v) entries.push(`${hex(key)}=${show(v)}`);
    }
    kern[spec.name] = entries.sort();
  }
  return { user, kern };
}

function compareRuns(p: Pair, program: string, packets: Uint8Array[]): void {
  for (const [i, data] of packets.entries()) {
    const u = p.user.program(program).testRun({ data });
    const k = p.kern.program(program).testRun({ data });
    assert.equal(u.retval, k.retval, `${program} packet ${i}: retval`);
    assert.equal(hex(u.dataOut!), hex(k.dataOut), `${program} packet ${i}: data_out`);
  }
  const maps = mapContents(p);
  assert.deepEqual(maps.user, maps.kern, `${program}: map contents`);
}

const udpTo = (src: string, dst: string, dport: number, payload = 16) =>
  ethernet({ type: 0x0800, payload: ipv4({ src, dst, payload: udp({ srcPort: 40000, dstPort: dport, payload: new Uint8Array(payload).fill(7) }) }) });
const tcpTo = (src: string, dst: string, dport: number) =>
  ethernet({ type: 0x0800, payload: ipv4({ src, dst, payload: tcp({ srcPort: 40001, dstPort: dport }) }) });

const options = { skip: skipReason };

test('differential: XDP firewall (LPM deny list, per-flow hash, per-CPU counters)', options, () => {
  const deny = ({ user, kern }: Pair): void => {
    const key = new Uint8Array([16, 0, 0, 0, 10, 9, 0, 0]);
    user.map('deny_v4').update(key, u32(1));
    kern.map('deny_v4').update(key, u32(1));
  };
  onBothSides('xdp_firewall.bpf.o', (p) => compareRuns(p, 'xdp_firewall', [
    tcpTo('10.9.1.1', '10.0.0.1', 80),
    udpTo('10.1.1.1', '10.0.0.2', 53),
    udpTo('10.1.1.1', '10.0.0.2', 53, 200),
    tcpTo('10.1.1.2', '10.0.0.2', 443),
    ethernet({ type: 0x0800, payload: ipv4({ src: '10.1.1.3', dst: '10.0.0.2', payload: icmp({ type: 8, code: 0 }) }) }),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '2001:db8::1', dst: '2001:db8::2', payload: tcp({ srcPort: 1, dstPort: 2 }) }) }),
    ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
    ethernet({ type: 0x0800, vlans: [{ id: 42 }], payload: ipv4({ src: '10.1.1.4', dst: '10.0.0.2', payload: udp({ srcPort: 1, dstPort: 2 }) }) }),
    new Uint8Array(14).fill(0xff),
  ]), deny);
});

test('differential: tc rewrite with l3/l4 checksum helpers', options, () => {
  onBothSides('tc_rewrite.bpf.o', (p) => compareRuns(p, 'tc_rewrite', [
    udpTo('10.5.5.5', '10.0.0.1', 53),
    tcpTo('10.5.5.5', '10.0.0.1', 80),
    udpTo('10.5.5.5', '10.0.0.3', 53),
    ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
  ]));
});

test('differential: socket filter', options, () => {
  onBothSides('socket_filter.bpf.o', (p) => compareRuns(p, 'dns_filter', [
    udpTo('10.1.1.1', '10.0.0.2', 53),
    udpTo('10.1.1.1', '10.0.0.2', 53, 300),
    udpTo('10.1.1.1', '10.0.0.2', 54),
    tcpTo('10.1.1.1', '10.0.0.2', 53),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
  ]));
});

test('differential: tail calls through a prog array', options, () => {
  const jumps = ({ user, kern, runtime }: Pair): void => {
    runtime.setTailCall(user.map('jump_table'), 0, user.program('handle_ipv4'));
    runtime.setTailCall(user.map('jump_table'), 1, user.program('handle_ipv6'));
    kern.map('jump_table').update(u32(0), u32(kern.program('handle_ipv4').fd));
    kern.map('jump_table').update(u32(1), u32(kern.program('handle_ipv6').fd));
  };
  onBothSides('tailcall.bpf.o', (p) => compareRuns(p, 'dispatch', [
    udpTo('10.1.1.1', '10.0.0.2', 53),
    ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
    ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
  ]), jumps);
});

test('differential: BPF-to-BPF calls and global data', options, () => {
  onBothSides('calls_globals.bpf.o', (p) => compareRuns(p, 'xdp_calls', [20, 63, 64, 100, 511, 512, 1400].map((n) => new Uint8Array(n).fill(n & 0xff))));
});

test('differential: bpf_loop prime counting', options, () => {
  onBothSides('loop.bpf.o', (p) => compareRuns(p, 'xdp_loop', [new Uint8Array(64)]));
});

test('differential: ring buffer producer (verdicts and global state)', options, () => {
  onBothSides('ringbuf.bpf.o', (p) => {
    compareRuns(p, 'xdp_events', [udpTo('10.1.1.1', '10.0.0.2', 53), new Uint8Array(14), tcpTo('10.1.1.1', '10.0.0.2', 1), new Uint8Array(100)]);
    const records = (p.user.map('events') as import('../../src/maps/ringbuf.js').RingBufMap).drain();
    assert.equal(records.length, 5, '4 events and 1 summary');
  });
});

/** Frames of 14 to 1500 bytes (odd and even lengths, a 1500-byte MTU frame) with varied bytes. */
const checksumFrames = [14, 15, 60, 255, 256, 257, 1023, 1499, 1500].map((n) => new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff));

test('differential: 16-bit checksum over whole packets (bounded loop and bpf_csum_diff agree)', options, () => {
  onBothSides('checksum.bpf.o', (p) => {
    compareRuns(p, 'xdp_csum_loop', checksumFrames);
    const loopSums = checksumFrames.map((data) => {
      p.user.program('xdp_csum_loop').testRun({ data });
      p.user.program('xdp_csum_diff').testRun({ data });
      const bss = p.user.map('.bss').lookup(u32(0))!;
      assert.equal(hex(bss.subarray(0, 2)), hex(bss.subarray(2, 4)), `${data.length} bytes: loop_sum = diff_sum`);
      return hex(bss.subarray(0, 2));
    });
    assert.equal(new Set(loopSums).size, checksumFrames.length, 'each frame has its own checksum');
    compareRuns(p, 'xdp_csum_diff', checksumFrames);
  });
});

test('differential: bpf_loop updating and looking up a hash map', options, () => {
  onBothSides('hash_loop.bpf.o', (p) => compareRuns(p, 'xdp_hash_loop', [udpTo('10.1.1.1', '10.0.0.2', 53), new Uint8Array(14), new Uint8Array(1500), udpTo('10.1.1.1', '10.0.0.2', 53)]));
});
