import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpus, missingCorpus } from '../support/paths.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { verifyLoadedObject } from '../../src/linux/verify.js';
import { agreement, openSample, ORACLE_FIRST_MAP_AS_TEMPLATE, readOracle, sweep } from './samples-sweep.js';
import { skipReason } from './support.js';

const samples = corpus('verifier', 'ebpf-samples');
const verdicts = corpus('verifier', 'kernel-6.18-verdicts', 'ebpf-samples.jsonl');
const skip = skipReason ?? (!samples || !verdicts ? missingCorpus('verifier/ebpf-samples + kernel-6.18-verdicts') : undefined);

/**
 * Every ebpf-samples program the kernel oracle has a verdict for (579: 512 accepted, 67 rejected),
 * loaded through tsbpf's object loader and bpf() backend with the oracle's program type, after the
 * map edits the objects' own loaders make (falco's per-CPU scratch maps). Measured 2026-11-22:
 * 579/579 verdicts agree, 512/512 accepted programs load. The whole sweep takes 6.6 s of CPU
 * (median of 3; 16-21 s wall on the shared 2-core machine); maps are created once per object.
 */
test('ebpf-samples: tsbpf backend verdicts agree with the kernel oracle', { skip, timeout: 120_000 }, () => {
  const results = sweep(samples!, readOracle(verdicts!));
  const a = agreement(results);
  assert.equal(a.total, 579);
  assert.equal(a.accepted, 512);
  const differ = results.filter((r) => r.got !== r.row.kernel_verdict);
  assert.deepEqual(differ.map((r) => `${r.row.object}:${r.row.function}: kernel ${r.row.kernel_verdict}, tsbpf ${r.got} ${r.detail ?? ''}`), []);
});

test('cilium maglev: with the template iproute2 declares (inner_id), the programs the oracle saw refused load', { skip, timeout: 60_000 }, () => {
  for (const name of ORACLE_FIRST_MAP_AS_TEMPLATE) {
    using kernel = loadObjectIntoKernel(openSample(samples!, name, { asOracle: false }), { programs: [], ignorePinning: true });
    for (const program of ['tail_lb_ipv4', 'tail_lb_ipv6']) {
      const v = verifyLoadedObject(kernel, program, { logLevel: 0, type: 'xdp' });
      assert.equal(v.verdict, 'accept', `${name} ${program}: ${v.error ?? ''}`);
    }
  }
});
