import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpus, missingCorpus } from '../support/paths.js';
import { agreement, readOracle, sweep } from './samples-sweep.js';
import { skipReason } from './support.js';

const samples = corpus('verifier', 'ebpf-samples');
const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'ebpf-samples.jsonl');
const skip = skipReason ?? (!samples || !verdicts ? missingCorpus('verifier/ebpf-samples + kernel-6.18-verdicts') : undefined);

/**
 * Every ebpf-samples program the kernel oracle has a verdict for (579: 512 accepted, 67 rejected),
 * loaded through tsbpf's object loader and bpf() backend with the oracle's program type. Measured
 * 2026-11-22: 556/579 verdicts agree, 491/512 accepted programs load. The rest: 14 falco programs
 * calling an extern memset, objects with BTF kinds the BTF parser does not know, and a few legacy
 * loads the oracle did by hand (scripts/kernel-samples.ts --verbose lists them).
 * The whole sweep takes ~11 s (maps are created once per object).
 */
test('ebpf-samples: tsbpf backend verdicts agree with the kernel oracle', { skip, timeout: 120_000 }, () => {
  const results = sweep(samples!, readOracle(verdicts!));
  const a = agreement(results);
  assert.equal(a.total, 579);
  assert.ok(a.agree >= 556, `agreement ${a.agree}/${a.total}`);
  assert.ok(a.acceptedAgree >= 475, `kernel-accepted programs accepted through tsbpf: ${a.acceptedAgree}/${a.accepted}`);
  // Disagreement is only ever a failure to load, never the opposite verdict.
  const flipped = results.filter((r) => r.got !== 'error' && r.got !== r.row.kernel_verdict);
  assert.deepEqual(flipped.map((r) => `${r.row.object}:${r.row.function}: kernel ${r.row.kernel_verdict}, tsbpf ${r.got} ${r.detail ?? ''}`), []);
});
