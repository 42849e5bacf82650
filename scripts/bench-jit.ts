/**
 * JIT figures: time per run and ns per instruction on the bpf-benchmark programs (unchecked, checked,
 * the interpreter, and the kernel JIT where its verifier takes the raw program), the checked-mode
 * overhead, the bpf_loop fixture, compile time of a 1,000-instruction program. Prints figures, asserts
 * nothing. Run: `npx tsx scripts/bench-jit.ts`;
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
import { formatNs, kernelUnavailable } from './bench-runtime.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..');
const benchDir = resolve(root, '..', 'shared', 'corpora', 'bench', 'bpf-benchmark');
const loopFixture = join(root, 'test', 'fixtures', 'progs', 'loop.bpf.o');

/** Dynamic instruction counts from the corpus README; the corpus's other programs are counted here. */
const DYNAMIC: Record<string, number> = {
  prime: 2_367_891, memcpy: 8_388_610, strcmp_full: 11_534_336, switch: 59_352, log2_int: 33_275,
};
const UNCOUNTED = ['strcmp_fail', 'simple', 'memory_a_plus_b'];

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
 * Time per run: the best of several batches (each at least ~25 ms, run by the engine's repeat loop)
 * in CPU time, so other load on the machine inflates the figure as little as possible.
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
    // The engine's own repeat loop, as BPF_PROG_TEST_RUN's repeat is the kernel's.
    r0 = program.runRepeated({ args }, perBatch).r0;
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

interface ProgramRow {
  name: string; dyn: number; jit: number; checked: number; interp: number | undefined; same: boolean;
  /** The kernel JIT's ms per run, or why there is no figure. */
  kernel: number | string;
}

/** Dynamic instruction count of one run on the interpreter, for programs the README does not count. */
function countInstructions(engine: Engine, insns: Instruction[], mem: Uint8Array | undefined): number {
  const space = new AddressSpace();
  const region = mem ? space.allocateWith(mem, 'packet', 'mem') : undefined;
  const program = engine.load(insns, { space });
  try {
    return program.run({ args: region ? [region.start, mem!.length] : [] }).executed;
  } finally {
    program.dispose();
  }
}

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/**
 * The raw program in the kernel as XDP, its memory as the packet: a prologue sets r1 = data and
 * r2 = data_end - data (r1 = r2 = 0 without memory, as the engines run it), then the program as is.
 * Returns the kernel's test-run average in ms (median of 5), or the kernel's reason for refusing it.
 */
async function kernelRun(insns: Instruction[], mem: Uint8Array | undefined, name: string): Promise<number | string> {
  const unavailable = kernelUnavailable();
  if (unavailable) return unavailable;
  const { BpfProgram, BpfSyscallError, BpfVerifierError } = await import('../src/linux/index.js');
  const prologue = mem
    ? [I(0x61, 2, 1, 4), I(0x61, 1, 1, 0), I(0x1f, 2, 1)]
    : [I(0xb7, 1), I(0xb7, 2)];
  let program: InstanceType<typeof BpfProgram>;
  try {
    // A fixed 1 MiB log: the kernel keeps its tail (with the error) instead of the loader regrowing it.
    program = BpfProgram.load({ type: 'XDP', insns: [...prologue, ...insns], name, logLevel: 1, logSize: 1 << 20, maxLogSize: 1 << 20 });
  } catch (e) {
    if (e instanceof BpfVerifierError) return `kernel verifier: ${firstErrorLine(e.log) ?? e.summary}`;
    return `kernel load: ${(e as Error).message.slice(0, 60)}`;
  }
  try {
    const data = mem ?? new Uint8Array(64);
    const once = program.testRun({ data, repeat: 10 }).durationNs;
    const repeat = Math.min(1_000_000, Math.max(1, Math.round(40e6 / Math.max(1, once))));
    const samples = Array.from({ length: 5 }, () => program.testRun({ data, repeat }).durationNs);
    return samples.sort((x, y) => x - y)[2]! / 1e6;
  } catch (e) {
    if (e instanceof BpfSyscallError) return `kernel test run: ${e.errnoName} (${mem?.length ?? 64}-byte packet)`;
    throw e;
  } finally {
    program.close();
  }
}

/**
 * The first line of the verifier's complaint: what follows the last instruction it printed ("invalid
 * access to packet, off=0 size=1, ..." rather than the "R1 offset is outside of the packet" after it).
 */
function firstErrorLine(log: string): string | undefined {
  const lines = log.split('\n');
  let lastInsn = -1;
  lines.forEach((line, i) => { if (/^\d+: \([0-9a-f]{2}\)/.test(line)) lastInsn = i; });
  const error = lines[lastInsn + 1];
  return lastInsn >= 0 && error ? error.trim() : undefined;
}

/** The bpf-benchmark programs on the JIT (unchecked and checked), the interpreter and the kernel. */
async function measurePrograms(totalMs: number): Promise<ProgramRow[]> {
  const interp = await interpreterEngine();
  const rows: ProgramRow[] = [];
  for (const name of [...Object.keys(DYNAMIC), ...UNCOUNTED]) {
    const bin = join(benchDir, `${name}.bpf.bin`);
    if (!existsSync(bin)) continue;
    const memPath = join(benchDir, `${name}.mem`);
    const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : undefined;
    const insns = decode(new Uint8Array(readFileSync(bin)));
    const fast = timeRuns(jit, insns, mem, false, totalMs);
    const checked = timeRuns(jit, insns, mem, true, totalMs);
    const slow = interp ? timeRuns(interp, insns, mem, false, totalMs) : undefined;
    const dyn = DYNAMIC[name] ?? (interp ? countInstructions(interp, insns, mem) : NaN);
    rows.push({
      name, dyn, jit: fast.ms, checked: checked.ms, interp: slow?.ms,
      same: checked.r0 === fast.r0 && (slow === undefined || slow.r0 === fast.r0),
      kernel: await kernelRun(insns, mem, name),
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

/** CPU and wall time (us per program) of one compile phase: the best batch, and the median batch. */
interface PhaseFigures { cpuBest: number; cpuMedian: number; wallBest: number; wallMedian: number }

interface CompilePhase {
  name: string;
  /** What the figure includes. */
  includes: string;
  /** Work on one program (a fresh one each time, but for the cached load). */
  work: (program: Instruction[]) => void;
  /** The phase compiles nothing: it reloads the same program from tsbpf's module cache. */
  cached?: boolean;
}

const COMPILE_BATCHES = 9;
const PROGRAMS_PER_BATCH = 20;
const WARM_UP_PROGRAMS = 100;
const median = (values: number[]): number => [...values].sort((x, y) => x - y)[values.length >> 1]!;
const settle = (): Promise<void> => new Promise((done) => setTimeout(done, 50));

/**
 * Compile time of a 1,000-instruction program, phase by phase. Every program timed is a distinct one
 * (its first immediate differs), so neither tsbpf's module cache nor V8's (which reuses a compiled
 * module for identical bytes) answers. Each phase starts after a 50 ms pause, so V8's background work
 * from the phase before (compilation, concurrent GC) ends outside it, as process CPU time counts
 * every thread; then 100 programs warm the compiler up (steady state, as a process loading many
 * programs sees); then 9 batches of 20 back to back (a pause before each batch lets the CPU cool
 * down and made every figure ~30% worse). Best and median batch, CPU and wall.
 */
async function measureCompile(): Promise<{ phase: CompilePhase; figures: PhaseFigures }[]> {
  const base = syntheticProgram(1000);
  let serial = 0;
  const fresh = (): Instruction[] => {
    const program = base.slice();
    program[0] = { ...base[0]!, imm: ++serial };
    return program;
  };
  const space = new AddressSpace();
  const phases: CompilePhase[] = [
    { name: 'codegen', includes: 'eBPF to wasm bytes (JS)', work: (p) => { compileProgram(p, false); } },
    {
      name: 'codegen + WebAssembly.Module', includes: 'V8 decodes and validates; functions compile at their first call',
      work: (p) => { new WebAssembly.Module(compileProgram(p, false).bytes); },
    },
    { name: 'load, uncached', includes: 'codegen, Module, instance, stack and register file', work: (p) => jit.load(p, { space }).dispose() },
    {
      name: 'load + first run', includes: 'the load, then V8 compiles (Liftoff) the functions the run calls',
      work: (p) => { const loaded = jit.load(p, { space }); loaded.run(); loaded.dispose(); },
    },
    { name: 'load, cached', includes: 'module from the cache: instance and set-up', work: (p) => jit.load(p, { space }).dispose(), cached: true },
  ];
  const results: { phase: CompilePhase; figures: PhaseFigures }[] = [];
  for (const phase of phases) {
    await settle();
    for (let i = 0; i < WARM_UP_PROGRAMS; i++) phase.work(phase.cached ? base : fresh());
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let b = 0; b < COMPILE_BATCHES; b++) {
      const programs = Array.from({ length: PROGRAMS_PER_BATCH }, () => (phase.cached ? base : fresh()));
      const wall0 = NOW();
      const cpu0 = cpuMs();
      for (const program of programs) phase.work(program);
      cpu.push(((cpuMs() - cpu0) * 1000) / PROGRAMS_PER_BATCH);
      wall.push(((NOW() - wall0) * 1000) / PROGRAMS_PER_BATCH);
    }
    results.push({ phase, figures: { cpuBest: Math.min(...cpu), cpuMedian: median(cpu), wallBest: Math.min(...wall), wallMedian: median(wall) } });
  }
  clearJitCache();
  return results;
}

const perRun = (ms: number): string => formatNs(ms * 1e6);

async function buildTable(totalMs: number): Promise<BenchTable> {
  const rows: string[][] = [];
  const notes: string[] = [];
  if (!existsSync(benchDir)) notes.push(`bpf-benchmark corpus not found at ${benchDir}`);
  for (const r of await measurePrograms(totalMs)) {
    rows.push([
      r.name, r.dyn.toLocaleString('en-US'), perRun(r.jit), (r.jit * 1e6 / r.dyn).toFixed(2), perRun(r.checked),
      `${((r.checked / r.jit - 1) * 100).toFixed(0)}%`, r.interp === undefined ? '-' : perRun(r.interp),
      r.interp === undefined ? '-' : `${(r.interp / r.jit).toFixed(1)}x`, r.same ? 'same' : 'DIFFERS',
      typeof r.kernel === 'number' ? `${(r.jit / r.kernel).toFixed(1)}x` : '-',
      typeof r.kernel === 'number' ? perRun(r.kernel) : r.kernel,
    ]);
  }
  const interp = await interpreterEngine();
  if (existsSync(loopFixture)) {
    const fast = measureLoopFixture(jit, false, 200);
    const checked = measureLoopFixture(jit, true, 200);
    const slow = interp ? measureLoopFixture(interp, false, 3) : undefined;
    rows.push([
      'loop.bpf.o (bpf_loop)', '-', formatNs(fast), '-', formatNs(checked), `${((checked / fast - 1) * 100).toFixed(0)}%`,
      slow === undefined ? '-' : formatNs(slow), slow === undefined ? '-' : `${(slow / fast).toFixed(1)}x`, '-', '-', 'runtime section',
    ]);
    notes.push('loop.bpf.o: primes below 1000 with nested bpf_loop through the runtime (the JIT inlines bpf_loop with a constant callback); the kernel figure is in the runtime section.');
  }
  for (const { phase, figures: f } of await measureCompile()) {
    notes.push(`compile 1000 insns, ${phase.name}: CPU ${f.cpuBest.toFixed(0)} us (median ${f.cpuMedian.toFixed(0)}), wall ${f.wallBest.toFixed(0)} us (median ${f.wallMedian.toFixed(0)}); ${phase.includes}`);
  }
  notes.push(`compile: best of ${COMPILE_BATCHES} batches of ${PROGRAMS_PER_BATCH} distinct programs (median batch in parentheses) after ${WARM_UP_PROGRAMS} to warm up, a pause before each phase for background work to end; issue 6 goal: uncached load < 1 ms.`);
  notes.push('times per run: best batch in CPU time; overhead = checked / unchecked - 1 (issue 6 goal: <= 30% on memcpy and strcmp_full).');
  notes.push('a batch is one runRepeated: the JIT runs it in the module\'s own loop (one call from JS), as the kernel runs its repeat loop in the kernel.');
  notes.push('kernel: the raw program loaded as XDP (prologue: r1 = packet = its memory, r2 = length), BPF_PROG_TEST_RUN average, median of 5; otherwise the verifier\'s error line, verbatim.');
  notes.push('dyn. insns: the corpus README\'s counts; for strcmp_fail, simple and memory_a_plus_b, the interpreter\'s count of one run.');
  return {
    columns: ['program', 'dyn. insns', 'jit', 'ns/insn', 'checked', 'overhead', 'interp', 'speedup', 'r0', 'jit/kernel', 'kernel'],
    rows,
    notes,
  };
}

export const jitSection: BenchSection = {
  title: 'WebAssembly JIT: bpf-benchmark per run (unchecked, checked, interpreter, kernel JIT), bpf_loop, compile time',
  async run(): Promise<BenchTable | string> {
    return buildTable(600);
  },
};

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const { formatTable } = await import('./bench.js');
  console.log(formatTable(await buildTable(1500)));
}
