/**
 * Bench section: the runtime's fixtures per run on the interpreter and the JIT, beside the kernel's
 * BPF_PROG_TEST_RUN average for the same object and packet, measured in the same process (when bpf()
 * works here).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openObject, type BpfObject } from '../src/object/index.js';
import { Runtime, type LoadedProgram } from '../src/runtime/index.js';
import { ethernet, ipv4, udp } from '../src/net/build.js';
import type { Engine } from '../src/vm/engine.js';
import { loadEngine } from '../src/vm/engines.js';
import type { BenchSection, BenchTable } from './bench.js';

const root = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

const udpFrame = (payloadBytes: number): Uint8Array =>
  ethernet({ type: 0x0800, payload: ipv4({ src: '10.1.1.1', dst: '10.0.0.1', payload: udp({ srcPort: 40000, dstPort: 53, payload: new Uint8Array(payloadBytes).map((_, i) => i * 7) }) }) });
/** 74 bytes: the firewall's and filters' usual packet. */
const smallPacket = udpFrame(32);
/** 1500 bytes: an MTU-sized frame for the checksums. */
const mtuPacket = udpFrame(1500 - 14 - 20 - 8);

interface Case {
  fixture: string;
  program: string;
  what: string;
  data: Uint8Array;
}

const CASES: Case[] = [
  { fixture: 'xdp_firewall.bpf.o', program: 'xdp_firewall', what: 'XDP firewall (parse, LPM, flow hash, per-CPU)', data: smallPacket },
  { fixture: 'tc_rewrite.bpf.o', program: 'tc_rewrite', what: 'tc rewrite + checksum helpers', data: smallPacket },
  { fixture: 'socket_filter.bpf.o', program: 'dns_filter', what: 'socket filter (skb_load_bytes)', data: smallPacket },
  { fixture: 'checksum.bpf.o', program: 'xdp_csum_loop', what: 'checksum of 1500 bytes (bounded loop)', data: mtuPacket },
  { fixture: 'checksum.bpf.o', program: 'xdp_csum_diff', what: 'checksum of 1500 bytes (bpf_csum_diff)', data: mtuPacket },
  { fixture: 'hash_loop.bpf.o', program: 'xdp_hash_loop', what: 'bpf_loop: 256 hash-map updates + lookups', data: smallPacket },
  { fixture: 'loop.bpf.o', program: 'xdp_loop', what: 'primes below 1000 with nested bpf_loop', data: smallPacket },
];

/** Each sample runs long enough for the timers (~40 ms); the figure is the median of 5 samples. */
const SAMPLE_NS = 40e6;
const SAMPLES = 5;

/** Repeat count that makes one sample last about SAMPLE_NS, from a first estimate of one run's time. */
const repeatFor = (estimateNs: number): number => Math.min(1_000_000, Math.max(1, Math.round(SAMPLE_NS / Math.max(1, estimateNs))));
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
const cpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/** CPU ns per run of `repeat` runs in one test run. */
function cpuPerRun(program: LoadedProgram, data: Uint8Array, repeat: number): number {
  const start = cpuNs();
  program.testRun({ data, repeat });
  return (cpuNs() - start) / repeat;
}

/** A pause for V8's background compiles to land (they share the CPUs with the measuring thread). */
const SETTLE_MS = 100;
const settle = (): Promise<void> => new Promise((done) => setTimeout(done, SETTLE_MS));

/**
 * CPU ns per run in the userspace runtime: warm-up test runs of growing repeat until one lasts a
 * quarter sample, a pause, then calibrated samples until two in a row agree within 10% (V8 tiers up
 * the interpreter's loop and the JIT's wasm over the first ~100 ms: earlier figures are several times
 * too slow), then the median of SAMPLES samples. The pause matters on a loaded machine: V8 compiles
 * in the background, and a compile of the interpreter's loop (~13 KB of bytecode) queued behind
 * others could take longer than all the samples, which then all measured the baseline tier (15x).
 */
async function userspace(object: BpfObject, c: Case, engine: Engine): Promise<number> {
  const runtime = new Runtime({ engine });
  try {
    const program = runtime.loadObject(object, { programs: [c.program], checked: false }).program(c.program);
    let repeat = 1;
    let estimate = cpuPerRun(program, c.data, repeat);
    while (estimate * repeat < SAMPLE_NS / 4 && repeat < 1_000_000) {
      repeat *= 4;
      estimate = cpuPerRun(program, c.data, repeat);
    }
    await settle();
    estimate = cpuPerRun(program, c.data, repeat);
    repeat = repeatFor(estimate);
    for (let previous = Infinity, i = 0; i < 25; i++) {
      estimate = cpuPerRun(program, c.data, repeat);
      if (Math.abs(estimate - previous) < 0.1 * previous) break;
      previous = estimate;
    }
    return median(Array.from({ length: SAMPLES }, () => cpuPerRun(program, c.data, repeat)));
  } finally {
    runtime.close();
  }
}

/** Why bpf() cannot be used here, or undefined when it can be tried. */
export function kernelUnavailable(): string | undefined {
  return process.platform === 'linux' && process.getuid?.() === 0 ? undefined : 'needs root on Linux';
}

/** The kernel's average ns per run (its BPF_PROG_TEST_RUN duration), or why there is none. */
async function kernelAverage(object: BpfObject, c: Case): Promise<number | string> {
  const unavailable = kernelUnavailable();
  if (unavailable) return unavailable;
  try {
    const { loadObjectIntoKernel } = await import('../src/linux/kernel-object.js');
    const kernel = loadObjectIntoKernel(object, { programs: [c.program] });
    try {
      const program = kernel.program(c.program);
      const repeat = repeatFor(program.testRun({ data: c.data, repeat: 100 }).durationNs);
      return median(Array.from({ length: SAMPLES }, () => program.testRun({ data: c.data, repeat }).durationNs));
    } finally {
      kernel.close();
    }
  } catch (e) {
    return `kernel: ${(e as Error).message.slice(0, 60)}`;
  }
}

/** A time per run in the unit that keeps three or four digits. */
export function formatNs(ns: number): string {
  if (ns >= 1e7) return `${(ns / 1e6).toFixed(1)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} us`;
  return `${ns.toFixed(0)} ns`;
}

async function engineTime(object: BpfObject, c: Case, engine: Engine): Promise<number | string> {
  try {
    return await userspace(object, c, engine);
  } catch (e) {
    return `failed: ${(e as Error).message.slice(0, 50)}`;
  }
}

const shown = (x: number | string): string => (typeof x === 'number' ? formatNs(x) : x);
const ratio = (a: number | string, b: number | string): string => (typeof a === 'number' && typeof b === 'number' ? `${(a / b).toFixed(1)}x` : '-');

export const runtimeSection: BenchSection = {
  title: 'Runtime fixtures: time per run, interpreter and JIT beside the kernel JIT (BPF_PROG_TEST_RUN)',
  async run(): Promise<BenchTable | string> {
    const interp = loadEngine('interp');
    const jit = loadEngine('jit');
    const rows: string[][] = [];
    for (const c of CASES) {
      const object = openObject(new Uint8Array(readFileSync(join(root, 'test', 'fixtures', 'progs', c.fixture))), { fileName: c.fixture });
      const kernel = await kernelAverage(object, c);
      const slow = await engineTime(object, c, interp);
      const fast = await engineTime(object, c, jit);
      rows.push([c.what, `${c.data.length} B`, shown(slow), shown(fast), shown(kernel), ratio(slow, fast), ratio(fast, kernel)]);
    }
    return {
      columns: ['program', 'packet', 'interp', 'jit', 'kernel', 'interp/jit', 'jit/kernel'],
      rows,
      notes: [
        'Same object (test/fixtures/progs), same packet, BPF_PROG_TEST_RUN repeat semantics (maps keep their state across runs).',
        'tsbpf: CPU time per run (user+system) after warm-up and a 100 ms pause for V8\'s background compiles, over a repeat sized to ~40 ms, median of 5; kernel: its own test-run average, median of 5.',
        'tsbpf runs unchecked here (as the kernel runs verified code); FACTS.md: kernel ~55 ns/packet for a parser + LPM + flow hash program.',
      ],
    };
  },
};
