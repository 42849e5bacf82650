import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PreciseSet } from '../../src/verifier/precision.js';
import { rangeBounds } from '../../src/verifier/scalar.js';
import { NOT_INIT, pointerReg, scalarReg, stateSafe, type Reg, type State } from '../../src/verifier/state.js';

const state = (r1: Reg, r2: Reg): State => {
  const regs: Reg[] = new Array(11).fill(NOT_INIT);
  regs[1] = r1;
  regs[2] = r2;
  regs[10] = pointerReg('fp', { frame: 0 });
  return { frames: [{ regs, stack: [], returnTo: -1, subprog: 0 }], refs: [], path: undefined };
};
const byte = (id: number): Reg => scalarReg(rangeBounds(0, 255), id);
const bothPrecise = (): PreciseSet => {
  const p = new PreciseSet();
  p.setReg(0, 1);
  p.setReg(0, 2);
  return p;
};
const LIVE = (1 << 1) | (1 << 2);

test('pruning: an old scalar id may stand for a current scalar without one, once (the kernel\'s check_scalar_ids)', () => {
  // Old r1 linked to nothing else compared: the current unlinked r1 is as good.
  assert.equal(stateSafe(state(byte(7), byte(0)), state(byte(0), byte(0)), LIVE, false, bothPrecise()), true);
  // Old r1 and r2 linked (a check on one narrowed both): current unlinked ones are not.
  assert.equal(stateSafe(state(byte(7), byte(7)), state(byte(0), byte(0)), LIVE, false, bothPrecise()), false);
  assert.equal(stateSafe(state(byte(7), byte(7)), state(byte(3), byte(3)), LIVE, false, bothPrecise()), true);
  // Exact comparisons (loop detection) still want the same links.
  assert.equal(stateSafe(state(byte(7), byte(0)), state(byte(0), byte(0)), LIVE, true), false);
});
