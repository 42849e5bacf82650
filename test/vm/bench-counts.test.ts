import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from '../../src/isa/instruction.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { corpus, missingCorpus } from '../support/paths.js';

/** The bpf-benchmark programs execute exactly the instruction counts the corpus README gives. */
const EXPECTED: Record<string, { insns: number; r0: bigint }> = {
  prime: { insns: 2_367_891, r0: 0x4cen },
  memcpy: { insns: 8_388_610, r0: 0n },
  strcmp_full: { insns: 11_534_336, r0: 0n },
  switch: { insns: 59_352, r0: 0x2en },
  log2_int: { insns: 33_275, r0: 4n },
};

test('bpf-benchmark dynamic instruction counts (unchecked and checked)', (t) => {
  const dir = corpus('bench', 'bpf-benchmark');
  if (!dir) return t.skip(missingCorpus('bench/bpf-benchmark'));
  for (const [name, want] of Object.entries(EXPECTED)) {
    const insns = decode(readFileSync(join(dir, `${name}.bpf.bin`)));
    const memPath = join(dir, `${name}.mem`);
    const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : new Uint8Array(0);
    for (const checked of [false, true]) {
      const space = new AddressSpace();
      const region = space.allocateWith(mem, 'packet', 'mem');
      const result = interpreter.load(insns, { space, checked }).run({ args: [mem.length ? region.start : 0, mem.length] });
      assert.equal(result.executed, want.insns, `${name} executed (checked: ${checked})`);
      assert.equal(result.r0, want.r0, `${name} r0`);
    }
  }
});
