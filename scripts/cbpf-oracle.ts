/**
 * Replays the whole libpcap 1.10.3 oracle (115,464 capture x expression rows) with our pcap-filter
 * compiler and classic BPF engine, and prints the agreement and every disagreement's class
 * (ORACLE_DISAGREEMENT_CLASSES in src/cbpf/oracle.ts); exit status 1 when one is unclassified.
 *
 *   npx tsx scripts/cbpf-oracle.ts [--engine js|interp] [--show N] [--stride N]
 */
import { parseArgs } from 'node:util';
import { corporaDir } from '../test/support/paths.js';
import { filterCompiler } from '../src/cbpf/filter-loader.js';
import { CaptureCache, classifyDisagreement, loadOracle, replayOracleRow } from '../src/cbpf/oracle.js';
import type { FilterEngine } from '../src/cbpf/apply.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'js' },
    show: { type: 'string', default: '20' },
    stride: { type: 'string', default: '1' },
  },
});
if (!corporaDir) {
  console.error('corpora not found (../shared/corpora)');
  process.exit(2);
}
const oracle = loadOracle(corporaDir);
const captures = new CaptureCache();
const compile = filterCompiler();
const stride = Math.max(1, Number(values.stride));
const started = performance.now();
let replayed = 0, agreed = 0, sameCounts = 0, missing = 0;
const byStatus = new Map<string, { replayed: number; agreed: number }>();
const byExpr = new Map<string, number>();
const examples: string[] = [];
const byClass = new Map<string, number>();
for (let i = 0; i < oracle.rows.length; i += stride) {
  const row = oracle.rows[i]!;
  const path = oracle.capturePath(row.file);
  if (!path) { missing++; continue; }
  const capture = captures.get(path);
  const outcome = replayOracleRow(row, capture, compile, values.engine as FilterEngine);
  replayed++;
  const tally = byStatus.get(row.status) ?? { replayed: 0, agreed: 0 };
  tally.replayed++;
  if (outcome.sameCounts) sameCounts++;
  if (outcome.agree) { agreed++; tally.agreed++; }
  else {
    const cls = classifyDisagreement(row, outcome, capture, compile)?.name ?? 'UNKNOWN';
    byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
    if (cls === 'UNKNOWN') {
      byExpr.set(row.expr, (byExpr.get(row.expr) ?? 0) + 1);
      if (examples.length < Number(values.show)) examples.push(`  ${row.file} ${row.linkTypeName} #${row.exprIndex} '${row.expr}': ${outcome.reason}`);
    }
  }
  byStatus.set(row.status, tally);
}
const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(2)}%`;
console.log(`libpcap 1.10.3 oracle: ${agreed}/${replayed} rows agree (${pct(agreed, replayed)}); same instruction counts ${sameCounts}/${replayed} (${pct(sameCounts, replayed)})`);
for (const [status, t] of [...byStatus].sort()) console.log(`  ${status.padEnd(16)} ${t.agreed}/${t.replayed} (${pct(t.agreed, t.replayed)})`);
if (missing) console.log(`  ${missing} rows skipped: capture missing`);
console.log(`disagreements by class (${replayed - agreed} rows):`);
for (const [cls, n] of [...byClass].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${cls}`);
console.log(`${byExpr.size} expressions disagree without a class; worst:`);
for (const [expr, n] of [...byExpr].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${String(n).padStart(5)}  ${expr}`);
if (examples.length) console.log('examples:\n' + examples.join('\n'));
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s, engine ${values.engine})`);
if (byClass.has('UNKNOWN')) process.exitCode = 1;
