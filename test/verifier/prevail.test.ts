import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { encode } from '../../src/isa/instruction.js';
import { BpfMap, BpfProgram, BpfSyscallError, BpfVerifierError } from '../../src/linux/index.js';
import { corpus } from '../support/paths.js';
import { kernelUnavailableReason } from './fuzz/kernel.js';
import { kernelInsns, prevailCases, verifyPrevailCase } from './prevail.js';

const hex = (text: string): string => Buffer.from(encode(assemble(text))).toString('hex');

test('assembler: PREVAIL spellings that mean one instruction', () => {
  const cases: [string, string][] = [
    ['lock *(u32 *)(r2 + 4) += r1 fetch', 'c312040001000000'],
    ['lock *(u64 *)(r2 + 4) x= r1', 'db120400e1000000'],
    ['lock *(u64 *)(r2 + 4) cx= r1', 'db120400f1000000'],
    ['r1 = swap16 r1', 'd701000010000000'],
    ['r2 s32= r1', 'bf12200000000000'],
    ['w2 s8= w1', 'bc12080000000000'],
    ['if r1 &== 4 goto +1', '4501010004000000'],
    ['r0 = -9223372036854775807ll', '18000000010000000000000000000080'],
  ];
  for (const [text, expected] of cases) assert.equal(hex(text), expected, text);
  // The objdump spellings are unchanged.
  assert.equal(hex('r1 = 5 ll'), hex('r1 = 5ll'));
  assert.equal(hex('r0 = -r0'), '8700000000000000');
  // There is no atomic subtract: refused, not assembled as an add.
  assert.throws(() => assemble('lock *(u64 *)(r1 + 0) -= r2'), /cannot parse/);
});

test('PREVAIL YAML: every case translates (none left as "does not assemble")', (t) => {
  if (!corpus('verifier', 'prevail-yaml')) return t.skip('corpus verifier/prevail-yaml is missing');
  const cases = prevailCases();
  assert.equal(cases.length, 802);
  const broken = cases.filter((c) => c.skip?.startsWith('does not assemble') || c.skip === 'no code');
  assert.deepEqual(broken.map((c) => `${c.name}: ${c.skip}`), []);
  // What stays skipped is a `pre` the initial state cannot hold, each with its reason.
  for (const c of cases.filter((x) => x.skip)) assert.match(c.skip!, /^(pre |a harness fixture)/, c.name);
  assert.ok(cases.filter((c) => c.insns).length >= 730);
});

test('PREVAIL YAML: assume, pre seeding and fall-off exits behave as documented', (t) => {
  if (!corpus('verifier', 'prevail-yaml')) return t.skip('corpus verifier/prevail-yaml is missing');
  const byName = new Map(prevailCases().map((c) => [c.name, c]));
  const get = (name: string) => {
    const c = byName.get(name);
    assert.ok(c?.insns, name);
    return c;
  };
  // `assume r1 < 10` is a branch around a jump to the function's dead end.
  const assume = get('jump.yaml: assume number < imm');
  assert.ok(assume.assumes);
  assert.match(assume.text, /if r1 < 10 goto \+1\ngoto __assume_failed0\n/);
  assert.equal(verifyPrevailCase(assume).verdict, 'accept');
  // A shared region is a map value of that size, reached through a prologue LD_IMM64.
  const shared = get('atomic.yaml: atomic 32-bit ADD shared');
  assert.equal(shared.maps[1]?.valueSize, 12);
  assert.match(shared.text, /^r2 = map_idx_value\[1\]\+4 ll\n/);
  // Reachability notes are not errors: PREVAIL verifies such a case.
  assert.equal(get('unsigned.yaml: assume 1 < [0, 1] implies bottom').expected, 'accept');
  // PREVAIL's 32-bit sign extension from 32 bits has no valid encoding: the kernel's reserved-field error.
  const movsx = get('movsx.yaml: movsx32 into the same register to 32 bits');
  assert.equal(movsx.insns![0]!.off, 32);
  assert.equal(verifyPrevailCase(movsx).error?.message, 'BPF_MOV uses reserved fields');
});

test('PREVAIL YAML: verdict agreement (figure, not a gate: the expectations are PREVAIL\'s)', (t) => {
  if (!corpus('verifier', 'prevail-yaml')) return t.skip('corpus verifier/prevail-yaml is missing');
  let ran = 0, agree = 0, skipped = 0;
  for (const c of prevailCases()) {
    if (!c.insns) { skipped++; continue; }
    ran++;
    if (verifyPrevailCase(c).verdict === c.expected) agree++;
  }
  t.diagnostic(`prevail-yaml: ${ran} run, ${skipped} skipped, ${agree}/${ran} agree (${(100 * agree / ran).toFixed(1)}%)`);
  assert.ok(ran > 0);
});

test('PREVAIL YAML: the kernel agrees with tsbpf where pre can be given to it', (t) => {
  if (!corpus('verifier', 'prevail-yaml')) return t.skip('corpus verifier/prevail-yaml is missing');
  const why = kernelUnavailableReason();
  if (why) return t.skip(why);
  let checked = 0, same = 0;
  const unsafe: string[] = [];
  const stricter: string[] = [];
  for (const c of prevailCases()) {
    const insns = kernelInsns(c);
    if (!insns) continue;
    const ours = verifyPrevailCase(c);
    const maps = c.maps.map((m) => BpfMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries }));
    let kernel: { verdict: 'accept' | 'reject'; error?: string };
    try {
      BpfProgram.load({ type: c.type === 'xdp' ? 'XDP' : 'SOCKET_FILTER', insns, fdArray: maps.map((m) => m.fd), license: 'GPL' }).close();
      kernel = { verdict: 'accept' };
    } catch (e) {
      if (e instanceof BpfVerifierError) kernel = { verdict: 'reject', error: e.summary || e.message };
      else if (e instanceof BpfSyscallError) kernel = { verdict: 'reject', error: e.errnoName };
      else throw e;
    } finally {
      for (const m of maps) m.close();
    }
    checked++;
    if (kernel.verdict === ours.verdict) same++;
    else if (ours.verdict === 'accept') unsafe.push(`${c.name}: kernel says ${kernel.error}`);
    else stricter.push(`${c.name}: tsbpf says ${ours.error?.message}`);
  }
  t.diagnostic(`kernel-checked ${checked}: same verdict ${same}; tsbpf stricter ${stricter.length}; tsbpf accepts what the kernel rejects ${unsafe.length}`);
  for (const s of [...stricter.map((x) => `stricter: ${x}`), ...unsafe.map((x) => `unsafe accept: ${x}`)]) t.diagnostic(s);
  assert.deepEqual(unsafe, []);
});
