import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TsbpfError } from '../errors.js';
import { packetFilter, type FilterEngine } from './apply.js';
import type { CompileFilter } from './filter-loader.js';
import { dltFromLinkType, readCapture, type CaptureContents } from '../net/index.js';

/**
 * The libpcap 1.10.3 oracle (corpora pcap-filter/libpcap-1.10.3-oracle): for each capture, link
 * type and expression, what libpcap did (compiled or which error; instruction counts; per-packet
 * verdicts of the unoptimised program). This module replays a row with our compiler and filter.
 */
export type OracleStatus = 'OK' | 'ERR' | 'OPTERR' | 'OPT_UNOPT_DIFFER';

export interface OracleRow {
  file: string;
  linkTypeName: string;
  exprIndex: number;
  expr: string;
  status: OracleStatus;
  optimisedCount?: number;
  unoptimisedCount?: number;
  /** '1'/'0' per packet, for the unoptimised program. */
  verdicts: string;
  error?: string;
}

export interface Oracle {
  rows: OracleRow[];
  /** Captures: libpcap's own test files are named `libpcap-NAME` in the rows. */
  capturePath(file: string): string | undefined;
}

export function loadOracle(corporaDir: string): Oracle {
  const dir = join(corporaDir, 'pcap-filter', 'libpcap-1.10.3-oracle');
  if (!existsSync(dir)) throw new TsbpfError('cbpf/no-oracle', `oracle not found at ${dir}`);
  const exprs = readFileSync(join(dir, 'exprs.txt'), 'utf8').split('\n');
  const text = gunzipSync(readFileSync(join(dir, 'verdicts.tsv.gz'))).toString('utf8');
  const rows: OracleRow[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [file, linkTypeName, index, status, opt, unopt, verdicts, error] = line.split('\t');
    const exprIndex = Number(index);
    rows.push({
      file: file!, linkTypeName: linkTypeName!, exprIndex, expr: exprs[exprIndex] ?? '', status: status as OracleStatus,
      optimisedCount: opt ? Number(opt) : undefined, unoptimisedCount: unopt ? Number(unopt) : undefined,
      verdicts: verdicts ?? '', error: error || undefined,
    });
  }
  const pcaps = join(corporaDir, 'pcap-filter', 'tcpdump-pcaps');
  const testrun = join(corporaDir, 'pcap-filter', 'libpcap-testrun', 'pcaps');
  return {
    rows,
    capturePath(file: string): string | undefined {
      const path = file.startsWith('libpcap-') ? join(testrun, file.slice('libpcap-'.length)) : join(pcaps, file);
      return existsSync(path) ? path : undefined;
    },
  };
}

export type OracleOutcome =
  | { agree: true; sameCounts: boolean }
  | { agree: false; sameCounts: boolean; reason: string };

/**
 * Replays one row: where libpcap failed we must fail; where it compiled, the unoptimised program
 * must give its per-packet verdicts, and so must the optimised one (status OK), or the optimised
 * compile must fail (OPTERR). Instruction counts are compared but reported apart.
 */
export function replayOracleRow(row: OracleRow, capture: CaptureContents, compile: CompileFilter, engine: FilterEngine = 'js'): OracleOutcome {
  const options = { linkType: dltFromLinkType(capture.info.linkType), snaplen: capture.info.snaplen };
  const attempt = (optimize: boolean): { prog?: ReturnType<CompileFilter>; error?: string } => {
    try {
      return { prog: compile(row.expr, { ...options, optimize }) };
    } catch (err) {
      if (err instanceof TsbpfError) return { error: err.message };
      throw err;
    }
  };
  const verdicts = (prog: ReturnType<CompileFilter>): string => {
    const filter = packetFilter(prog, engine);
    let out = '';
    for (const p of capture.packets) out += filter(p.data, p.wireLength) !== 0 ? '1' : '0';
    return out;
  };
  const unopt = attempt(false);
  if (row.status === 'ERR') {
    return unopt.error !== undefined
      ? { agree: true, sameCounts: true }
      : { agree: false, sameCounts: true, reason: `libpcap: ${row.error ?? 'failed'}; we compiled it` };
  }
  if (!unopt.prog) return { agree: false, sameCounts: false, reason: `we failed: ${unopt.error}` };
  const opt = attempt(true);
  const sameCounts = unopt.prog.length === row.unoptimisedCount && (row.status === 'OPTERR' ? opt.prog === undefined : opt.prog?.length === row.optimisedCount);
  const unoptVerdicts = verdicts(unopt.prog);
  if (unoptVerdicts !== row.verdicts) return { agree: false, sameCounts, reason: `unoptimised: ours ${unoptVerdicts}, libpcap ${row.verdicts}` };
  if (row.status === 'OPTERR') {
    return opt.prog === undefined ? { agree: true, sameCounts } : { agree: false, sameCounts, reason: `libpcap optimiser: ${row.error}; ours compiled` };
  }
  if (!opt.prog) return { agree: false, sameCounts, reason: `our optimised compile failed: ${opt.error}` };
  if (row.status === 'OK') {
    const optVerdicts = verdicts(opt.prog);
    if (optVerdicts !== row.verdicts) return { agree: false, sameCounts, reason: `optimised: ours ${optVerdicts}, libpcap ${row.verdicts}` };
  }
  return { agree: true, sameCounts };
}

/** Reads each capture once. */
export class CaptureCache {
  private readonly cache = new Map<string, CaptureContents>();
  get(path: string): CaptureContents {
    let capture = this.cache.get(path);
    if (!capture) { capture = readCapture(path); this.cache.set(path, capture); }
    return capture;
  }
}
