/**
 * Full ebpf-samples sweep through the Linux backend: every program the kernel oracle gave a verdict
 * for, loaded with tsbpf's object loader, verdicts compared. Needs root and bpf().
 *   npx tsx scripts/kernel-samples.ts [--verbose] [--json OUT]
 */
import { writeFileSync } from 'node:fs';
import { corpus } from '../test/support/paths.js';
import { agreement, readOracle, sweep } from '../test/linux/samples-sweep.js';

const samples = corpus('verifier', 'ebpf-samples');
const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'ebpf-samples.jsonl');
if (!samples || !verdicts) {
  console.error('corpus verifier/ebpf-samples or its kernel verdicts not found in ../shared/corpora');
  process.exit(1);
}
const verbose = process.argv.includes('--verbose');
const jsonAt = process.argv.indexOf('--json');
const started = Date.now();
const cpuAtStart = process.cpuUsage();
const results = sweep(samples, readOracle(verdicts), (r) => {
  if (verbose && r.got !== r.row.kernel_verdict) {
    console.log(`DIFF ${r.row.object} ${r.row.section} ${r.row.function} [${r.row.prog_type_name ?? '?'} via ${r.row.via}]: kernel ${r.row.kernel_verdict}, tsbpf ${r.got}${r.detail ? `: ${r.detail}` : ''}`);
  }
});
const a = agreement(results);
const pct = (n: number, d: number): string => `${((100 * n) / Math.max(1, d)).toFixed(1)}%`;
// CPU time includes the kernel's verification, which runs in this process's bpf() calls.
const cpu = process.cpuUsage(cpuAtStart);
console.log(`ebpf-samples through tsbpf's backend: ${a.agree}/${a.total} verdicts agree (${pct(a.agree, a.total)}); kernel-accepted loaded and accepted: ${a.acceptedAgree}/${a.accepted} (${pct(a.acceptedAgree, a.accepted)}); ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, ${((Date.now() - started) / 1000).toFixed(1)} s wall`);
const byVia = new Map<string, { agree: number; total: number }>();
for (const r of results) {
  const k = r.row.via ?? '?';
  const e = byVia.get(k) ?? { agree: 0, total: 0 };
  e.total++;
  if (r.got === r.row.kernel_verdict) e.agree++;
  byVia.set(k, e);
}
for (const [via, e] of byVia) console.log(`  via ${via}: ${e.agree}/${e.total}`);
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify(results, null, 1));
