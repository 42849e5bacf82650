/**
 * Filter compile speed: N `host H and port P` pairs joined with `or`, compiled with optimisation (the
 * optimiser's worst case in libpcap: 1,000 pairs took libpcap 1.10.3 382 s and 915 MB). Each size runs in
 * its own process so its peak memory (max RSS) is its own. Figures only.
 *
 *   npx tsx scripts/bench-filter-compile.ts [--pairs 100,1000,5000] [--no-optimize] [--phases]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileFilter, compileFilterToCfg } from '../src/cbpf/filter/index.js';
import { optimize } from '../src/cbpf/filter/optimize.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '100,1000,5000' },
    'no-optimize': { type: 'boolean', default: false },
    phases: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});

/** `host 10.a.b.c and port P or ...`: distinct hosts and ports, like a list of flows. */
export function hostPortPairs(count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(`host 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} and port ${1024 + i}`);
  }
  return parts.join(' or ');
}

if (values.child !== undefined) {
  const pairs = Number(values.child);
  const expr = hostPortPairs(pairs);
  const optimizeOn = !values['no-optimize'];
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let detail = '';
  let length: number;
  if (values.phases && optimizeOn) {
    const cfg = compileFilterToCfg(expr);
    const generated = performance.now();
    optimize(cfg);
    detail = ` (generate ${(generated - start).toFixed(0)} ms, optimise ${(performance.now() - generated).toFixed(0)} ms)`;
    length = -1;
  } else {
    length = compileFilter(expr, { optimize: optimizeOn }).length;
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const size = length >= 0 ? `${length} instructions, ` : '';
  console.log(`${String(pairs).padStart(6)} pairs: ${size}${ms.toFixed(0)} ms${detail} (CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms), ` +
    `max RSS ${rssMb.toFixed(0)} MB`);
} else {
  const self = fileURLToPath(import.meta.url);
  console.log(`compile with${values['no-optimize'] ? 'out' : ''} optimisation (node ${process.version})`);
  for (const n of values.pairs.split(',').map(Number)) {
    const args = ['--import', 'tsx', self, '--child', String(n)];
    if (values['no-optimize']) args.push('--no-optimize');
    if (values.phases) args.push('--phases');
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (r.status !== 0) console.log(`${n} pairs: failed (status ${r.status})`);
  }
}
