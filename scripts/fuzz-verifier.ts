/**
 * Verifier soundness fuzz (issue 4) and engine differential (issue 6): random and mutated programs
 * (xdp, socket_filter, sched_cls, tracepoint, raw_tracepoint; maps, helpers, packets, loops, calls)
 * go to tsbpf's verifier and, as root, the kernel's; accepted programs run on the checked interpreter
 * and the JIT with the same inputs. Prints programs/second, verdicts, and findings by class with a
 * minimised example. Usage:
 *   npx tsx scripts/fuzz-verifier.ts [ITERATIONS=20000] [SEED=1] [--no-kernel] [--no-seeds] [--seconds N]
 */
import { fileURLToPath } from 'node:url';
import { listing } from '../test/verifier/fuzz/edit.js';
import { runFuzz, type FuzzReport } from '../test/verifier/fuzz/fuzz.js';
import { KernelOracle, kernelUnavailableReason } from '../test/verifier/fuzz/kernel.js';
import { fixtureSeeds, selftestSeeds } from '../test/verifier/fuzz/seeds.js';

/** The earlier interface (map-less raw_tracepoint programs, checked interpreter only), kept for its callers. */
const pct = (n: number, d: number): string => (d ? `${((100 * n) / d).toFixed(1)}%` : '-');

export function formatReport(report: FuzzReport, wallMs: number): string {
  const lines: string[] = [];
  lines.push(`programs ${report.programs} (${report.random} random, ${report.mutants} mutants) in ${(wallMs / 1000).toFixed(1)} s wall, ${(report.cpuMs / 1000).toFixed(1)} s CPU: ${(report.programs / (report.cpuMs / 1000)).toFixed(0)} programs/CPU-second`);
  lines.push(`tsbpf accepted ${report.accepted} (${pct(report.accepted, report.programs)}); executions ${report.runs} (not compared: ${report.budgetStops} budget stops, ${report.addressDependent} address-dependent)`);
  if (report.kernelCompared) {
    lines.push(`kernel compared ${report.kernelCompared}, kernel accepted ${report.kernelAccepted} (${pct(report.kernelAccepted, report.kernelCompared)})`);
    lines.push(`unsafe accepts (tsbpf accepts, kernel rejects): ${report.unsafeAccepts}; precision loss (tsbpf rejects, kernel accepts): ${report.precisionLoss}`);
  } else {
    lines.push('kernel comparison: off');
  }
  lines.push(`traps in the checked interpreter: ${report.traps}; interpreter/JIT mismatches: ${report.engineMismatches}; verifier crashes: ${report.verifierCrashes}; runtime refused to load: ${report.loadRefused}`);
  const classes = [...report.findings.values()].sort((a, b) => b.count - a.count);
  for (const cls of classes) {
    lines.push('', `[${cls.kind}] ${cls.count} x ${cls.key}`);
    const detail = cls.detail.split('\n').map((l) => (l.length > 240 ? `${l.slice(0, 240)}...` : l));
    lines.push(`  example (${cls.example.type}, ${cls.example.origin}): ${detail.join('\n  ')}`);
    const constructs = [...cls.constructs].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, n]) => `${n} x ${c}`);
    lines.push(`  constructs: ${constructs.join('; ')}`);
    const program = cls.minimised ?? cls.example.insns;
    lines.push(`  ${cls.minimised ? 'minimised' : 'program'} (${program.length} insns):`, ...listing(program).split('\n').filter(Boolean).map((l) => `    ${l}`));
  }
  if (report.precisionClasses.size) {
    lines.push('', 'precision loss by tsbpf error (top 10):');
    for (const [key, n] of [...report.precisionClasses].sort((a, b) => b[1] - a[1]).slice(0, 10)) lines.push(`  ${n} x ${key}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--seconds');
  const iterations = Number(positional[0] ?? 20000);
  const seed = Number(positional[1] ?? 1);
  const secondsAt = args.indexOf('--seconds');
  const seconds = secondsAt >= 0 ? Number(args[secondsAt + 1]) : undefined;
  const unavailable = args.includes('--no-kernel') ? 'turned off (--no-kernel)' : kernelUnavailableReason();
  if (unavailable) console.log(`kernel comparison skipped: ${unavailable}`);
  const seeds = args.includes('--no-seeds') ? [] : [...selftestSeeds(), ...fixtureSeeds()];
  console.log(`seed ${seed}, ${iterations} programs, ${seeds.length} corpus programs to mutate`);
  const kernel = unavailable ? undefined : new KernelOracle();
  const started = performance.now();
  try {
    const onProgress = (r: Readonly<FuzzReport>): void => {
      console.log(`... ${r.programs} programs, ${(r.programs / (r.cpuMs / 1000)).toFixed(0)}/CPU-s, accepted ${r.accepted}, unsafe accepts ${r.unsafeAccepts}, traps ${r.traps}, engine mismatches ${r.engineMismatches}`);
    };
    const report = runFuzz({
      iterations, seed, seeds, onProgress, ...(kernel ? { kernel } : {}), ...(seconds !== undefined ? { timeLimitMs: seconds * 1000 } : {}),
    });
    console.log(formatReport(report, performance.now() - started));
  } finally {
    kernel?.[Symbol.dispose]();
  }
}
