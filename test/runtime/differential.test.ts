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

/**
 * The runtime issue's oracle: every fixture object runs in the userspace runtime and in the kernel
 * (BPF_PROG_TEST_RUN through tsbpf's own object loader) on the same inputs; retval, data_out and the
 * contents of every map must be equal. Skips, saying why, where bpf() is not available.
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

function both(name: string, setup?: (p: Pair) => void): Pair {
  const object = fixture(name);
  const runtime = new Runtime({ cpus: linux!.possibleCpuCount() });
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
  const p = both('xdp_firewall.bpf.o', ({ user, kern }) => {
    const key = new Uint8Array([16, 0, 0, 0, 10, 9, 0, 0]);
    user.map('deny_v4').update(key, u32(1));
    kern.map('deny_v4').update(key, u32(1));
  });
  try {
    compareRuns(p, 'xdp_firewall', [
      tcpTo('10.9.1.1', '10.0.0.1', 80),
      udpTo('10.1.1.1', '10.0.0.2', 53),
      udpTo('10.1.1.1', '10.0.0.2', 53, 200),
      tcpTo('10.1.1.2', '10.0.0.2', 443),
      ethernet({ type: 0x0800, payload: ipv4({ src: '10.1.1.3', dst: '10.0.0.2', payload: icmp({ type: 8, code: 0 }) }) }),
      ethernet({ type: 0x86dd, payload: ipv6({ src: '2001:db8::1', dst: '2001:db8::2', payload: tcp({ srcPort: 1, dstPort: 2 }) }) }),
      ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
      ethernet({ type: 0x0800, vlans: [{ id: 42 }], payload: ipv4({ src: '10.1.1.4', dst: '10.0.0.2', payload: udp({ srcPort: 1, dstPort: 2 }) }) }),
      new Uint8Array(14).fill(0xff),
    ]);
  } finally {
    close(p);
  }
});

test('differential: tc rewrite with l3/l4 checksum helpers', options, () => {
  const p = both('tc_rewrite.bpf.o');
  try {
    compareRuns(p, 'tc_rewrite', [
      udpTo('10.5.5.5', '10.0.0.1', 53),
      tcpTo('10.5.5.5', '10.0.0.1', 80),
      udpTo('10.5.5.5', '10.0.0.3', 53),
      ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
    ]);
  } finally {
    close(p);
  }
});

test('differential: socket filter', options, () => {
  const p = both('socket_filter.bpf.o');
  try {
    compareRuns(p, 'dns_filter', [
      udpTo('10.1.1.1', '10.0.0.2', 53),
      udpTo('10.1.1.1', '10.0.0.2', 53, 300),
      udpTo('10.1.1.1', '10.0.0.2', 54),
      tcpTo('10.1.1.1', '10.0.0.2', 53),
      ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
    ]);
  } finally {
    close(p);
  }
});

test('differential: tail calls through a prog array', options, () => {
  const p = both('tailcall.bpf.o', ({ user, kern, runtime }) => {
    runtime.setTailCall(user.map('jump_table'), 0, user.program('handle_ipv4'));
    runtime.setTailCall(user.map('jump_table'), 1, user.program('handle_ipv6'));
    kern.map('jump_table').update(u32(0), u32(kern.program('handle_ipv4').fd));
    kern.map('jump_table').update(u32(1), u32(kern.program('handle_ipv6').fd));
  });
  try {
    compareRuns(p, 'dispatch', [
      udpTo('10.1.1.1', '10.0.0.2', 53),
      ethernet({ type: 0x86dd, payload: ipv6({ src: '::1', dst: '::2', payload: udp({ srcPort: 1, dstPort: 53 }) }) }),
      ethernet({ type: 0x0806, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }) }),
    ]);
  } finally {
    close(p);
  }
});

test('differential: BPF-to-BPF calls and global data', options, () => {
  const p = both('calls_globals.bpf.o');
  try {
    compareRuns(p, 'xdp_calls', [20, 63, 64, 100, 511, 512, 1400].map((n) => new Uint8Array(n).fill(n & 0xff)));
  } finally {
    close(p);
  }
});

test('differential: bpf_loop prime counting', options, () => {
  const p = both('loop.bpf.o');
  try {
    compareRuns(p, 'xdp_loop', [new Uint8Array(64)]);
  } finally {
    close(p);
  }
});

test('differential: ring buffer producer (verdicts and global state)', options, () => {
  const p = both('ringbuf.bpf.o');
  try {
    compareRuns(p, 'xdp_events', [udpTo('10.1.1.1', '10.0.0.2', 53), new Uint8Array(14), tcpTo('10.1.1.1', '10.0.0.2', 1), new Uint8Array(100)]);
    const records = (p.user.map('events') as import('../../src/maps/ringbuf.js').RingBufMap).drain();
    assert.equal(records.length, 5, '4 events and 1 summary');
  } finally {
    close(p);
  }
});
