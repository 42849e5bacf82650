import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachTo } from '../../src/linux/attach-object.js';
import { loadObjectIntoKernel, type KernelObject } from '../../src/linux/kernel-object.js';
import { attachXdp, BpfLink } from '../../src/linux/link.js';
import { NetlinkError } from '../../src/linux/netlink.js';
import { BpfProgram } from '../../src/linux/program.js';
import { listTcFilters, TcAttachment } from '../../src/linux/tc-netlink.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { queryXdp, XdpAttachment } from '../../src/linux/xdp-netlink.js';
import { asm, XdpAction } from '../../src/linux/asm.js';
import { fixturesDir, repoRoot } from '../support/paths.js';
import {
  addNetns, deleteNetns, eventually, ifindexIn, inNetns, ip, netnsName, netnsSkipReason, readU64, sendUdpAcross, u32,
} from './support.js';

/**
 * XDP and tc attached over rtnetlink, in two namespaces joined by a veth pair (10.77.1.1 on veth-a in
 * `a`, 10.77.1.2 on veth-b in `b`). Traffic never leaves them; both are deleted after the tests.
 */
const nsA = netnsName('nl-a');
const nsB = netnsName('nl-b');
const ADDR_A = '10.77.1.1';
const ADDR_B = '10.77.1.2';
/** Nobody has it: only the tc rewrite makes datagrams sent to it arrive (at ADDR_B). */
const ADDR_GHOST = '10.77.1.9';

before(() => {
  if (netnsSkipReason) return;
  addNetns(nsA);
  addNetns(nsB);
  ip('-n', nsA, 'link', 'add', 'veth-a', 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', nsB);
  ip('-n', nsA, 'addr', 'add', `${ADDR_A}/24`, 'dev', 'veth-a');
  ip('-n', nsB, 'addr', 'add', `${ADDR_B}/24`, 'dev', 'veth-b');
  for (const [ns, dev] of [[nsA, 'veth-a'], [nsB, 'veth-b']] as const) ip('-n', ns, 'link', 'set', dev, 'up');
  // Frames for the ghost address go to veth-b's MAC, so only an IP rewrite stands between them and delivery.
  ip('-n', nsA, 'neigh', 'replace', ADDR_GHOST, 'lladdr', macOf(nsB, 'veth-b'), 'dev', 'veth-a');
});

after(() => {
  deleteNetns(nsA);
  deleteNetns(nsB);
});

const netOpts = { skip: netnsSkipReason };

function macOf(ns: string, dev: string): string {
  const m = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', ns, 'link', 'show', 'dev', dev));
  if (!m) throw new Error(`no MAC for ${dev}`);
  return m[1]!;
}

/** Sends `count` UDP datagrams from namespace a to `to`:port; returns how many b's socket on ADDR_B:port received. */
const sendAcross = (count: number, port: number, to = ADDR_B): Promise<number> => sendUdpAcross({ from: nsA, into: nsB, bind: ADDR_B, to }, count, port);
/** The same for datagrams that must not arrive: waits a moment only. */
const sendNoneAcross = (count: number, port: number, to = ADDR_B): Promise<number> => sendUdpAcross({ from: nsA, into: nsB, bind: ADDR_B, to }, count, port, true);

function loadFixture(name: string, edit?: (object: ReturnType<typeof openObjectForKernel>) => void): KernelObject {
  const object = openObjectForKernel(new Uint8Array(readFileSync(join(fixturesDir, 'progs', name))), { fileName: name });
  edit?.(object);
  return loadObjectIntoKernel(object, { ignorePinning: true });
}

/** xdp_firewall's per-protocol counters (a per-CPU array), summed over CPUs. */
const SLOT_UDP = 2;
const SLOT_DROPPED = 5;
function protoCount(kernel: KernelObject, slot: number): number {
  return kernel.map('proto_counts').lookupPerCpu(u32(slot))!.reduce((sum, v) => sum + readU64(v), 0);
}

const ipv4Bytes = (address: string): number[] => address.split('.').map(Number);

for (const mode of ['generic', 'native'] as const) {
  test(`XDP over netlink (${mode}): xdp_firewall counts, then drops a denied source; RTM_GETLINK shows it; close detaches`, netOpts, async () => {
    using kernel = loadFixture('xdp_firewall.bpf.o');
    const prog = kernel.program('xdp_firewall');
    const ifindex = ifindexIn(nsB, 'veth-b');
    const xdp = inNetns(nsB, () => attachTo(prog, { kind: 'xdp', interface: 'veth-b', mode, via: 'netlink' }));
    try {
      assert.ok(xdp instanceof XdpAttachment);
      assert.deepEqual(xdp.query(), { attached: mode, progId: prog.id, byMode: { [mode]: prog.id } });
      assert.equal(xdp.attachedProgramId(), prog.id);
      assert.match(ip('-n', nsB, 'link', 'show', 'dev', 'veth-b'), new RegExp(`${mode === 'generic' ? 'xdpgeneric' : 'xdp '}.*\\n.*\\n.*prog/xdp id ${prog.id}`, 's'));
      assert.equal(await sendAcross(5, 9200), 5);
      assert.ok(protoCount(kernel, SLOT_UDP) >= 5, `UDP counted ${protoCount(kernel, SLOT_UDP)}`);
      // Deny 10.77.1.1/32: its datagrams are dropped in XDP and counted as such.
      kernel.map('deny_v4').update(new Uint8Array([32, 0, 0, 0, ...ipv4Bytes(ADDR_A)]), u32(1));
      assert.equal(await sendNoneAcross(3, 9201), 0);
      assert.ok(await eventually(() => protoCount(kernel, SLOT_DROPPED) >= 3), `dropped ${protoCount(kernel, SLOT_DROPPED)}`);
    } finally {
      xdp.close();
    }
    assert.deepEqual(inNetns(nsB, () => queryXdp(ifindex)), { attached: 'none', byMode: {} });
    assert.doesNotMatch(ip('-n', nsB, 'link', 'show', 'dev', 'veth-b'), /xdp/);
    assert.equal(await sendAcross(2, 9202), 2, 'nothing dropped after detach');
    xdp.close();
  });
}

test('XDP over netlink: NOEXIST refusal, atomic replace with the expected fd, links and netlink exclude each other, kernel messages', netOpts, () => {
  using pass = BpfProgram.load({ type: 'XDP', name: 'nl_pass', insns: [asm.mov64Imm(0, XdpAction.PASS), asm.exit()] });
  using drop = BpfProgram.load({ type: 'XDP', name: 'nl_drop', insns: [asm.mov64Imm(0, XdpAction.DROP), asm.exit()] });
  const ifindex = ifindexIn(nsB, 'veth-b');
  const refusal = (errnoName: string, message: RegExp) => (e: unknown): boolean =>
    e instanceof NetlinkError && e.errnoName === errnoName && message.test(e.kernelMessage ?? '') && e.message.includes(e.kernelMessage!);
  inNetns(nsB, () => {
    using xdp = XdpAttachment.attach(pass, ifindex, 'generic');
    assert.throws(() => XdpAttachment.attach(drop, ifindex, 'generic'), refusal('EBUSY', /already attached/i));
    assert.throws(() => attachXdp(drop, ifindex, 'generic'), (e: unknown) => e instanceof Error && /EBUSY|EEXIST/.test(e.message));
    xdp.replace(drop);
    assert.equal(xdp.attachedProgramId(), drop.id);
    // Someone else swaps the program behind our back: our replace (expecting ours) is refused, and
    // close() leaves theirs in place.
    ip('-n', nsB, 'link', 'set', 'dev', 'veth-b', 'xdpgeneric', 'off');
    using theirs = XdpAttachment.attach(pass, ifindex, 'generic');
    assert.throws(() => xdp.replace(pass), refusal('EEXIST', /does not match expected/i));
    xdp.close();
    assert.equal(theirs.attachedProgramId(), pass.id);
    theirs.close();
    assert.equal(queryXdp(ifindex).attached, 'none');
    // A bpf_link owns the hook: netlink may not replace it.
    using link = attachXdp(pass, ifindex, 'generic');
    assert.throws(() => XdpAttachment.attach(drop, ifindex, 'generic'), refusal('EBUSY', /link/i));
    assert.equal(queryXdp(ifindex).progId, pass.id);
    link.close();
    assert.throws(() => XdpAttachment.attach(pass, 999_999, 'generic'), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV');
  });
  assert.throws(() => inNetns(nsB, () => queryXdp(999_999)), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV');
});

/** tc_rewrite with its match address set to the ghost and its new address to b's. */
function loadRewriter(): KernelObject {
  return loadFixture('tc_rewrite.bpf.o', (object) => {
    const rodata = object.maps.find((m) => m.origin === 'rodata')!;
    for (const [variable, address] of [['match_addr', ADDR_GHOST], ['new_addr', ADDR_B]] as const) {
      rodata.initialValue!.set(ipv4Bytes(address), rodata.variables!.find((v) => v.name === variable)!.offset);
    }
  });
}

function rewrittenCount(kernel: KernelObject): number {
  const bss = [...kernel.maps.values()].find((m) => m.name.endsWith('.bss'))!;
  return readU64(bss.lookup(u32(0))!);
}

test('tc over netlink: clsact created, a direct-action cls_bpf filter rewrites the destination on ingress; close removes both', netOpts, async () => {
  using kernel = loadRewriter();
  const prog = kernel.program('tc_rewrite');
  const ifindex = ifindexIn(nsB, 'veth-b');
  assert.equal(await sendNoneAcross(2, 9300, ADDR_GHOST), 0, 'without the filter the ghost address gets nothing');
  const filter = inNetns(nsB, () => attachTo(prog, { kind: 'tc', interface: 'veth-b', direction: 'ingress', priority: 3 }));
  try {
    assert.ok(filter instanceof TcAttachment);
    assert.equal(filter.createdQdisc, true);
    assert.equal(filter.priority, 3);
    assert.ok(filter.handle > 0, 'the kernel picked a handle');
    assert.deepEqual(filter.info(), { direction: 'ingress', priority: 3, handle: filter.handle, kind: 'bpf', name: 'tc_rewrite', progId: prog.id, directAction: true });
    assert.match(qdiscs(nsB), /qdisc clsact ffff: parent ffff:fff1/);
    assert.match(tc(nsB, 'filter', 'show', 'dev', 'veth-b', 'ingress'), new RegExp(`pref 3 bpf chain 0 handle 0x${filter.handle.toString(16)} tc_rewrite direct-action .*id ${prog.id}`));
    assert.equal(await sendAcross(4, 9301, ADDR_GHOST), 4);
    assert.equal(rewrittenCount(kernel), 4);
    assert.equal(await sendAcross(2, 9302), 2, 'other traffic passes untouched');
    assert.equal(rewrittenCount(kernel), 4);
  } finally {
    filter.close();
  }
  assert.deepEqual(inNetns(nsB, () => listTcFilters(ifindex, 'ingress')), []);
  assert.doesNotMatch(qdiscs(nsB), /clsact/, 'the qdisc we created is gone');
  assert.equal(await sendNoneAcross(2, 9303, ADDR_GHOST), 0);
});

/** `tc ARGS...` inside namespace `ns`. */
const tc = (ns: string, ...args: string[]): string => ip('netns', 'exec', ns, 'tc', ...args);
const qdiscs = (ns: string): string => tc(ns, 'qdisc', 'show', 'dev', 'veth-b');

test('tc over netlink: an existing clsact is kept; fixed priority/handle; EEXIST for a taken slot; egress listing', netOpts, () => {
  using kernel = loadRewriter();
  const prog = kernel.program('tc_rewrite');
  const ifindex = ifindexIn(nsB, 'veth-b');
  tc(nsB, 'qdisc', 'add', 'dev', 'veth-b', 'clsact');
  try {
    inNetns(nsB, () => {
      using egress = TcAttachment.attach(prog, ifindex, 'egress', { priority: 9, handle: 0x42, name: 'mine' });
      assert.equal(egress.createdQdisc, false);
      assert.throws(() => TcAttachment.attach(prog, ifindex, 'egress', { priority: 9, handle: 0x42 }),
        (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST');
      using second = TcAttachment.attach(prog, ifindex, 'egress', { priority: 10 });
      assert.deepEqual(listTcFilters(ifindex, 'egress').map((f) => [f.priority, f.handle, f.name]), [[9, 0x42, 'mine'], [10, second.handle, 'tc_rewrite']]);
      assert.deepEqual(listTcFilters(ifindex, 'ingress'), []);
    });
    assert.match(qdiscs(nsB), /clsact/, 'a clsact we did not create stays');
    assert.deepEqual(inNetns(nsB, () => listTcFilters(ifindex, 'egress')), []);
  } finally {
    tc(nsB, 'qdisc', 'del', 'dev', 'veth-b', 'clsact');
  }
});

test('100 netlink XDP and tc attach/query/close cycles leak no file descriptor', netOpts, () => {
  using xdpProg = BpfProgram.load({ type: 'XDP', insns: [asm.mov64Imm(0, XdpAction.PASS), asm.exit()] });
  using tcProg = BpfProgram.load({ type: 'SCHED_CLS', insns: [asm.mov64Imm(0, 0), asm.exit()] });
  const ifindex = ifindexIn(nsB, 'veth-b');
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  const before = openFds();
  inNetns(nsB, () => {
    for (let i = 0; i < 100; i++) {
      using xdp = XdpAttachment.attach(xdpProg, ifindex, 'generic');
      using filter = TcAttachment.attach(tcProg, ifindex, i % 2 ? 'ingress' : 'egress');
      assert.equal(xdp.attachedProgramId(), xdpProg.id);
      assert.equal(filter.info()?.progId, tcProg.id);
    }
    assert.equal(queryXdp(ifindex).attached, 'none');
  });
  assert.equal(openFds(), before);
  assert.doesNotMatch(qdiscs(nsB), /clsact/);
});

test('tcx targets stay links on this kernel; a LINK_CREATE EINVAL is retried over netlink, nothing left behind', netOpts, () => {
  using kernel = loadRewriter();
  const link = inNetns(nsB, () => attachTo(kernel.program('tc_rewrite'), { kind: 'tcx', interface: 'veth-b', direction: 'ingress' }));
  try {
    assert.ok(link instanceof BpfLink);
  } finally {
    link.close();
  }
  // An XDP program on tcx: LINK_CREATE says EINVAL (as kernels without tcx do), cls_bpf refuses it too.
  using xdpProg = BpfProgram.load({ type: 'XDP', insns: [asm.mov64Imm(0, XdpAction.PASS), asm.exit()] });
  assert.throws(() => inNetns(nsB, () => attachTo(xdpProg, { kind: 'tcx', interface: 'veth-b', direction: 'ingress' })),
    (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EINVAL' && /tc filter add \(ingress\).*RTM_NEWTFILTER/.test(e.message));
  assert.doesNotMatch(qdiscs(nsB), /clsact/);
});

interface AttachRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** `ip link`, `tc qdisc` and `tc filter` of veth-b while the command said it was attached. */
  during: string;
}

/**
 * `tsbpf ARGS...` inside namespace b, looked at once it says it is attached, then interrupted with
 * SIGINT (Ctrl-C): a short --duration could end before a loaded machine has run the inspection.
 */
function runAttach(...args: string[]): Promise<AttachRun> {
  const fromSource = import.meta.url.endsWith('.ts');
  const mainPath = fileURLToPath(new URL(`../../src/cli/main.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', nsB, process.execPath, ...(fromSource ? ['--import', 'tsx'] : []), mainPath, ...args], { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    let during = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (during || !stdout.includes('attached')) return;
      try {
        during = ip('-n', nsB, 'link', 'show', 'dev', 'veth-b') + qdiscs(nsB) + tc(nsB, 'filter', 'show', 'dev', 'veth-b', 'ingress');
      } catch (e) {
        during = `inspection failed: ${(e as Error).message}`;
      }
      child.kill('SIGINT');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr, during }));
  });
}

const xdpObject = join(fixturesDir, 'progs', 'xdp_firewall.bpf.o');
const tcObject = join(fixturesDir, 'progs', 'tc_rewrite.bpf.o');

test('tsbpf prog attach OBJ:NAME xdp dev IFACE native netlink, then tc ingress: attached until interrupted, detached after', netOpts, async () => {
  // --duration only bounds a hang here; SIGINT ends each run.
  const xdp = await runAttach('prog', 'attach', `${xdpObject}:xdp_firewall`, 'xdp', 'dev', 'veth-b', 'native', 'netlink', '--duration', '120');
  assert.equal(xdp.status, 0, xdp.stderr);
  assert.match(xdp.stdout, /attached \(xdp on ifindex \d+ \(native, netlink\)\); detaching in 120 s\n.*detached/s);
  assert.match(xdp.during, /prog\/xdp id \d+/);
  const tcRun = await runAttach('prog', 'attach', `${tcObject}:tc_rewrite`, 'tc', 'ingress', 'dev', 'veth-b', 'priority', '5', '--duration', '120');
  assert.equal(tcRun.status, 0, tcRun.stderr);
  assert.match(tcRun.stdout, /attached \(tc ingress filter on ifindex \d+ \(bpf direct-action, pref 5 handle 0x1, netlink\)\); detaching in 120 s\n.*detached/s);
  assert.match(tcRun.during, /pref 5 bpf .*tc_rewrite.*direct-action/s);
  const pinned = await runAttach('prog', 'attach', `${tcObject}:tc_rewrite`, 'tc', 'ingress', 'dev', 'veth-b', '--pin-link', '/sys/fs/bpf/never');
  assert.equal(pinned.status, 2);
  assert.match(pinned.stderr, /tc ingress filter .* is not a link and cannot be pinned/);
  assert.doesNotMatch(ip('-n', nsB, 'link', 'show', 'dev', 'veth-b'), /xdp/);
  assert.doesNotMatch(qdiscs(nsB), /clsact/);
});

test('tsbpf prog attach without --duration stays attached until Ctrl-C', netOpts, async () => {
  try {
    const run = await runAttach('prog', 'attach', `${tcObject}:tc_rewrite`, 'tc', 'ingress', 'dev', 'veth-b', 'priority', '6');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /; Ctrl-C to detach\n.*detached/s);
    assert.doesNotMatch(qdiscs(nsB), /clsact/);
  } finally {
    try {
      tc(nsB, 'qdisc', 'del', 'dev', 'veth-b', 'clsact');
    } catch {
      // Nothing was left behind.
    }
  }
});
