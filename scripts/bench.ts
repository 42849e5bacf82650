/**
 * `npm run bench`: figures, never assertions. Each section measures one part of tsbpf and prints one
 * table; add a section by appending to SECTIONS (JIT, kernel, filter ...).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '../src/isa/instruction.js';
import type { Engine, RunResult } from '../src/vm/engine.js';
import { interpreter } from '../src/vm/interpreter.js';
import { AddressSpace } from '../src/vm/memory.js';

export interface BenchTable {
  columns: string[];
  rows: string[][];
  notes?: string[];
}

export interface BenchSection {
  title: string;
  /** Returns the table, or a reason the section cannot run here. */
  run(): Promise<BenchTable | string>;
}

/** The repository root (where package.json is), from scripts/ or dist/scripts/. */
const repoRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
})();

export const benchmarkDir = resolve(repoRoot, '..', 'shared', 'corpora', 'bench', 'bpf-benchmark');

/** bpf-benchmark programs and their dynamic instruction counts (from the corpus README). */
export const BPF_BENCHMARK: ReadonlyArray<{ name: string; expectedInsns: number }> = [
  { name: 'prime', expectedInsns: 2_367_891 },
  { name: 'memcpy', expectedInsns: 8_388_610 },
  { name: 'strcmp_full', expectedInsns: 11_534_336 },
  { name: 'switch', expectedInsns: 59_352 },
  { name: 'log2_int', expectedInsns: 33_275 },
];

export interface EngineMeasurement {
  r0: bigint;
  executed: number;
  /** Median CPU time (user + system) per executed instruction, in ns: steady on a shared machine. */
  cpuNsPerInsn: number;
  /** Median wall-clock time per executed instruction, in ns. */
  wallNsPerInsn: number;
  samples: number;
}

/** Each sample runs the program until at least this many instructions executed (timer resolution). */
const SAMPLE_INSNS = 2_000_000;

/**
 * Run one bpf-benchmark program on an engine: r1 = its memory (when it has a .mem file), r2 = length.
 * Warms up, then takes `samples` samples (each one or more whole runs) and reports the medians.
 */
export function measureProgram(engine: Engine, name: string, samples = 9): EngineMeasurement {
  const insns = decode(readFileSync(join(benchmarkDir, `${name}.bpf.bin`)));
  const memPath = join(benchmarkDir, `${name}.mem`);
  const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : new Uint8Array(0);
  const space = new AddressSpace();
  const region = space.allocateWith(mem, 'packet', 'mem');
  const program = engine.load(insns, { space, name });
  const args = [mem.length === 0 ? 0 : region.start, mem.length];
  // Programs may write their memory: restore it before every run so each run does the same work.
  const runOnce = (): RunResult => {
    space.u8.set(mem, region.start);
    return program.run({ args });
  };
  let result = runOnce();
  for (let i = 0; i < 3; i++) result = runOnce();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let s = 0; s < samples; s++) {
    let executed = 0;
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    do {
      result = runOnce();
      executed += Math.max(1, result.executed);
    } while (executed < SAMPLE_INSNS);
    const wallNs = Number(process.hrtime.bigint() - wall0);
    const used = process.cpuUsage(cpu0);
    cpu.push(((used.user + used.system) * 1000) / executed);
    wall.push(wallNs / executed);
  }
  program.dispose();
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { r0: result.r0, executed: result.executed, cpuNsPerInsn: median(cpu), wallNsPerInsn: median(wall), samples };
}

const interpreterSection: BenchSection = {
  title: 'Interpreter on bpf-benchmark (ns per executed instruction)',
  async run() {
    if (!existsSync(benchmarkDir)) return `corpus not found: ${benchmarkDir}`;
    const rows = BPF_BENCHMARK.map(({ name, expectedInsns }) => {
      const m = measureProgram(interpreter, name);
      const count = m.executed === expectedInsns ? 'ok' : `MISMATCH (corpus: ${expectedInsns.toLocaleString('en-US')})`;
      return [name, m.executed.toLocaleString('en-US'), count, m.cpuNsPerInsn.toFixed(2), m.wallNsPerInsn.toFixed(2), '0x' + m.r0.toString(16)];
    });
    return {
      columns: ['program', 'executed insns', 'count check', 'ns/insn (cpu)', 'ns/insn (wall)', 'r0'],
      rows,
      notes: [
        'Medians of 9 samples of >= 2M instructions each; cpu = user+system time, steadier than wall time when the machine is shared.',
        'Peers (bpf-benchmark 2023, FACTS.md): prime on the uBPF interpreter 12.8 ns/insn, rbpf 5.5.',
      ],
    };
  },
};

/** Sections in print order; others append theirs (JIT, kernel, filter ...). */
export const SECTIONS: BenchSection[] = [interpreterSection];

export function formatTable(table: BenchTable): string {
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(table.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line), ...(table.notes ?? [])].join('\n');
}

async function main(): Promise<void> {
  // Loaded here, not at the top: bench-runtime imports this module for its types.
  SECTIONS.push((await import('./bench-runtime.js')).runtimeSection);
  SECTIONS.push((await import('./bench-jit.js')).jitSection);
  SECTIONS.push((await import('./bench-filter.js')).filterSection);
  SECTIONS.push((await import('./bench-verifier.js')).verifierSection);
  process.stdout.write(`tsbpf bench (node ${process.version}, ${new Date().toISOString()})\n`);
  for (const section of SECTIONS) {
    process.stdout.write(`\n## ${section.title}\n\n`);
    const table = await section.run();
    process.stdout.write((typeof table === 'string' ? `skipped: ${table}` : formatTable(table)) + '\n');
  }
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await main();
