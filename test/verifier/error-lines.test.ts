import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpus } from '../support/paths.js';
import { errorLineAgreement, kernelErrorOf } from './error-lines.js';

/**
 * Issue 4: where tsbpf and Linux 6.18 both reject a corpus program, tsbpf's error line is the
 * kernel's word for word. The floors are the agreement reached; raise them as classes are fixed
 * (`npx tsx scripts/error-line-agreement.ts` lists what is left).
 */

const missing = (): string | undefined =>
  corpus('verifier', 'kernel-6.18-verdicts') && corpus('verifier', 'kernel-selftests') && corpus('verifier', 'ebpf-samples')
    ? undefined : 'verifier corpora not found under ../shared/corpora (see test/support/paths.ts)';

test('the kernel error line is the check that failed, not a source line or a state dump after it', () => {
  const log = 'R1 type=ctx\n; asm volatile (" @ a.c:3\ninfinite loop detected at insn 1\ncur state: R0=0 R10=fp0\nold state: R0=P0 R10=fp0\nverification time 5 usec\n';
  assert.deepEqual(kernelErrorOf(log), { error: 'infinite loop detected at insn 1', after: ['cur state: R0=0 R10=fp0', 'old state: R0=P0 R10=fp0'] });
  assert.deepEqual(kernelErrorOf('invalid access to map value, value_size=8 off=8 size=8\nR0 min value is outside of the allowed memory range\nprocessed 3 insns (limit 1000000) max_states_per_insn 0\n'),
    { error: 'R0 min value is outside of the allowed memory range', after: [] });
});

const FLOORS = [
  { corpus: 'test_verifier', sameLine: 206, sameDump: 1 },
  { corpus: 'test_loader', sameLine: 350, sameDump: 3 },
  { corpus: 'ebpf-samples', sameLine: 67, sameDump: 0 },
] as const;

for (const floor of FLOORS) {
  test(`${floor.corpus}: error lines agree with Linux 6.18 in at least ${floor.sameLine} of the programs both reject`, (t) => {
    const why = missing();
    if (why) return t.skip(why);
    const a = errorLineAgreement(floor.corpus);
    const sample = a.diffs.slice(0, 5).map((d) => `${d.name}: kernel "${d.kernel.error}", tsbpf "${d.tsbpf.error}"`).join('\n');
    assert.ok(a.sameLine >= floor.sameLine, `${a.sameLine}/${a.bothReject} agree; for instance:\n${sample}`);
    assert.ok(a.sameDump >= floor.sameDump, `state dumps after the error agree in ${a.sameDump}/${a.withDump}`);
  });
}
