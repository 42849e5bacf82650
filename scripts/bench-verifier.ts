/**
 * Verifier figures over ebpf-samples at the kernel's 1M-instruction budget: CPU time per program beside
 * the kernel's own `verification_time_usec` for the same program, processed instructions and states
 * beside the kernel's, and verdict agreement. Prints figures, asserts nothing.
 * Run from the build: `npm run -s build && node dist/scripts/bench-verifier.js` (the whole corpus;
 * `--sample N` every Nth program, `--worst K` rows per list, `--json FILE` per-program figures); tsx's
 * transform about doubles the verifier's time. `npm run bench` prints the section `verifierSection`.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ebpfSampleCases, type Case, type KernelStats } from '../test/verifier/corpora.js';
import { verify } from '../src/verifier/index.js';
import type { BenchSection, BenchTable } from './bench.js';

export interface ProgramFigures {
  name: string;
  verdict: 'accept' | 'reject';
  kernelVerdict: 'accept' | 'reject';
  /** Median CPU time of our verification, in microseconds. */
  cpuUs: number;
  processedInsns: number;
  totalStates: number;
  peakStates: number;
  kernel: KernelStats;
}

const cpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system; };

/**
 * Programs that verify in under this much CPU time run at least 3 times, and up to 5 until this much
 * in all, for a median: with 2 runs a collection or a compilation landing in one is half the figure.
 */
const REPEAT_BELOW_US = 20_000;
/**
 * A program whose first time is over this many times the kernel's runs at least 3 times whatever its
 * size (on a shared machine one run can take a collection or a preemption the median leaves out),
 * and is measured again after the others.
 */
const RECHECK_ABOVE_RATIO = 5;

function measure(c: Case & { program: NonNullable<Case['program']> }): { cpu: number; verdict: 'accept' | 'reject'; stats: { processedInsns: number; totalStates: number; peakStates: number } } {
  const times: number[] = [];
  let verdict: 'accept' | 'reject' = 'reject';
  let stats = { processedInsns: 0, totalStates: 0, peakStates: 0 };
  do {
    const start = cpuUs();
    const r = verify(c.program, { strictAlignment: c.strictAlignment ?? false, sleepable: c.sleepable ?? false });
    times.push(cpuUs() - start);
    verdict = r.verdict;
    stats = r.stats;
  } while (
    times.length < 5 &&
    (times.reduce((a, b) => a + b, 0) < REPEAT_BELOW_US ||
      (times.length < 3 && (times[0]! < REPEAT_BELOW_US || times[0]! > RECHECK_ABOVE_RATIO * c.kernelStats!.timeUs)))
  );
  return { cpu: median(times), verdict, stats };
}

/** The middle value; for an even count the mean of the two middle ones (not the upper one, which for 2 runs is the worse). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Programs the kernel verifies in under this many microseconds make the warm-up pass: the mid-size
 * ones too, since V8 optimises some of the verifier's code only once they make it hot, tens of
 * milliseconds of compiling on its helper threads otherwise charged to whichever of them runs first.
 */
const WARM_UP_BELOW_US = 20_000;

/** Verify every `sample`-th ebpf-samples program that has a kernel verdict and figures, after a warm-up pass over all but the slowest. */
export function measureCorpus(sample = 1): ProgramFigures[] {
  const cases = ebpfSampleCases().filter((c): c is Case & { program: NonNullable<Case['program']> } => !!c.program && !!c.kernel && !!c.kernelStats);
  const picked = cases.filter((_, i) => i % sample === 0);
  // Warm-up: V8 compiles the verifier's hot paths; without it the first programs measure the compiler.
  for (const c of cases) if (c.kernelStats!.timeUs < WARM_UP_BELOW_US) verify(c.program, {});
  const measured = picked.map((c) => ({ c, m: measure(c) }));
  // A second look, after all the others, at programs over 5x the kernel: work on V8's helper threads
  // that an earlier program set off (a collection's marking, a compilation) is charged to the process
  // and can span all the runs of a small program. The lower of the two medians stands.
  for (const entry of measured) {
    if (entry.m.cpu <= RECHECK_ABOVE_RATIO * entry.c.kernelStats!.timeUs) continue;
    const again = measure(entry.c);
    if (again.cpu < entry.m.cpu) entry.m = again;
  }
  return measured.map(({ c, m }) => ({
    name: c.name, verdict: m.verdict, kernelVerdict: c.kernel!, cpuUs: m.cpu,
    processedInsns: m.stats.processedInsns, totalStates: m.stats.totalStates, peakStates: m.stats.peakStates, kernel: c.kernelStats!,
  }));
}

const ratio = (p: ProgramFigures): number => p.cpuUs / Math.max(p.kernel.timeUs, 1);
const ms = (us: number): string => (us / 1000).toFixed(1);

export function summarise(figures: readonly ProgramFigures[], worst = 5, label = 'all'): BenchTable {
  const total = figures.reduce((a, p) => a + p.cpuUs, 0);
  const kernelTotal = figures.reduce((a, p) => a + p.kernel.timeUs, 0);
  const agree = figures.filter((p) => p.verdict === p.kernelVerdict).length;
  const unsafe = figures.filter((p) => p.verdict === 'accept' && p.kernelVerdict === 'reject').length;
  // Ratios only where the verdicts agree: a verdict the kernel reached early is not the same work.
  const agreeing = figures.filter((p) => p.verdict === p.kernelVerdict);
  const ratios = agreeing.map(ratio).sort((a, b) => a - b);
  const medianRatio = ratios.length ? median(ratios) : 0;
  const row = (kind: string, p: ProgramFigures): string[] => [
    kind, p.name, ms(p.cpuUs), ms(p.kernel.timeUs), ratio(p).toFixed(1), String(p.processedInsns), String(p.kernel.processedInsns),
    String(p.totalStates), String(p.kernel.totalStates), p.verdict === p.kernelVerdict ? p.verdict : `${p.verdict} (kernel ${p.kernelVerdict})`,
  ];
  const byRatio = [...agreeing].sort((a, b) => ratio(b) - ratio(a)).slice(0, worst);
  const bySlowest = [...figures].sort((a, b) => b.cpuUs - a.cpuUs).slice(0, worst);
  return {
    columns: ['list', 'program', 'tsbpf ms', 'kernel ms', 'ratio', 'processed', 'kernel processed', 'states', 'kernel states', 'verdict'],
    rows: [
      ['total', `${figures.length} programs (${label})`, ms(total), ms(kernelTotal), (total / Math.max(kernelTotal, 1)).toFixed(1), '', '', '', '', `${agree} agree`],
      ...byRatio.map((p) => row('worst ratio', p)),
      ...bySlowest.map((p) => row('slowest', p)),
    ],
    notes: [
      `median per-program ratio (tsbpf CPU time / kernel verification_time_usec, the ${agreeing.length} agreeing programs): ${medianRatio.toFixed(2)}; over 5x: ${ratios.filter((r) => r > 5).length}; over 10x: ${ratios.filter((r) => r > 10).length}`,
      `verdict agreement ${agree}/${figures.length}; tsbpf accepts what the kernel rejects: ${unsafe}`,
      'CPU time (process.cpuUsage, all of the process\'s threads: V8 compiles and collects on helper threads), median of 3 to 5 runs for programs under 20 ms and of 3 for any over 5x the kernel (measured again after the others, the lower median kept), after a warm-up pass over the programs the kernel verifies in under 20 ms; the kernel\'s times are from its verdict file.',
    ],
  };
}

/** `npm run bench` runs a sample to stay within its time; the script alone runs the whole corpus. */
const SECTION_SAMPLE = 1;

export const verifierSection: BenchSection = {
  title: 'Verifier: ebpf-samples at the 1M budget, beside the kernel',
  async run(): Promise<BenchTable | string> {
    const figures = measureCorpus(SECTION_SAMPLE);
    if (!figures.length) return 'the ebpf-samples corpus or its kernel verdicts are missing (../shared/corpora/verifier)';
    return summarise(figures, 5, SECTION_SAMPLE === 1 ? 'whole corpus' : `every ${SECTION_SAMPLE}th program; whole corpus: npx tsx scripts/bench-verifier.ts`);
  },
};

async function main(): Promise<void> {
  const { formatTable } = await import('./bench.js');
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const sample = Number(option('--sample') ?? 1);
  const figures = measureCorpus(sample);
  const json = option('--json');
  if (json) writeFileSync(json, JSON.stringify(figures, null, 1));
  process.stdout.write(formatTable(summarise(figures, Number(option('--worst') ?? 5), sample === 1 ? 'whole corpus' : `every ${sample}th program`)) + '\n');
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) await main();
