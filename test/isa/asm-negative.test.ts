/** bpf_conformance's negative suite: every `-- asm` that must not assemble throws an AsmError. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, AsmError } from '../../src/isa/asm.js';
import { classify, decode, InvalidInstructionError } from '../../src/isa/instruction.js';
import { corpus, missingCorpus } from '../support/paths.js';
import { rawBytes, readDataDir } from './data-files.js';

/** The negative files whose assembly is malformed, with the error code each must raise. */
const MUST_FAIL: Readonly<Record<string, string>> = {
  'invalid_imm32_dec_range.data': 'asm/imm-range',
  'invalid_imm32_hex_range.data': 'asm/imm-range',
  'invalid_label.data': 'asm/unknown-label',
  'invalid_lock.data': 'asm/operand-count',
  'invalid_lock2.data': 'asm/operand-count',
  'invalid_mnemonic.data': 'asm/unknown-mnemonic',
  'invalid_offset.data': 'asm/bad-operand',
  'invalid_offset_range.data': 'asm/offset-range',
  'invalid_operand_count.data': 'asm/operand-count',
  'invalid_register.data': 'asm/bad-register',
};

/**
 * The others assemble: they test the runtime (error.data, incorrect_return_value_high_bits.data), or
 * have no code (empty*.data; invalid_unknown_directive.data, whose `-- Unknown directive` line is a
 * section header of the .data format, leaving the asm section empty).
 */
test('negative suite: malformed assembly throws AsmError with code, line and column', (t) => {
  const dir = corpus('isa', 'bpf_conformance_negative');
  if (!dir) return t.skip(missingCorpus('isa/bpf_conformance_negative'));
  const seen = new Set<string>();
  for (const file of readDataDir(dir)) {
    const asm = file.sections.get('asm');
    if (asm === undefined) continue;
    const expected = MUST_FAIL[file.name];
    if (expected === undefined) {
      assert.doesNotThrow(() => assemble(asm), file.name);
      continue;
    }
    seen.add(file.name);
    assert.throws(() => assemble(asm, { file: file.name }), (err: unknown) => {
      assert.ok(err instanceof AsmError, `${file.name}: ${String(err)}`);
      assert.equal(err.code, expected, `${file.name}: ${err.message}`);
      assert.equal(err.location.file, file.name);
      assert.ok((err.location.line ?? 0) >= 1 && (err.location.column ?? 0) >= 1, `${file.name}: location`);
      return true;
    });
  }
  assert.deepEqual([...seen].sort(), Object.keys(MUST_FAIL).sort());
});

test('negative suite: every -- raw program has an instruction classify rejects', (t) => {
  const dir = corpus('isa', 'bpf_conformance_negative');
  if (!dir) return t.skip(missingCorpus('isa/bpf_conformance_negative'));
  let count = 0;
  for (const file of readDataDir(dir)) {
    const raw = file.sections.get('raw');
    if (raw === undefined) continue;
    const insns = decode(rawBytes(raw));
    assert.throws(() => insns.forEach((insn, i) => classify(insn, i, insns[i + 1])), InvalidInstructionError, file.name);
    count++;
  }
  t.diagnostic(`${count} raw negative programs rejected`);
});
