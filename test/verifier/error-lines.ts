import { readFileSync } from 'node:fs';
import { verify } from '../../src/verifier/index.js';
import { corpus } from '../support/paths.js';
import { ebpfSampleCases, testLoaderCases, testVerifierCases, type Case } from './corpora.js';

/**
 * Error-line agreement with Linux 6.18: for each corpus case both verifiers reject, is tsbpf's error
 * line the kernel's, and are the lines the kernel prints after it (state dumps) printed too?
 * Shared by scripts/error-line-agreement.ts and test/verifier/error-lines.test.ts.
 */

/** Lines the kernel prints after its error: the two states of an infinite loop. */
const DUMP_LINE = /^(cur|old) state: /;
/** The first of the stats lines that close every log. */
const STATS_LINE = /^(verification time \d+ usec|processed \d+ insns )/;

export interface KernelErrorLog {
  /** The line the failing check printed. */
  error: string;
  /** Lines printed after it (state dumps), in order. */
  after: string[];
}

/** The kernel's error line and the dump after it, from a log_level 0 log (source lines and stats left out). */
export function kernelErrorOf(log: string): KernelErrorLog | undefined {
  // Some checks print without a newline, gluing their line to the stats.
  const lines = log.replace(/([^\n])(verification time \d+ usec\n)/, '$1\n$2').split('\n');
  const end = lines.findIndex((l) => STATS_LINE.test(l));
  if (end >= 0) lines.length = end;
  for (let i = lines.length - 1; i >= 0; i--) if (!lines[i] || lines[i]!.startsWith('; ')) lines.splice(i, 1);
  const after: string[] = [];
  while (lines.length && DUMP_LINE.test(lines.at(-1)!)) after.unshift(lines.pop()!);
  const error = lines.at(-1);
  return error === undefined ? undefined : { error, after };
}

type CorpusName = Case['corpus'];
interface VerdictRow { idx?: number; descr?: string; file?: string; func?: string; object?: string; section?: string; function?: string; kernel_log?: string }

/** The case name corpora.ts gives each verdict row. */
const caseName = (corpusName: CorpusName, r: VerdictRow): string =>
  corpusName === 'test_verifier' ? `#${r.idx} ${r.descr}` : corpusName === 'test_loader' ? `${r.file}:${r.func}` : `${r.object}:${r.section}/${r.function}`;

function kernelLogs(corpusName: CorpusName): Map<string, KernelErrorLog> {
  const path = corpus('verifier', 'kernel-6.18-verdicts', `${corpusName}.jsonl`);
  const out = new Map<string, KernelErrorLog>();
  if (!path) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as VerdictRow;
    const parsed = row.kernel_log ? kernelErrorOf(row.kernel_log) : undefined;
    if (parsed) out.set(caseName(corpusName, row), parsed);
  }
  return out;
}

export interface ErrorLineDiff { name: string; kernel: KernelErrorLog; tsbpf: KernelErrorLog }
export interface Agreement { corpus: CorpusName; bothReject: number; sameLine: number; withDump: number; sameDump: number; diffs: ErrorLineDiff[] }

/** tsbpf's error line and what its log prints after it (before the stats line). */
function tsbpfErrorOf(message: string, log: string): KernelErrorLog {
  // Some checks print without a newline, gluing their line to the stats.
  const lines = log.replace(/([^\n])(verification time \d+ usec\n)/, '$1\n$2').split('\n');
  const at = lines.lastIndexOf(message);
  const after = at < 0 ? [] : lines.slice(at + 1).filter((l) => DUMP_LINE.test(l));
  return { error: message, after };
}

const LOADERS: Record<CorpusName, () => Case[]> = { test_verifier: testVerifierCases, test_loader: testLoaderCases, 'ebpf-samples': ebpfSampleCases };
export const CORPORA: readonly CorpusName[] = ['test_verifier', 'test_loader', 'ebpf-samples'];

export function errorLineAgreement(corpusName: CorpusName): Agreement {
  const logs = kernelLogs(corpusName);
  const result: Agreement = { corpus: corpusName, bothReject: 0, sameLine: 0, withDump: 0, sameDump: 0, diffs: [] };
  for (const c of LOADERS[corpusName]()) {
    const kernel = logs.get(c.name);
    if (!c.program || c.kernel !== 'reject' || !kernel) continue;
    const r = verify(c.program, {
      strictAlignment: c.strictAlignment ?? false, sleepable: c.sleepable ?? false, ...(c.unprivOnly ? { mode: 'unpriv' as const } : {}),
    });
    if (r.verdict !== 'reject') continue;
    result.bothReject++;
    const tsbpf = tsbpfErrorOf(r.error!.message, r.log);
    const sameLine = tsbpf.error === kernel.error;
    if (sameLine) result.sameLine++;
    if (kernel.after.length) {
      result.withDump++;
      if (sameLine && tsbpf.after.join('\n') === kernel.after.join('\n')) result.sameDump++;
    }
    if (!sameLine || tsbpf.after.join('\n') !== kernel.after.join('\n')) result.diffs.push({ name: c.name, kernel, tsbpf });
  }
  return result;
}
