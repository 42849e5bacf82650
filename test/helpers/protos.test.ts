import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HELPER_PROTOS, helperAllowed } from '../../src/helpers/prototypes.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { Runtime } from '../../src/runtime/index.js';
import { ProgType, type ProgTypeName } from '../../src/uapi/prog-types.js';
import { AUDITED_TYPES } from './kernel-helper-audit.js';
import { assemble } from '../../src/isa/asm.js';
import { H, INIT_RESULTS, PUBLISH, RESULTS, save, skipReason, udpFrame, withPair, type MapDecl } from './harness.js';

/**
 * Helpers given prototypes for issue #4 that the userspace runtime implements, against the kernel's
 * BPF_PROG_TEST_RUN; the load-time refusal of those it cannot implement; the table's GPL marks.
 */

const options = { skip: skipReason };
const data = udpFrame(16);

const prog = (body: string, ret: number): string => `
  r6 = r1
  ${INIT_RESULTS}
  ${body}
  ${PUBLISH}
  r0 = ${ret}
  exit`;

/** `text` (at most 15 bytes) NUL-padded on the stack at r10 - 128. */
function stackString(text: string): string {
  const bytes = new Uint8Array(16);
  bytes.set(new TextEncoder().encode(text));
  const view = new DataView(bytes.buffer);
  return [0, 8].flatMap((i) => [`r1 = 0x${view.getBigUint64(i, true).toString(16)} ll`, `*(u64 *)(r10 - ${128 - i}) = r1`]).join('\n');
}

/** Types a load without an expected attach type may ask about (syscall loads as sleepable). */
const PLAIN_TYPES: readonly ProgTypeName[] = AUDITED_TYPES.filter((t) => !['cgroup_sock_addr', 'cgroup_sockopt', 'sk_lookup', 'netfilter', 'cgroup_device', 'cgroup_sysctl'].includes(t));

const callThenExit = (helper: number): Instruction[] => [
  { code: 0x85, dst: 0, src: 0, off: 0, imm: helper }, { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

/** A frozen read-only map holding `text`: what a const-string argument must point into. */
const rodata = (text: string): MapDecl => {
  const init = new TextEncoder().encode(text + '\0');
  return { name: 'str', type: 'array', keySize: 4, valueSize: Math.max(8, (init.length + 7) & ~7), maxEntries: 1, flags: 0x80, init, freeze: true };
};

test('bpf_strncmp: order and length limit as the kernel compares', options, () => {
  const cases: [string, string, number][] = [
    ['abc', 'abc', 4], ['abc', 'abd', 4], ['abd', 'abc', 4], ['abc', 'abd', 2], ['ab', 'abc', 3], ['abc', 'ab', 4],
    ['', '', 1], ['', 'a', 1], ['\xff', 'a', 2], ['hello', 'help', 3], ['hello', 'help', 16],
  ];
  for (const [s1, s2, size] of cases) {
    const body = `${stackString(s1)}\nr1 = r10\nr1 += -128\nr2 = ${size}\nr3 = mapval(str) ll\ncall ${H.strncmp}\n${save(0)}`;
    withPair({ type: 'xdp', maps: [RESULTS, rodata(s2)], asm: prog(body, 2) }, (p) => p.agree({ data }, `strncmp(${JSON.stringify(s1)}, ${JSON.stringify(s2)}, ${size})`));
  }
});

test('bpf_get_ns_current_pid_tgid: the task in its pid namespace; another namespace or size is -EINVAL', options, () => {
  const ns = statSync('/proc/self/ns/pid');
  const task = { pid: process.pid, tgid: process.pid, pidNamespace: { dev: ns.dev, ino: ns.ino } };
  const ask = (dev: number, ino: number, size: number, slot: number): string => `
    r1 = ${dev} ll
    r2 = ${ino} ll
    r3 = r10
    r3 += -128
    r4 = ${size}
    call ${H.get_ns_current_pid_tgid}
    ${save(slot)}
    r1 = *(u64 *)(r10 - 128)
    ${save(slot + 1, 'r1')}`;
  const body = `r1 = -1\n*(u64 *)(r10 - 128) = r1\n*(u64 *)(r10 - 120) = r1\n${ask(ns.dev, ns.ino, 8, 0)}
    ${ask(ns.dev, ns.ino + 1, 8, 2)}\n${ask(ns.dev + 1, ns.ino, 8, 4)}\n${ask(ns.dev, ns.ino, 16, 6)}`;
  withPair({ type: 'socket_filter', maps: [RESULTS], asm: prog(body, 0), task }, (p) => p.agree({ data }, 'get_ns_current_pid_tgid'));
});

/** This process's cgroup v2 and its ancestors, root first: each one's id is its directory's inode. */
function ownCgroupIds(): number[] {
  const path = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  const parts = path.split('/').filter((p) => p !== '');
  return Array.from({ length: parts.length + 1 }, (_, level) => statSync(join('/sys/fs/cgroup', ...parts.slice(0, level))).ino);
}

test('cgroup ids of a test run\'s skb and task: the task\'s cgroup v2 and its ancestors', options, () => {
  const body = [
    `r1 = r6\ncall ${H.skb_cgroup_id}\n${save(0)}`,
    `r1 = r6\ncall ${H.skb_cgroup_classid}\n${save(1)}`,
    ...[0, 1, 2].map((level, i) => `r1 = r6\nr2 = ${level}\ncall ${H.skb_ancestor_cgroup_id}\n${save(2 + i)}`),
    ...[0, 1].map((level, i) => `r1 = ${level}\ncall ${H.get_current_ancestor_cgroup_id}\n${save(5 + i)}`),
    `call ${H.get_current_cgroup_id}\n${save(7)}`,
  ].join('\n');
  withPair({ type: 'sched_cls', maps: [RESULTS], asm: prog(body, 0), task: { cgroupIds: ownCgroupIds() } }, (p) => p.agree({ data }, 'cgroup ids'));
});

test('helpers marked GPL-only are those the kernel refuses to a program under another license', options, async () => {
  const { BpfProgram, BpfVerifierError } = await import('../../src/linux/index.js');
  /** The kernel's log for a program of `type` that calls `helper`, or '' when it loads. */
  const logOf = (type: ProgTypeName, helper: number, license: string): string => {
    try {
      BpfProgram.load({ type: ProgType[type], insns: callThenExit(helper), license, name: 'gpl_probe', logLevel: 1, flags: type === 'syscall' ? 1 << 4 : 0 }).close();
      return '';
    } catch (e) {
      if (!(e instanceof BpfVerifierError)) throw e;
      return e.log;
    }
  };
  const differences: string[] = [];
  for (const proto of HELPER_PROTOS) {
    const type = PLAIN_TYPES.find((t) => helperAllowed(proto, t));
    // Helpers this kernel withholds from every type (lockdown, config) say nothing about their license.
    if (type === undefined || /unknown func|cannot use helper/.test(logOf(type, proto.id, 'GPL'))) continue;
    const gplOnly = /cannot call GPL-restricted function/.test(logOf(type, proto.id, 'Proprietary'));
    if (gplOnly !== (proto.gpl ?? false)) differences.push(`${proto.name}: kernel ${gplOnly ? 'GPL-only' : 'any license'}`);
  }
  assert.deepEqual(differences, []);
});

test('bpf_check_mtu: the loopback device of a test run, on tc and XDP', options, () => {
  const check = (ifindex: number, mtuLen: number, lenDiff: number, flags: number, slot: number): string => `
    r1 = ${mtuLen}
    *(u32 *)(r10 - 128) = r1
    r1 = r6
    r2 = ${ifindex}
    r3 = r10
    r3 += -128
    r4 = ${lenDiff}
    r5 = ${flags}
    call ${H.check_mtu}
    r1 = *(u32 *)(r10 - 128)
    r1 <<= 32
    r0 &= 0xffff
    r0 |= r1
    ${save(slot)}`;
  const variants: [number, number, number, number][][] = [
    [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 65536, 0], [0, 65536, 0, 0], [0, 65536, 1, 0], [0, 1500, -20, 0], [99999, 0, 0, 0], [0, 0, 0, 4]],
    [[0, 0, 0, 1], [0, 0, 1, 1], [0, 100, 0, 1], [0, 0, 65550 - data.length, 0], [0, 0, 65551 - data.length, 0], [0, 0, -100, 0], [0, 65550, -14, 0], [0, 0, 0, 2]],
  ];
  for (const type of ['sched_cls', 'xdp']) {
    for (const [i, cases] of variants.entries()) {
      const body = cases.map(([ifindex, mtuLen, lenDiff, flags], slot) => check(ifindex, mtuLen, lenDiff, flags, slot)).join('\n');
      withPair({ type, maps: [RESULTS], asm: prog(body, 0) }, (p) => p.agree({ data }, `${type} check_mtu cases ${i}`));
    }
  }
});

test('helpers the runtime cannot implement are refused at load, by name', () => {
  using runtime = new Runtime({ cpus: 1 });
  const insns = assemble(`r1 = r1\nr2 = 0\nr3 = 0\nr4 = 0\ncall ${H.msg_pull_data}\nr0 = 1\nexit`);
  assert.throws(() => runtime.loadProgram(insns, { name: 'pull', type: 'sk_msg' }), /calls helper bpf_msg_pull_data#63, which the userspace runtime does not implement/);
});
