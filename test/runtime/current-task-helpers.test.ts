import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.js';
import { helperAllowed, helperProto } from '../../src/helpers/prototypes.js';
import { Runtime } from '../../src/runtime/index.js';
import { AttachType, type AttachTypeName } from '../../src/uapi/attach-types.js';
import { ProgType, type ProgTypeName } from '../../src/uapi/prog-types.js';
import { onEachEngine } from '../support/engines.js';
import { skipReason } from '../linux/support.js';

/**
 * get_current_pid_tgid, get_current_uid_gid, send_signal and send_signal_thread: which program
 * types may call them (the prototype table against the running kernel) and what they answer in a
 * userspace test run (the runtime's task; the kernel's answer for signals).
 */

const HELPERS = { get_current_pid_tgid: 14, get_current_uid_gid: 15, send_signal: 109, send_signal_thread: 117 } as const;

/** Program types a bare bpf() load can ask about (the others need BTF targets or flags first). */
const LOADABLE_TYPES: readonly ProgTypeName[] = [
  'socket_filter', 'kprobe', 'sched_cls', 'sched_act', 'tracepoint', 'xdp', 'perf_event', 'cgroup_skb', 'cgroup_sock',
  'lwt_in', 'lwt_out', 'lwt_xmit', 'sock_ops', 'sk_skb', 'cgroup_device', 'sk_msg', 'raw_tracepoint', 'cgroup_sock_addr',
  'lwt_seg6local', 'sk_reuseport', 'flow_dissector', 'cgroup_sysctl', 'raw_tracepoint_writable', 'cgroup_sockopt', 'sk_lookup',
];

/** Types the kernel loads only with an expected attach type. */
const ATTACH: Partial<Record<ProgTypeName, AttachTypeName>> = {
  cgroup_sock_addr: 'cgroup_inet4_connect', cgroup_sockopt: 'cgroup_getsockopt', sk_lookup: 'sk_lookup',
};

/** r1 = arg; call helper; exit (r0 is the helper's answer). */
const callingProgram = (helper: number, arg = 0): Instruction[] => [
  { code: 0xb7, dst: 1, src: 0, off: 0, imm: arg },
  { code: 0x85, dst: 0, src: 0, off: 0, imm: helper },
  { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

/** The same with a return value every program type takes. */
const callingProgramReturningZero = (helper: number): Instruction[] => [
  ...callingProgram(helper).slice(0, 2),
  { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
  { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

test('the prototype table allows the current-task helpers exactly where the kernel does', { skip: skipReason }, async () => {
  const { BpfProgram, BpfVerifierError } = await import('../../src/linux/index.js');
  const differences: string[] = [];
  for (const type of LOADABLE_TYPES) {
    for (const [name, id] of Object.entries(HELPERS)) {
      let kernelAllows = true;
      try {
        const attach = ATTACH[type];
        BpfProgram.load({
          type: ProgType[type], insns: callingProgramReturningZero(id), name: 'helper_probe',
          ...(attach ? { expectedAttachType: AttachType[attach] } : {}),
        }).close();
      } catch (e) {
        if (!(e instanceof BpfVerifierError) || !/unknown func|cannot use helper/.test(e.summary)) throw e;
        kernelAllows = false;
      }
      if (kernelAllows !== helperAllowed(helperProto(id)!, type)) differences.push(`${type} ${name}: kernel ${kernelAllows ? 'allows' : 'refuses'}`);
    }
  }
  assert.deepEqual(differences, []);
});

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
