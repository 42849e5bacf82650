import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.js';
import { Runtime } from '../../src/runtime/index.js';
import { onEachEngine } from '../support/engines.js';

/**
 * get_current_pid_tgid, get_current_uid_gid, send_signal and send_signal_thread in a userspace test
 * run: the runtime's task, and the kernel's answer for signals. Which program types may call them is
 * checked with every other helper in test/helpers/kernel-table.test.ts.
 */

const HELPERS = { get_current_pid_tgid: 14, get_current_uid_gid: 15, send_signal: 109, send_signal_thread: 117 } as const;

/** r1 = arg; call helper; exit (r0 is the helper's answer). */
const callingProgram = (helper: number, arg = 0): Instruction[] => [
  { code: 0xb7, dst: 1, src: 0, off: 0, imm: arg },
  { code: 0x85, dst: 0, src: 0, off: 0, imm: helper },
  { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

for (const type of ['socket_filter', 'xdp', 'sched_cls'] as const) {
  test(`${type}: pid/uid come from the runtime's task, signals are answered as the kernel answers`, () => {
    onEachEngine((engine) => {
      const runtime = new Runtime({ engine, task: { pid: 31, tgid: 30, uid: 1000, gid: 100 } });
      try {
        const run = (helper: number, arg = 0): bigint => runtime.loadProgram(callingProgram(helper, arg), { type }).testRun({ data: new Uint8Array(64) }).r0;
        assert.equal(run(HELPERS.get_current_pid_tgid), (30n << 32n) | 31n);
        assert.equal(run(HELPERS.get_current_uid_gid), (100n << 32n) | 1000n);
        for (const helper of [HELPERS.send_signal, HELPERS.send_signal_thread]) {
          assert.equal(run(helper, 0), 0n);
          // -EINVAL past the last signal (64), as 6.18's test run answers.
          assert.equal(run(helper, 99), BigInt.asUintN(64, -22n));
        }
      } finally {
        runtime.close();
      }
    });
  });
}
