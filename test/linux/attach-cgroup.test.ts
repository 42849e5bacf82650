import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BpfMap, BpfProgram, counterProgram, LinkType } from '../../src/linux/index.js';
import { attachCgroup, attachCgroupLegacy, cgroupAttachType, CgroupAttachFlag } from '../../src/linux/attach-cgroup.js';
import { TsbpfError } from '../../src/errors.js';
import { readU64, u32 } from './support.js';
import { cgroupRoot, cgroupSkipReason, runChildIn, TemporaryCgroups } from './attach-support.js';

const skip = cgroupSkipReason;
const cgroups = new TemporaryCgroups();
after(() => cgroups.removeAll());

test('cgroup links count a child\'s egress packets, socket creations and connects; close detaches', { skip }, () => {
  const cgroup = cgroups.create('count');
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 3 });
  using egress = BpfProgram.load({ type: 'CGROUP_SKB', expectedAttachType: 'CGROUP_INET_EGRESS', insns: counterProgram(counts.fd, 1, { slot: 0 }) });
  using sockCreate = BpfProgram.load({ type: 'CGROUP_SOCK', expectedAttachType: 'CGROUP_INET_SOCK_CREATE', insns: counterProgram(counts.fd, 1, { slot: 1 }) });
  using connect4 = BpfProgram.load({ type: 'CGROUP_SOCK_ADDR', expectedAttachType: 'CGROUP_INET4_CONNECT', insns: counterProgram(counts.fd, 1, { slot: 2 }) });
  const read = (slot: number): number => readU64(counts.lookup(u32(slot))!);
  {
    using egressLink = attachCgroup(egress, cgroup, 'inet_egress');
    using _sock = attachCgroup(sockCreate, cgroup, 'cgroup_inet_sock_create');
    using _connect = attachCgroup(connect4, cgroup, 'BPF_CGROUP_INET4_CONNECT');
    const info = egressLink.info();
    assert.equal(info.type, LinkType.CGROUP);
    assert.equal(info.progId, egress.id);
    assert.deepEqual(runChildIn(cgroup), { connected: true });
  }
  // 10 datagrams plus the TCP handshake and teardown segments.
  assert.ok(read(0) >= 10, `egress ${read(0)}`);
  assert.ok(read(1) >= 3, `sockets ${read(1)}`);
  assert.ok(read(2) >= 1, `connects ${read(2)}`);
  const before = [read(0), read(1), read(2)];
  runChildIn(cgroup);
  assert.deepEqual([read(0), read(1), read(2)], before, 'detached on close');
});

test('legacy BPF_PROG_ATTACH with ALLOW_MULTI: a deny connect4 program makes connect() fail with EPERM', { skip }, () => {
  const cgroup = cgroups.create('deny');
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 2 });
  using allow = BpfProgram.load({ type: 'CGROUP_SOCK_ADDR', expectedAttachType: 'CGROUP_INET4_CONNECT', insns: counterProgram(counts.fd, 1, { slot: 0 }) });
  using deny = BpfProgram.load({ type: 'CGROUP_SOCK_ADDR', expectedAttachType: 'CGROUP_INET4_CONNECT', insns: counterProgram(counts.fd, 0, { slot: 1 }) });
  {
    using _allow = attachCgroupLegacy(allow, cgroup, 'inet4_connect', CgroupAttachFlag.ALLOW_MULTI);
    using denied = attachCgroupLegacy(deny, cgroup, 'inet4_connect', CgroupAttachFlag.ALLOW_MULTI);
    assert.deepEqual(runChildIn(cgroup), { connected: false, error: 'EPERM' });
    denied.close();
    assert.equal(denied.attached, false);
    assert.deepEqual(runChildIn(cgroup), { connected: true });
  }
  assert.equal(readU64(counts.lookup(u32(0))!), 2, 'both programs ran (multi)');
  assert.equal(readU64(counts.lookup(u32(1))!), 1);
  assert.deepEqual(runChildIn(cgroup), { connected: true });
  assert.equal(readU64(counts.lookup(u32(0))!), 2, 'detached on close');
});

test('cgroup attach types by any spelling; bad ones and missing cgroups are typed errors', { skip }, () => {
  assert.equal(cgroupAttachType('inet_ingress'), cgroupAttachType('CGROUP_INET_INGRESS'));
  assert.equal(cgroupAttachType('bpf_cgroup_inet4_connect'), cgroupAttachType('inet4_connect'));
  assert.throws(() => cgroupAttachType('sideways'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/attach-bad-attach-type');
  using prog = BpfProgram.load({ type: 'CGROUP_SKB', expectedAttachType: 'CGROUP_INET_EGRESS', insns: counterProgram(0, 1).slice(-2) });
  assert.throws(() => attachCgroup(prog, join(cgroupRoot!, 'tsbpf-no-such-cgroup'), 'inet_egress'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/attach-no-cgroup');
});
