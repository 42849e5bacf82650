import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { TsbpfError } from '../errors.js';
import { assemble } from '../isa/asm.js';
import { encode, validate, type Instruction } from '../isa/instruction.js';
import type { Engine } from '../vm/engine.js';
import { AddressSpace } from '../vm/memory.js';
import type { InterpreterRunOptions } from '../vm/interpreter.js';
import { CONFORMANCE_HELPERS } from './helpers.js';
import { parseDataFile, type ConformanceTest } from './parse.js';

/**
 * Runs `.data` tests: assemble (or take `-- raw`), load into a fresh address space with the `-- mem`
 * buffer in r1 and its length in r2, run checked (the programs are unverified), compare r0. A test
 * with `-- error` passes when assembling, loading or running raises an error.
 */

export type Verdict = 'pass' | 'fail' | 'skip';

export interface TestOutcome {
  name: string;
  verdict: Verdict;
  /** What the test expects: `0x2a` or `error: ...`. */
  expected: string;
  /** What happened: `0x2a`, `error: ...`, or the skip reason. */
  actual: string;
}

export interface RunTestOptions {
  engine: Engine;
  /** Executed-instruction budget per test (catches the infinite-loop tests). */
  budget?: number;
}

const DEFAULT_BUDGET = 10_000_000;
/** uBPF refuses programs longer than this at load. */
const UBPF_MAX_INSNS = 65536;

export const hex64 = (value: bigint): string => '0x' + value.toString(16);

/**
 * The load-time checks uBPF makes beyond instruction validity, which its `-- error` tests rely on:
 * program size, a `ja -1` self-loop, and every subprogram ending in exit or an unconditional jump.
 */
export function ubpfLoadChecks(insns: readonly Instruction[]): void {
  if (insns.length > UBPF_MAX_INSNS) {
    throw new TsbpfError('conformance/too-many-insns', `too many instructions (${insns.length}, max ${UBPF_MAX_INSNS})`);
  }
  const ops = validate(insns);
  const ends = new Set<number>([insns.length - 1]);
  ops.forEach((op, i) => {
    if (op?.kind === 'ja' && !op.wide && insns[i]!.off === -1) {
      throw new TsbpfError('conformance/infinite-loop', 'infinite loop', { insn: i });
    }
    if (op?.kind === 'call' && op.target === 'local') {
      const target = i + 1 + insns[i]!.imm;
      if (target > 0) ends.add(target - 1);
    }
  });
  for (const end of ends) {
    const op = ops[end] ?? ops[end - 1];
    if (op === undefined || (op.kind !== 'exit' && op.kind !== 'ja')) {
      throw new TsbpfError('conformance/subprogram-end', 'subprogram does not end with exit or an unconditional jump', { insn: end });
    }
  }
}

function expectedText(test: ConformanceTest): string {
  if (test.error !== undefined || test.errorPattern !== undefined) return `error: ${test.error ?? test.errorPattern}`;
  return test.result === undefined ? '(no result)' : hex64(test.result);
}

/**
 * uBPF tests this runner deliberately does not follow, with the reason (they test uBPF itself, not the
 * instruction set this project implements).
 */
export const KNOWN_DIFFERENCES: ReadonlyMap<string, string> = new Map([
  ['err-unknown-opcode', 'opcode 0x06 is gotol (JMP32 ja, RFC 9669), which uBPF predates'],
  ['reload', "tests uBPF's VM API (loading code twice into one VM)"],
]);

/** uBPF's assembler tests: `-- asm` and `-- raw` with nothing to run; the two must encode alike. */
function isAssemblerTest(test: ConformanceTest): boolean {
  return test.asm !== undefined && test.raw !== undefined && test.result === undefined
    && test.error === undefined && test.errorPattern === undefined;
}

function runAssemblerTest(test: ConformanceTest): TestOutcome {
  const expected = `${test.raw!.length} slots as in -- raw`;
  try {
    const got = encode(assemble(test.asm!, { file: test.file }));
    const want = encode(test.raw!);
    const same = got.length === want.length && got.every((b, i) => b === want[i]);
    if (same) return { name: test.name, verdict: 'pass', expected, actual: expected };
    const slot = Array.from({ length: Math.max(got.length, want.length) / 8 }, (_, i) => i)
      .find((i) => got.subarray(i * 8, i * 8 + 8).join() !== want.subarray(i * 8, i * 8 + 8).join());
    return { name: test.name, verdict: 'fail', expected, actual: `assembled code differs at slot ${slot}` };
  } catch (err) {
    if (!(err instanceof TsbpfError)) throw err;
    return { name: test.name, verdict: 'fail', expected, actual: `error: ${err.message}` };
  }
}

export function runTest(test: ConformanceTest, options: RunTestOptions): TestOutcome {
  const expected = expectedText(test);
  if (test.unsupported !== undefined) return { name: test.name, verdict: 'skip', expected, actual: test.unsupported };
  const difference = KNOWN_DIFFERENCES.get(test.name);
  if (difference !== undefined) return { name: test.name, verdict: 'skip', expected, actual: difference };
  if (test.asm === undefined && test.raw === undefined) return { name: test.name, verdict: 'fail', expected, actual: 'no program (-- asm or -- raw)' };
  if (isAssemblerTest(test)) return runAssemblerTest(test);
  const wantsError = test.error !== undefined || test.errorPattern !== undefined;
  let actual: string;
  let errored = false;
  const space = new AddressSpace();
  try {
    const insns = test.raw ?? assemble(test.asm!, { file: test.file });
    ubpfLoadChecks(insns);
    const mem = space.allocateWith(test.mem, 'packet', 'mem');
    const program = options.engine.load(insns, { space, helpers: CONFORMANCE_HELPERS, checked: true, name: test.name });
    try {
      const runOptions: InterpreterRunOptions = {
        // Without -- mem the program gets NULL, as uBPF passes it (mul-loop.data relies on it).
        args: [test.mem.length === 0 ? 0 : mem.start, test.mem.length],
        budget: options.budget ?? DEFAULT_BUDGET,
        // The packet group: LD_ABS/LD_IND read the -- mem buffer.
        packet: { start: mem.start, length: test.mem.length },
      };
      actual = hex64(program.run(runOptions).r0);
    } finally {
      program.dispose();
    }
  } catch (err) {
    if (!(err instanceof TsbpfError)) throw err;
    errored = true;
    actual = `error: ${err.message}`;
  }
  let verdict: Verdict;
  if (wantsError) verdict = errored ? 'pass' : 'fail';
  else verdict = !errored && test.result !== undefined && actual === hex64(test.result) ? 'pass' : 'fail';
  return { name: test.name, verdict, expected, actual };
}

export interface RunDirectoryOptions extends RunTestOptions {
  /** Only tests whose name contains this. */
  filter?: string;
}

/** Every `.data` file of a directory, sorted by name. */
export function listTests(dir: string, filter?: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.data') && (filter === undefined || f.includes(filter)))
    .sort()
    .map((f) => join(dir, f));
}

export function loadTest(path: string): ConformanceTest {
  const text = readFileSync(path, 'utf8');
  return parseDataFile(text, path, (name) => {
    const referenced = join(dirname(path), name);
    return existsSync(referenced) ? readFileSync(referenced, 'utf8') : undefined;
  });
}

export function runDirectory(dir: string, options: RunDirectoryOptions): TestOutcome[] {
  return listTests(dir, options.filter).map((path) => {
    let test: ConformanceTest;
    try {
      test = loadTest(path);
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw err;
      const name = path.replace(/^.*[\\/]/, '').replace(/\.data$/, '');
      return { name, verdict: 'fail', expected: '(parsable test)', actual: `error: ${err.message}` };
    }
    return runTest(test, options);
  });
}

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

export function tally(outcomes: readonly TestOutcome[]): Tally {
  const t: Tally = { passed: 0, failed: 0, skipped: 0 };
  for (const o of outcomes) {
    if (o.verdict === 'pass') t.passed++;
    else if (o.verdict === 'fail') t.failed++;
    else t.skipped++;
  }
  return t;
}

/** `N passed, M failed` and `, K skipped` when any were skipped. */
export function summaryLine(t: Tally): string {
  return `${t.passed} passed, ${t.failed} failed` + (t.skipped > 0 ? `, ${t.skipped} skipped` : '');
}
