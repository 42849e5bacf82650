import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfError, parseElf } from '../../src/elf/index.js';
import {
  applyCoreRelocation,
  BtfError,
  btfExtFromElf,
  btfFromElf,
  dumpBtfC,
  dumpBtfRaw,
  relocateCore,
} from '../../src/btf/index.js';
import { fixturesDir } from '../support/paths.js';
import { random } from '../support/random.js';

const MUTANTS = Number(process.env.TSBPF_FUZZ_MUTANTS ?? 1000);
const SEED = Number(process.env.TSBPF_FUZZ_SEED ?? 0x5eed);

test(`mutated objects fail only with ElfError or BtfError (${MUTANTS} mutations)`, () => {
  const original = new Uint8Array(readFileSync(join(fixturesDir, 'core', 'core_read.bpf.o')));
  const elf = parseElf(original);
  const btfSection = elf.sectionByName('.BTF')!;
  const extSection = elf.sectionByName('.BTF.ext')!;
  const next = random(SEED);
  const outcomes = { ok: 0, elf: 0, btf: 0 };
  for (let i = 0; i < MUTANTS; i++) {
    const bytes = original.slice();
    // Aim most mutations at the BTF sections, where the structure is densest.
    const region = i % 3 === 0 ? { offset: 0, size: bytes.length } : i % 3 === 1 ? btfSection : extSection;
    const flips = 1 + Math.floor(next() * 4);
    for (let f = 0; f < flips; f++) {
      const at = region.offset + Math.floor(next() * region.size);
      bytes[at] = next() < 0.5 ? Math.floor(next() * 256) : bytes[at]! ^ (1 << Math.floor(next() * 8));
    }
    try {
      const e = parseElf(bytes, { fileName: `mutant-${i}` });
      const btf = btfFromElf(e);
      if (btf) {
        dumpBtfRaw(btf);
        dumpBtfC(btf);
        const ext = btfExtFromElf(e, btf);
        for (const s of ext?.coreRelos ?? []) {
          const results = relocateCore(btf, s.records, btf, { ambiguityPoisons: true });
          const section = e.sectionByName(s.sectionName);
          if (!section) continue;
          const code = e.sectionBytes(section).slice();
          for (const r of results) applyCoreRelocation(code, r, e.littleEndian);
        }
      }
      outcomes.ok++;
    } catch (err) {
      if (err instanceof ElfError) outcomes.elf++;
      else if (err instanceof BtfError) outcomes.btf++;
      else assert.fail(`mutant ${i}: untyped error ${String((err as Error).stack)}`);
    }
  }
  assert.equal(outcomes.ok + outcomes.elf + outcomes.btf, MUTANTS);
});
