/**
 * JIT figures: time per run and ns per instruction on the bpf-benchmark programs (unchecked, checked,
 * and the interpreter for comparison), the checked-mode overhead, the bpf_loop fixture, compile time of
 * a 1,000-instruction program. Prints figures, asserts nothing. Run: `npx tsx scripts/bench-jit.ts`;
 * `npm run bench` prints the same as the section `jitSection`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, type Instruction } from '../src/isa/index.js';
import { AddressSpace } from '../src/vm/memory.js';
import type { Engine } from '../src/vm/engine.js';
import { jit, clearJitCache } from '../src/vm/jit/index.js';
import { compileProgram } from '../src/vm/jit/compile.js';
import { openObject } from '../src/object/index.js';
import { Runtime } from '../src/runtime/index.js';
import type { BenchSection, BenchTable } from './bench.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..');
const benchDir = resolve(root, '..', 'shared', 'corpora', 'bench', 'bpf-benchmark');
const loopFixture = join(root, 'test', 'fixtures', 'progs', 'loop.bpf.o');

/** Dynamic instruction counts from the corpus README. */
const DYNAMIC: Record<string, number> = {
  prime: 2_367_891, memcpy: 8_388_610, strcmp_full: 11_534_336, switch: 59_352, log2_int: 33_275,
};

async function interpreterEngine(): Promise<Engine | undefined> {
  try {
    const mod = (await import('../src/vm/interpreter.js')) as { interpreter?: Engine };
    return mod.interpreter;
  } catch {
    return undefined;
  }
}

/** Process CPU time in ms: unlike wall time, it does not count the time other processes hold the CPU. */
const NOW = (): number => performance.now();
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * Time per run: the best of several batches (each at least ~25 ms) in CPU time, so other load on the
 * machine inflates the figure as little as possible.
 */
function timeRuns(engine: Engine, insns: Instruction[], mem: Uint8Array | undefined, checked: boolean, totalMs: number): { ms: number; r0: bigint } {
  const space = new AddressSpace();
  const region = mem ? space.allocateWith(mem, 'packet', 'mem') : undefined;
  const program = engine.load(insns, { space, checked });
  const args = region ? [region.start, mem!.length] : [];
  let r0 = program.run({ args }).r0; // warm-up (and tier-up)
  let t0 = NOW();
  let perBatch = 1;
  while (NOW() - t0 < 25) { program.run({ args }); perBatch++; }
  let best = Infinity;
  const start = NOW();
  while (NOW() - start < totalMs) {
    t0 = cpuMs();
    for (let i = 0; i < perBatch; i++) r0 = program.run({ args }).r0;
    best = Math.min(best, (cpuMs() - t0) / perBatch);
  }
  program.dispose();
  return { ms: best, r0 };
}

function syntheticProgram(n: number): Instruction[] {
  // A mix of ALU, loads/stores on the stack, and forward branches: n slots ending in exit.
  const insns: Instruction[] = [{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }];
  while (insns.length < n - 1) {
    const k = insns.length;
    switch (k % 6) {
      case 0: insns.push({ code: 0x07, dst: 0, src: 0, off: 0, imm: k }); break;
      case 1: insns.push({ code: 0x7b, dst: 10, src: 0, off: -8 * ((k % 8) + 1), imm: 0 }); break;
      case 2: insns.push({ code: 0x79, dst: 1, src: 10, off: -8 * ((k % 8) + 1), imm: 0 }); break;
      case 3: insns.push({ code: 0x15, dst: 1, src: 0, off: 1, imm: k }); break;
      case 4: insns.push({ code: 0x2f, dst: 0, src: 1, off: 0, imm: 0 }); break;
      default: insns.push({ code: 0xa7, dst: 0, src: 0, off: 0, imm: 0x55 }); break;
    }
  }
  insns.push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return insns;
}

interface ProgramRow { name: string; dyn: number; jit: number; checked: number; interp: number | undefined; same: boolean }

/** The bpf-benchmark programs on the JIT (unchecked and checked) and the interpreter. */
async function measurePrograms(totalMs: number): Promise<ProgramRow[]> {
  const interp = await interpreterEngine();
  const rows: ProgramRow[] = [];
  for (const name of Object.keys(DYNAMIC)) {
    const bin = join(benchDir, `${name}.bpf.bin`);
    if (!existsSync(bin)) continue;
    const memPath = join(benchDir, `${name}.mem`);
    const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : undefined;
    const insns = decode(new Uint8Array(readFileSync(bin)));
    const fast = timeRuns(jit, insns, mem, false, totalMs);
    const checked = timeRuns(jit, insns, mem, true, totalMs);
    const slow = interp ? timeRuns(interp, insns, mem, false, totalMs) : undefined;
    rows.push({
      name, dyn: DYNAMIC[name]!, jit: fast.ms, checked: checked.ms, interp: slow?.ms,
      same: checked.r0 === fast.r0 && (slow === undefined || slow.r0 === fast.r0),
    });
  }
  return rows;
}

/** loop.bpf.o (primes below 1000, nested bpf_loop) through the runtime: CPU ns per run, best of 5. */
function measureLoopFixture(engine: Engine, checked: boolean, repeat: number): number {
  const runtime = new Runtime({ engine });
  try {
    const object = openObject(new Uint8Array(readFileSync(loopFixture)), { fileName: 'loop.bpf.o' });
    const program = runtime.loadObject(object, { programs: ['xdp_loop'], checked }).program('xdp_loop');
    const data = new Uint8Array(64);
    program.testRun({ data, repeat });
    let best = Infinity;
    for (let k = 0; k < 5; k++) {
      const t0 = cpuMs();
      program.testRun({ data, repeat });
      best = Math.min(best, ((cpuMs() - t0) * 1e6) / repeat);
    }
    return best;
  } finally {
    runtime.close();
  }
}

interface CompileFigures { firstRun: number; gen: number; full: number; load: number; cached: number }

/** Compile time of a 1,000-instruction program (ms): codegen, + WebAssembly.Module, load, first run. */
function measureCompile(reps: number): CompileFigures {
  const program = syntheticProgram(1000);
  for (let i = 0; i < 50; i++) new WebAssembly.Module(compileProgram(program, false).bytes);
  let t0 = cpuMs();
  for (let i = 0; i < reps; i++) compileProgram(program, false);
  const gen = (cpuMs() - t0) / reps;
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) new WebAssembly.Module(compileProgram(program, false).bytes);
  const full = (cpuMs() - t0) / reps;
  const space = new AddressSpace();
  clearJitCache();
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) { clearJitCache(); jit.load(program, { space }).dispose(); }
  const load = (cpuMs() - t0) / reps;
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) jit.load(program, { space }).dispose();
  const cached = (cpuMs() - t0) / reps;
  // Uncached load plus the first run (WebAssembly may compile functions lazily on first call).
  t0 = cpuMs();
  for (let i = 0; i < reps; i++) {
    clearJitCache();
    const loaded = jit.load(program, { space });
    loaded.run();
    loaded.dispose();
  }
  const firstRun = (cpuMs() - t0) / reps;
  return { firstRun, gen, full, load, cached };
}

const us = (ms: number): string => `${(ms * 1000).toFixed(0)} us`;

async function buildTable(totalMs: number): Promise<BenchTable> {
  const rows: string[][] = [];
  const notes: string[] = [];
  if (!existsSync(benchDir)) notes.push(`bpf-benchmark corpus not found at ${benchDir}`);
  for (const r of await measurePrograms(totalMs)) {
    rows.push([
      r.name, r.dyn.toLocaleString('en-US'), r.jit.toFixed(3), (r.jit * 1e6 / r.dyn).toFixed(2), r.checked.toFixed(3),
      `${((r.checked / r.jit - 1) * 100).toFixed(0)}%`, r.interp === undefined ? '-' : r.interp.toFixed(3),
      r.interp === undefined ? '-' : `${(r.interp / r.jit).toFixed(1)}x`, r.same ? 'same' : 'DIFFERS',
    ]);
  }
  const interp = await interpreterEngine();
  if (existsSync(loopFixture)) {
    const fast = measureLoopFixture(jit, false, 200);
    const checked = measureLoopFixture(jit, true, 200);
    const slow = interp ? measureLoopFixture(interp, false, 3) : undefined;
    rows.push([
      'loop.bpf.o (bpf_loop)', '-', (fast / 1e6).toFixed(3), '-', (checked / 1e6).toFixed(3), `${((checked / fast - 1) * 100).toFixed(0)}%`,
      slow === undefined ? '-' : (slow / 1e6).toFixed(3), slow === undefined ? '-' : `${(slow / fast).toFixed(1)}x`, '-',
    ]);
    notes.push('loop.bpf.o: primes below 1000 with nested bpf_loop through the runtime (the JIT inlines bpf_loop with a constant callback); the kernel figure is in the runtime section.');
  }
  const c = measureCompile(100);
  notes.push(`compile 1000 insns (CPU): codegen ${us(c.gen)}, codegen + WebAssembly.Module ${us(c.full)}, load uncached ${us(c.load)}, load cached ${us(c.cached)}, uncached load + first run ${us(c.firstRun)}`);
  notes.push('ms per run: best batch in CPU time; overhead = checked / unchecked - 1 (issue 6 goal: <= 30% on memcpy and strcmp_full).');
  return {
    columns: ['program', 'dyn. insns', 'jit ms', 'ns/insn', 'checked ms', 'overhead', 'interp ms', 'speedup', 'r0'],
    rows,
    notes,
  };
}

export const jitSection: BenchSection = {
  title: 'WebAssembly JIT: bpf-benchmark per run (unchecked, checked, interpreter), bpf_loop, compile time',
  async run(): Promise<BenchTable | string> {
    return buildTable(600);
  },
};

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const { formatTable } = await import('./bench.js');
  console.log(formatTable(await buildTable(1500)));
}
