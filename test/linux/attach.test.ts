import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import {
  asm, attachRawTracepoint, attachSocketFilter, attachTcx, attachTracepoint, attachXdp, BpfLink, BpfMap, BpfProgram,
  BpfSyscallError, counterProgram, LinkType, XdpAction,
} from '../../src/linux/index.js';
import { closeFd } from '../../src/linux/libc.js';
import {
  addNetns, deleteNetns, eventually, getpidSyscall, ifindexIn, inNetns, ip, netnsName, netnsSkipReason, readU64, recvUdp, runTag, sendUdp, sendUdpAcross,
  skipReason, threadCounterProgram, u32, udpSocket,
} from './support.js';

/**
 * Two namespaces joined by a veth pair: `a` (10.77.0.1 on veth-a) and `b` (10.77.0.2 on veth-b).
 * Traffic never leaves them. Both are deleted after the tests, even when a test fails.
 */
const nsA = netnsName('a');
const nsB = netnsName('b');
const ADDR_A = '10.77.0.1';
const ADDR_B = '10.77.0.2';
let netnsReady = false;

before(() => {
  if (netnsSkipReason) return;
  addNetns(nsA);
  addNetns(nsB);
  ip('-n', nsA, 'link', 'add', 'veth-a', 'type', 'veth', 'peer', 'name', 'veth-b', 'netns', nsB);
  ip('-n', nsA, 'addr', 'add', `${ADDR_A}/24`, 'dev', 'veth-a');
  ip('-n', nsB, 'addr', 'add', `${ADDR_B}/24`, 'dev', 'veth-b');
  for (const [ns, dev] of [[nsA, 'veth-a'], [nsB, 'veth-b']] as const) ip('-n', ns, 'link', 'set', dev, 'up');
  netnsReady = true;
});

after(() => {
  deleteNetns(nsA);
  deleteNetns(nsB);
});

const netOpts = { skip: netnsSkipReason };

/** Sends `count` UDP datagrams from namespace a to b:port; returns how many b's socket received. */
const sendAcross = (count: number, port: number, expectNone = false): Promise<number> =>
  sendUdpAcross({ from: nsA, into: nsB, bind: ADDR_B }, count, port, expectNone);

for (const mode of ['generic', 'native'] as const) {
  test(`XDP (${mode}) on a veth in a namespace counts real packets; closing the link detaches`, netOpts, async () => {
    assert.ok(netnsReady);
    using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1, name: 'xdp_counts' });
    using prog = BpfProgram.load({ type: 'XDP', name: 'xdp_count', insns: counterProgram(counts.fd, XdpAction.PASS) });
    const ifindex = ifindexIn(nsB, 'veth-b');
    const link = inNetns(nsB, () => attachXdp(prog, ifindex, mode));
    let received: number;
    try {
      const info = link.info();
      assert.equal(info.type, LinkType.XDP);
      assert.equal(info.ifindex, ifindex);
      assert.equal(info.progId, prog.id);
      assert.match(ip('-n', nsB, 'link', 'show', 'dev', 'veth-b'), /xdp/);
      received = await sendAcross(5, 9000);
    } finally {
      link.close();
    }
    const seen = readU64(counts.lookup(u32(0))!);
    // Every datagram crossed the XDP hook (ARP adds one or two more; IPv6 is off) and was passed up to the socket.
    assert.equal(received, 5);
    assert.ok(seen >= 5 && seen <= 10, `XDP saw ${seen} packets`);
    assert.doesNotMatch(ip('-n', nsB, 'link', 'show', 'dev', 'veth-b'), /xdp/);
    await sendAcross(2, 9001);
    assert.equal(readU64(counts.lookup(u32(0))!), seen, 'no counting after detach');
  });
}

test('XDP_DROP swapped in with BPF_LINK_UPDATE: datagrams never reach the socket', netOpts, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using pass = BpfProgram.load({ type: 'XDP', insns: [asm.mov64Imm(0, XdpAction.PASS), asm.exit()] });
  using prog = BpfProgram.load({ type: 'XDP', insns: counterProgram(counts.fd, XdpAction.DROP) });
  const ifindex = ifindexIn(nsB, 'veth-b');
  using link = inNetns(nsB, () => attachXdp(pass, ifindex, 'generic'));
  // A second XDP link on the same interface is refused.
  assert.throws(() => inNetns(nsB, () => attachXdp(prog, ifindex, 'generic')), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EBUSY');
  link.update(prog, pass);
  assert.equal(link.info().progId, prog.id);
  // BPF_F_REPLACE with a stale "old program": EPERM, nothing changes.
  assert.throws(() => link.update(pass, pass), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EPERM');
  // Neighbour entry so the datagrams themselves are sent (ARP replies would be dropped too).
  ip('-n', nsA, 'neigh', 'replace', ADDR_B, 'lladdr', macOf(nsB, 'veth-b'), 'dev', 'veth-a');
  assert.equal(await sendAcross(4, 9002, true), 0);
  assert.ok(await eventually(() => readU64(counts.lookup(u32(0))!) >= 4), 'XDP dropped all 4');
});

test('tcx ingress link counts packets (Linux 6.6+)', netOpts, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  // TC_ACT_OK = 0
  using prog = BpfProgram.load({ type: 'SCHED_CLS', expectedAttachType: 'TCX_INGRESS', insns: counterProgram(counts.fd, 0) });
  const ifindex = ifindexIn(nsB, 'veth-b');
  const link = inNetns(nsB, () => attachTcx(prog, ifindex, 'ingress'));
  try {
    assert.equal(link.info().typeName, 'TCX');
    assert.equal(await sendAcross(3, 9003), 3);
  } finally {
    link.close();
  }
  assert.ok(readU64(counts.lookup(u32(0))!) >= 3);
});

test('socket filter via SO_ATTACH_BPF drops everything until detached (loopback inside a namespace)', netOpts, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'SOCKET_FILTER', insns: counterProgram(counts.fd, 0) });
  // Sockets keep the namespace they were made in; the waits below run outside inNetns.
  const [receiver, sender] = inNetns(nsA, () => [udpSocket('127.0.0.1', 9100), udpSocket()]);
  try {
    const filter = attachSocketFilter(receiver, prog);
    for (let i = 0; i < 3; i++) sendUdp(sender, '127.0.0.1', 9100, new Uint8Array([i]));
    // Loopback delivery (and so the filter) may run later in a softirq thread.
    assert.ok(await eventually(() => readU64(counts.lookup(u32(0))!) === 3), `filter ran ${readU64(counts.lookup(u32(0))!)} times`);
    assert.equal(recvUdp(receiver), undefined, 'filtered datagrams are dropped');
    filter.close();
    filter.close();
    sendUdp(sender, '127.0.0.1', 9100, new Uint8Array([9]));
    let received: Uint8Array | undefined;
    assert.ok(await eventually(() => (received = recvUdp(receiver)) !== undefined), 'delivered once detached');
    assert.deepEqual(received, new Uint8Array([9]));
    assert.equal(readU64(counts.lookup(u32(0))!), 3);
  } finally {
    closeFd(sender);
    closeFd(receiver);
  }
});

test('tracepoint syscalls/sys_enter_getpid counts real getpid() calls of this thread', { skip: skipReason }, () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'TRACEPOINT', name: 'count_getpid', insns: threadCounterProgram(counts.fd, 0, process.pid) });
  const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getpid');
  try {
    for (let i = 0; i < 20; i++) assert.equal(getpidSyscall(), process.pid);
  } finally {
    link.close();
  }
  assert.equal(readU64(counts.lookup(u32(0))!), 20);
  getpidSyscall();
  assert.equal(readU64(counts.lookup(u32(0))!), 20, 'detached on close');
  assert.throws(() => attachTracepoint(prog, 'syscalls', 'no_such_event'), /no tracepoint syscalls\/no_such_event/);
});

test('raw tracepoint sys_enter, pinned link survives close until unpinned', { skip: skipReason }, () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'RAW_TRACEPOINT', insns: counterProgram(counts.fd, 0, { tgid: process.pid }) });
  const dir = `/sys/fs/bpf/tsbpf-test-link-${runTag}`;
  try {
    const link = attachRawTracepoint(prog, 'sys_enter');
    assert.equal(link.info().typeName, 'RAW_TRACEPOINT');
    link.pin(`${dir}/raw`);
    link.close();
    for (let i = 0; i < 10; i++) getpidSyscall();
    assert.ok(readU64(counts.lookup(u32(0))!) >= 10, 'pinned link still attached');
    const again = BpfLink.fromPin(`${dir}/raw`);
    assert.equal(again.info().progId, prog.id);
    // Raw tracepoint links have no BPF_LINK_DETACH: removing the pin and the last fd detaches.
    assert.throws(() => again.detach(), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'EOPNOTSUPP');
    rmSync(`${dir}/raw`);
    again.close();
    const frozen = readU64(counts.lookup(u32(0))!);
    getpidSyscall();
    assert.equal(readU64(counts.lookup(u32(0))!), frozen, 'detached');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => attachRawTracepoint(prog, 'no_such_tracepoint'), (e: unknown) => e instanceof BpfSyscallError && e.errnoName === 'ENOENT');
});

function macOf(ns: string, dev: string): string {
  const m = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', ns, 'link', 'show', 'dev', dev));
  if (!m) throw new Error(`no MAC for ${dev}`);
  return m[1]!;
}
