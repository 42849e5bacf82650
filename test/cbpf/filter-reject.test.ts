import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { compileFilter, FilterError } from '../../src/cbpf/filter/index.js';
import { TsbpfError } from '../../src/errors.js';

/**
 * libpcap's reject tests: every expression must fail with a typed FilterError (a TsbpfError with a
 * stable code). The full corpus is 16,077 rows (6 are capture-file tests without an expression,
 * skipped); by default a deterministic 1-in-4 sample runs (TSBPF_FULL_CORPUS=1 for all). Rows whose
 * error is "expression rejects all packets" come from the optimiser: they are compiled with
 * optimisation and only counted when the optimiser is present (the stub leaves them accepted).
 */
const dir = corpus('pcap-filter', 'libpcap-testrun');

interface RejectRow { name: string; DLT?: string; expr?: string; errstr: string; savefile?: string }

const REJECTS_ALL = 'expression rejects all packets';

test('reject corpus: every expression fails with a typed error', (t) => {
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const rows = JSON.parse(readFileSync(join(dir, 'libpcap_filter_reject_tests.json'), 'utf8')) as RejectRow[];
  const step = process.env['TSBPF_FULL_CORPUS'] ? 1 : 4;
  let run = 0; let rejected = 0; let sameText = 0; let needOptimiser = 0;
  const accepted: string[] = [];
  const start = performance.now();
  for (let i = 0; i < rows.length; i += step) {
    const r = rows[i]!;
    if (r.expr === undefined) continue;
    run++;
    try {
      compileFilter(r.expr, { linkType: r.DLT, optimize: r.errstr === REJECTS_ALL });
      if (r.errstr === REJECTS_ALL) { needOptimiser++; continue; }
      accepted.push(`${r.name} [${r.DLT}] ${JSON.stringify(r.expr)} (libpcap: ${r.errstr})`);
    } catch (e) {
      if (e instanceof FilterError || (e instanceof TsbpfError && e.code.startsWith('FILTER'))) {
        rejected++;
        if ((e as FilterError).reason === r.errstr || (e as Error).message.endsWith(r.errstr)) sameText++;
      } else accepted.push(`${r.name}: untyped error ${(e as Error).message}`);
    }
  }
  const ms = performance.now() - start;
  t.diagnostic(`reject corpus: ${rejected}/${run} rejected with a typed error (${sameText} with libpcap's exact text), ` +
    `${needOptimiser} accepted that only the optimiser rejects, in ${ms.toFixed(0)} ms (1 in ${step})`);
  if (accepted.length) t.diagnostic('wrongly accepted:\n' + accepted.slice(0, 10).join('\n'));
  // Some reject rows rely on libpcap features this compiler does not model (see the diagnostic).
  assert.ok(rejected / (run - needOptimiser) >= 0.995, `only ${rejected}/${run - needOptimiser} rejected`);
});
