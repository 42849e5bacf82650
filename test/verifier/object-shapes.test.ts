import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { corpus, missingCorpus } from '../support/paths.js';

/**
 * Every register, stack slot, frame and state the verifier builds has one object shape (V8 map), and
 * the register and stack arrays one array kind. Spread copies (`{ ...reg, b }`) once gave each copy
 * site its own shape: thousands of them over a few programs, every access site megamorphic, and
 * deoptimisation cycles that made a program's time depend on which programs ran before it. Shapes
 * are only visible to V8's natives syntax, so a child process (the same loader, plus the flag)
 * verifies a few mid-size programs and counts them.
 */
const here = (path: string): string => new URL(path, import.meta.url).href;

const CHILD = `
const { ebpfSampleCases } = await import(${JSON.stringify(here('./corpora.js'))});
const { verify } = await import(${JSON.stringify(here('../../src/verifier/index.js'))});
const { Explorer } = await import(${JSON.stringify(here('../../src/verifier/explore.js'))});
const { NOT_INIT, EMPTY_SLOT } = await import(${JSON.stringify(here('../../src/verifier/state.js'))});
const seen = { reg: [NOT_INIT], slot: [EMPTY_SLOT], bounds: [NOT_INIT.b], frame: [], state: [], regs: [], stack: [] };
const note = (kind, o) => { if (!seen[kind].some((x) => %HaveSameMap(x, o))) seen[kind].push(o); };
const visit = Explorer.prototype.visit;
Explorer.prototype.visit = function (state, insn) {
  note('state', state);
  for (const f of state.frames) {
    note('frame', f);
    note('regs', f.regs);
    if (f.stack.length) note('stack', f.stack);
    for (const r of f.regs) { note('reg', r); note('bounds', r.b); }
    for (const s of f.stack) { note('slot', s); if (s.spilled) { note('reg', s.spilled); note('bounds', s.spilled.b); } }
  }
  return visit.call(this, state, insn);
};
const names = ${JSON.stringify([
  'bpf_cilium_test/bpf_lb-DLB_L3.o:from-netdev/from-netdev',
  'bpf_cilium_test/bpf_lxc_jit.o:1/0xdc06/1/0xdc06',
  'cilium-core/bpf_host.o:tc/entry/cil_to_host',
  'build/bounded_loop.o:test/test_bounded_loop',
])};
const cases = ebpfSampleCases().filter((c) => c.program && names.includes(c.name));
for (const c of cases) verify(c.program, {});
console.log(JSON.stringify({ programs: cases.length, ...Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.length])) }));
`;

test('verifier: one object shape for registers, slots, frames and states, one array kind for their arrays', (t) => {
  if (!corpus('verifier', 'ebpf-samples')) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const child = spawnSync(process.execPath, [...process.execArgv, '--allow-natives-syntax', '--input-type=module', '--eval', CHILD], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const counts = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, number>;
  assert.deepEqual(counts, { programs: 4, reg: 1, slot: 1, bounds: 1, frame: 1, state: 1, regs: 1, stack: 1 });
});
