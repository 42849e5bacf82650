import type { Instruction } from '../../../src/isa/instruction.js';
import { verify, type VerifierMapRef } from '../../../src/verifier/index.js';
import { constructOf, errorClass } from './classify.js';
import { executeAccepted, type ExecutionFinding } from './execute.js';
import { randomProgram, type FuzzProgram } from './generate.js';
import type { KernelOracle, KernelVerdict } from './kernel.js';
import { minimise } from './minimise.js';
import { mutate } from './mutate.js';
import { Rng } from './rng.js';
import { MAPS, PROG_TYPES } from './targets.js';

/**
 * The soundness fuzz (issue 4) and engine differential (issue 6): random and mutated programs go to
 * tsbpf's verifier and, when given, the kernel's; accepted ones run on both engines.
 */

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** The kernel to compare with; without it only the execution checks run. */
  kernel?: KernelOracle;
  /** Real programs to mutate (selftests, fixtures). */
  seeds?: readonly FuzzProgram[];
  runsPerProgram?: number;
  /** Also run accepted programs on the JIT and compare (default true); off: checked interpreter only. */
  differential?: boolean;
  /** Minimise the first program of each new unsafe-accept class (costs kernel calls). */
  minimise?: boolean;
  /** Stop early after this much wall time. */
  timeLimitMs?: number;
  /** Called every `progressEvery` programs (long runs print a line). */
  onProgress?: (report: Readonly<FuzzReport>) => void;
  progressEvery?: number;
}

export type FindingKind = 'unsafe-accept' | 'trap' | 'engine-mismatch' | 'load-refused' | 'verifier-crash';

export interface FindingClass {
  kind: FindingKind;
  /** The kernel's error line, generalised (or the trap / mismatch / exception kind). */
  key: string;
  count: number;
  /** Constructs (the instruction the kernel stopped at) seen in this class, with counts. */
  constructs: Map<string, number>;
  example: FuzzProgram;
  /** The kernel's line, the trap, or the engines' outcomes for the example. */
  detail: string;
  minimised?: Instruction[];
}

export interface FuzzReport {
  programs: number;
  random: number;
  mutants: number;
  accepted: number;
  kernelCompared: number;
  kernelAccepted: number;
  /** tsbpf accepts, the kernel rejects. */
  unsafeAccepts: number;
  /** tsbpf rejects, the kernel accepts, by tsbpf's generalised error line. */
  precisionLoss: number;
  precisionClasses: Map<string, number>;
  runs: number;
  budgetStops: number;
  /** Runs not compared because the outcome depends on where things are in memory. */
  addressDependent: number;
  traps: number;
  engineMismatches: number;
  verifierCrashes: number;
  /** Accepted by the verifier, refused by the runtime's loader. */
  loadRefused: number;
  findings: Map<string, FindingClass>;
  cpuMs: number;
}

const POOL_SIZE = 400;
const MAP_IDX = 5;
const MAP_IDX_VALUE = 6;

/**
 * The fd_array references (BPF_PSEUDO_MAP_IDX, and _VALUE) the kernel resolves; any other map
 * reference (a mutated src) names an fd the kernel does not have, so tsbpf gets no map for it either.
 */
function mapRefsOf(insns: readonly Instruction[]): VerifierMapRef[] {
  const refs: VerifierMapRef[] = [];
  for (let i = 0; i + 1 < insns.length; i++) {
    const insn = insns[i]!;
    if (insn.code !== 0x18) continue;
    if (insn.src === MAP_IDX || insn.src === MAP_IDX_VALUE) {
      refs.push({ insn: i, map: insn.imm, ...(insn.src === MAP_IDX_VALUE ? { kind: 'value' as const, offset: insns[i + 1]!.imm } : {}) });
    }
    i++;
  }
  return refs;
}

function tsbpfVerdict(program: FuzzProgram): { accept: boolean; error?: string; crash?: string } {
  try {
    const result = verify({ insns: program.insns, type: program.type, maps: MAPS, mapRefs: mapRefsOf(program.insns) });
    return result.verdict === 'accept' ? { accept: true } : { accept: false, error: result.error?.message ?? 'rejected' };
  } catch (e) {
    const error = e as Error & { code?: unknown };
    // A TsbpfError with a code is a refusal of malformed input; anything else is a crash.
    if (typeof error.code === 'string') return { accept: false, error: error.message };
    return { accept: false, crash: `${error.name}: ${error.message}` };
  }
}

export function runFuzz(options: FuzzOptions): FuzzReport {
  const rng = new Rng(options.seed);
  const report: FuzzReport = {
    programs: 0, random: 0, mutants: 0, accepted: 0, kernelCompared: 0, kernelAccepted: 0, unsafeAccepts: 0, precisionLoss: 0,
    precisionClasses: new Map(), runs: 0, budgetStops: 0, addressDependent: 0, traps: 0, engineMismatches: 0, verifierCrashes: 0, loadRefused: 0, findings: new Map(), cpuMs: 0,
  };
  const seeds = options.seeds ?? [];
  const pool: FuzzProgram[] = [];
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const { kernel } = options;

  const record = (kind: FindingKind, key: string, program: FuzzProgram, detail: string, construct: string): FindingClass => {
    const id = `${kind}: ${key}`;
    let cls = report.findings.get(id);
    if (!cls) {
      cls = { kind, key, count: 0, constructs: new Map(), example: program, detail };
      report.findings.set(id, cls);
    }
    cls.count++;
    cls.constructs.set(construct, (cls.constructs.get(construct) ?? 0) + 1);
    return cls;
  };

  for (let it = 0; it < options.iterations; it++) {
    if (options.timeLimitMs !== undefined && performance.now() - started > options.timeLimitMs) break;
    if (options.onProgress && it > 0 && it % (options.progressEvery ?? 5000) === 0) {
      const cpu = process.cpuUsage(cpuStart);
      report.cpuMs = (cpu.user + cpu.system) / 1000;
      options.onProgress(report);
    }
    const draw = rng.next();
    let program: FuzzProgram;
    if (draw < 0.5 || (seeds.length === 0 && pool.length === 0)) {
      program = randomProgram(rng, rng.pick(PROG_TYPES));
      report.random++;
    } else {
      const parent = draw < 0.75 && seeds.length ? rng.pick(seeds) : pool.length ? rng.pick(pool) : rng.pick(seeds);
      program = mutate(parent, rng);
      report.mutants++;
    }
    report.programs++;
    const ours = tsbpfVerdict(program);
    if (ours.crash) {
      report.verifierCrashes++;
      record('verifier-crash', errorClass(ours.crash), program, ours.crash, 'verify() threw');
      continue;
    }
    let theirs: KernelVerdict | undefined;
    if (kernel) {
      theirs = kernel.verify(program.insns, program.type);
      report.kernelCompared++;
      if (theirs.verdict === 'accept') report.kernelAccepted++;
    }
    if (!ours.accept) {
      if (theirs?.verdict === 'accept') {
        report.precisionLoss++;
        const key = errorClass(ours.error ?? 'rejected');
        report.precisionClasses.set(key, (report.precisionClasses.get(key) ?? 0) + 1);
      }
      continue;
    }
    report.accepted++;
    // Mutants of programs both verifiers accept probe new edges; those of known findings repeat them.
    if (theirs?.verdict !== 'reject') {
      if (pool.length < POOL_SIZE) pool.push(program);
      else pool[rng.below(POOL_SIZE)] = program;
    }
    if (kernel && theirs?.verdict === 'reject') {
      report.unsafeAccepts++;
      // One class per kernel line and construct: the same line can come from unrelated rules.
      const key = `${errorClass(theirs.error ?? 'rejected')} @ ${constructOf(program.insns, theirs.insn)}`;
      const cls = record('unsafe-accept', key, program, theirs.error ?? '', constructOf(program.insns, theirs.insn));
      if (cls.count === 1 && options.minimise !== false) {
        cls.minimised = minimise(program.insns, (candidate) => {
          if (!tsbpfVerdict({ ...program, insns: candidate }).accept) return false;
          const verdict = kernel.verify(candidate, program.type);
          return verdict.verdict === 'reject' && key.startsWith(`${errorClass(verdict.error ?? 'rejected')} @ `);
        });
      }
    }
    const execution = executeAccepted(program.insns, program.type, rng, options.runsPerProgram ?? 3, options.differential ?? true);
    report.runs += execution.runs;
    report.budgetStops += execution.budgetStops;
    report.addressDependent += execution.addressDependent;
    if (execution.finding) noteExecution(execution.finding, program);
  }
  const cpu = process.cpuUsage(cpuStart);
  report.cpuMs = (cpu.user + cpu.system) / 1000;
  return report;

  function noteExecution(finding: ExecutionFinding, program: FuzzProgram): void {
    if (finding.kind === 'trap') report.traps++;
    else if (finding.kind === 'engine-mismatch') report.engineMismatches++;
    else report.loadRefused++;
    const key = errorClass(finding.key);
    const cls = record(finding.kind, key, program, finding.detail, finding.kind);
    if (cls.count === 1 && options.minimise !== false) {
      cls.minimised = minimise(program.insns, (candidate) => {
        if (!tsbpfVerdict({ ...program, insns: candidate }).accept) return false;
        const again = executeAccepted(candidate, program.type, new Rng(options.seed), 3, options.differential ?? true).finding;
        return again?.kind === finding.kind && errorClass(again.key) === key;
      }, 150);
    }
  }
}
