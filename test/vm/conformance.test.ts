import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDataFile } from '../../src/conformance/parse.js';
import { runDirectory, runTest, summaryLine, tally, type TestOutcome } from '../../src/conformance/run.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { corpus, missingCorpus } from '../support/paths.js';

const engine = interpreter;
const failures = (outcomes: readonly TestOutcome[]): string[] =>
  outcomes.filter((o) => o.verdict === 'fail').map((o) => `${o.name}: got ${o.actual}, expected ${o.expected}`);

test('parse: sections, comments, raw words and bytes, negative results', () => {
  const t = parseDataFile([
    '# comment', '-- asm', 'mov %r0, 1 # trailing', 'exit', '-- mem', '01 02 # c', '03',
    '-- result', '-1', '-- no jit', 'because', '-- error pattern', 'x.*y',
  ].join('\n'), 'dir/t.data');
  assert.equal(t.name, 't');
  assert.match(t.asm!, /mov %r0, 1/);
  assert.deepEqual([...t.mem], [1, 2, 3]);
  assert.equal(t.result, 0xffffffffffffffffn);
  assert.equal(t.noJit, 'because');
  assert.equal(t.errorPattern, 'x.*y');
  const raw = parseDataFile('-- raw\n0x0000000100000085\n95 00 00 00 00 00 00 00\n-- result\n0x0', 'r.data');
  assert.deepEqual(raw.raw, [{ code: 0x85, dst: 0, src: 0, off: 0, imm: 1 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }]);
  assert.equal(parseDataFile('-- pyelf\nx = 1\n-- error\nbad', 'p.data').unsupported !== undefined, true);
  assert.equal(parseDataFile('-- asm @ missing.asm\n-- result\n0x1', 'm.data').unsupported, 'needs missing.asm, which is not in the corpus');
});

test('runner: error tests pass on an error, result tests compare r0', () => {
  const ok = runTest(parseDataFile('-- asm\nmov %r0, 0x2a\nexit\n-- result\n0x2a', 'a.data'), { engine });
  assert.deepEqual(ok, { name: 'a', verdict: 'pass', expected: '0x2a', actual: '0x2a' });
  const wrong = runTest(parseDataFile('-- asm\nmov %r0, 1\nexit\n-- result\n0x2', 'b.data'), { engine });
  assert.equal(wrong.verdict, 'fail');
  const error = runTest(parseDataFile('-- asm\nja -1\nexit\n-- error\nFailed to load code: infinite loop at PC 0', 'c.data'), { engine });
  assert.equal(error.verdict, 'pass');
  const loop = runTest(parseDataFile('-- asm\nmov %r0, 0\nja -2\n-- error\nloops', 'd.data'), { engine, budget: 1000 });
  assert.equal(loop.verdict, 'pass');
  assert.match(loop.actual, /budget/);
  assert.equal(summaryLine(tally([ok, wrong, error])), '2 passed, 1 failed');
  assert.equal(summaryLine({ passed: 1, failed: 0, skipped: 2 }), '1 passed, 0 failed, 2 skipped');
});

test('bpf_conformance: 313 of 313 pass', (t) => {
  const dir = corpus('isa', 'bpf_conformance');
  if (!dir) return t.skip(missingCorpus('isa/bpf_conformance'));
  const outcomes = runDirectory(dir, { engine });
  assert.deepEqual(failures(outcomes), []);
  assert.deepEqual(tally(outcomes), { passed: 313, failed: 0, skipped: 0 });
});

/** uBPF tests that cannot run here, and why (checked so the list cannot grow unnoticed). */
const UBPF_SKIPS: Record<string, string> = {
  'err-unknown-opcode': 'gotol', reload: 'uBPF VM API',
  match: 'missing file', nomatch: 'missing file', 'nomatch-ethertype': 'missing file', 'nomatch-proto': 'missing file',
};

test('uBPF suite: every runnable test passes; the rest need pyelf, missing files, or test uBPF itself', (t) => {
  const dir = corpus('isa', 'ubpf');
  if (!dir) return t.skip(missingCorpus('isa/ubpf'));
  const outcomes = runDirectory(dir, { engine });
  assert.deepEqual(failures(outcomes), []);
  const skipped = outcomes.filter((o) => o.verdict === 'skip');
  for (const s of skipped) {
    assert.ok(s.name in UBPF_SKIPS || /pyelf/.test(s.actual), `unexpected skip ${s.name}: ${s.actual}`);
  }
  assert.deepEqual(tally(outcomes), { passed: 75, failed: 0, skipped: 27 });
});

/**
 * The negative suite checks the checker: these tests are built to fail (a wrong expected value, a
 * test whose assembly is invalid but which expects a result, an empty test). The others expect an
 * error and get one.
 */
const NEGATIVE_FAILURES = [
  'empty', 'empty_instructions', 'error', 'incorrect_return_value_high_bits', 'invalid_imm32_dec_range',
  'invalid_imm32_hex_range', 'invalid_label', 'invalid_mnemonic', 'invalid_offset', 'invalid_offset_range',
  'invalid_operand_count',
];

test('bpf_conformance_negative: exactly the deliberately broken tests fail', (t) => {
  const dir = corpus('isa', 'bpf_conformance_negative');
  if (!dir) return t.skip(missingCorpus('isa/bpf_conformance_negative'));
  const outcomes = runDirectory(dir, { engine });
  assert.deepEqual(outcomes.filter((o) => o.verdict !== 'pass').map((o) => o.name), NEGATIVE_FAILURES);
});
