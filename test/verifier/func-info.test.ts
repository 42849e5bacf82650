import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { verify, type FunctionInfo } from '../../src/verifier/index.js';

/**
 * LD_ABS and tail calls in subprograms: without BTF func_info the kernel refuses them
 * (check_abnormal_return); with it, only in subprograms whose prototype returns no int or enum
 * (check_btf_func). A loader with BTF (libbpf, tsbpf's runtime and Linux backend) sends func_info.
 */

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const R0_0 = I(0xb7, 0, 0, 0, 0);
// main: call the subprogram at 3, exit. Subprogram: a tail call (the static check comes before exploration).
const TAIL_CALL_IN_SUBPROG = [I(0x85, 0, 1, 0, 2), R0_0, EXIT, R0_0, I(0x85, 0, 0, 0, 12), EXIT];
const LD_ABS_IN_SUBPROG = [I(0xbf, 6, 1), I(0x85, 0, 1, 0, 1), EXIT, I(0x20, 0, 0, 0, 0), EXIT];

const info = (scalarReturn: boolean): FunctionInfo[] => [{ insn: 0, scalarReturn: true }, { insn: 3, scalarReturn }];

test('a tail call in a subprogram: refused without func_info, and with it when the subprogram returns no int', () => {
  const without = verify({ insns: TAIL_CALL_IN_SUBPROG, type: 'socket_filter' });
  assert.equal(without.error?.message, 'tail_call is not allowed in subprogs without BTF');
  const voidReturn = verify({ insns: TAIL_CALL_IN_SUBPROG, type: 'socket_filter', funcInfo: info(false) });
  assert.equal(voidReturn.error?.message, "tail_call is only allowed in functions that return 'int'.");
  assert.equal(voidReturn.error?.insn, 3);
  // With an int return the static check passes; exploration then judges the call itself.
  const intReturn = verify({ insns: TAIL_CALL_IN_SUBPROG, type: 'socket_filter', funcInfo: info(true) });
  assert.doesNotMatch(intReturn.error?.message ?? '', /tail_call is/);
});

test('LD_ABS in a subprogram: refused without func_info, and with it when the subprogram returns no int', () => {
  assert.equal(verify({ insns: LD_ABS_IN_SUBPROG, type: 'socket_filter' }).error?.message, 'LD_ABS is not allowed in subprogs without BTF');
  assert.equal(
    verify({ insns: LD_ABS_IN_SUBPROG, type: 'socket_filter', funcInfo: info(false) }).error?.message,
    "LD_ABS is only allowed in functions that return 'int'.",
  );
  assert.doesNotMatch(verify({ insns: LD_ABS_IN_SUBPROG, type: 'socket_filter', funcInfo: info(true) }).error?.message ?? '', /LD_ABS is/);
});
