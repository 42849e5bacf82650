/**
 * Round trip over the bpf_conformance and uBPF test programs: assemble (or decode `-- raw`), print in
 * each syntax, assemble the text again: the bytes must not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { disassemble, tryClassify } from '../../src/isa/disasm.js';
import { decode, encode, type Instruction } from '../../src/isa/instruction.js';
import { corpus, missingCorpus } from '../support/paths.js';
import { rawBytes, readDataDir } from './data-files.js';

/** uBPF negative tests whose `-- asm` uses the fake registers r11+ that our assembler rejects. */
const FAKE_REGISTER_TESTS = new Set(['err-invalid-reg-dst.data', 'err-invalid-reg-src.data']);

const hex = (insns: readonly Instruction[]): string => Buffer.from(encode(insns)).toString('hex');

const allValid = (insns: readonly Instruction[]): boolean => {
  for (let i = 0; i < insns.length; i++) {
    const op = tryClassify(insns, i);
    if (op === undefined) return false;
    if (op.kind === 'ld_imm64') i++;
  }
  return true;
};

for (const dirName of ['bpf_conformance', 'ubpf']) {
  test(`round trip: isa/${dirName} in both syntaxes`, (t) => {
    const dir = corpus('isa', dirName);
    if (!dir) return t.skip(missingCorpus(`isa/${dirName}`));
    let programs = 0;
    let invalidRaw = 0;
    for (const file of readDataDir(dir)) {
      const sources: [string, Instruction[]][] = [];
      const asm = file.sections.get('asm');
      if (asm !== undefined && !FAKE_REGISTER_TESTS.has(file.name)) sources.push(['asm', assemble(asm, { file: file.path })]);
      const raw = file.sections.get('raw');
      if (raw !== undefined) sources.push(['raw', decode(rawBytes(raw))]);
      for (const [kind, insns] of sources) {
        if (!allValid(insns)) {
          invalidRaw++; // negative tests built from invalid encodings print as <unknown>
          continue;
        }
        programs++;
        for (const syntax of ['llvm', 'ubpf'] as const) {
          const text = disassemble(insns, { syntax });
          const again = assemble(text, { file: `${file.name} (${kind}, ${syntax})` });
          assert.equal(hex(again), hex(insns), `${file.name} ${kind} via ${syntax}:\n${text}`);
        }
      }
    }
    t.diagnostic(`${programs} programs round-tripped in both syntaxes; ${invalidRaw} invalid encodings skipped`);
    assert.ok(programs > 50);
  });
}
