import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfMap, BpfProgram, attachTcNetlink, attachTcx, attachXdp, counterProgram } from '../../src/linux/index.js';
import type { BpfLink } from '../../src/linux/link.js';
import type { TcAttachment } from '../../src/linux/tc-netlink.js';
import { deleteNetns, ifindexIn, ip, netnsName, netnsSkipReason } from '../linux/support.js';
import { cli, cliJson, inNetnsAsync } from './kernel-support.js';

interface NetJson {
  xdp: { name: string; ifindex: number; mode: string; progId: number; progName: string }[];
  tcx: { name: string; direction: string; progId: number; progName: string; linkId?: number }[];
  tc: { name: string; direction: string; progId: number; priority: number; directAction: boolean }[];
}
interface LinkJson {
  id: number;
  type: string;
  progId: number;
  progName: string;
  ifname?: string;
  details: Record<string, string | number>;
}

test('net list and link list/show/detach see XDP and tcx links and a tc filter on a veth pair in a namespace', { skip: netnsSkipReason }, async () => {
  const ns = netnsName('cli-net');
  deleteNetns(ns);
  ip('netns', 'add', ns);
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using xdpProg = BpfProgram.load({ type: 'XDP', name: 'cli_xdp', insns: counterProgram(counts.fd, 2) });
  using tcxProg = BpfProgram.load({ type: 'SCHED_CLS', name: 'cli_tcx', expectedAttachType: 'TCX_INGRESS', insns: counterProgram(counts.fd, 0) });
  using tcProg = BpfProgram.load({ type: 'SCHED_CLS', name: 'cli_tc', insns: counterProgram(counts.fd, 0) });
  const held: { close(): void }[] = [];
  try {
    ip('-n', ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    for (const dev of ['veth0', 'veth1']) ip('-n', ns, 'link', 'set', dev, 'up');
    const veth0 = ifindexIn(ns, 'veth0');
    const veth1 = ifindexIn(ns, 'veth1');
    await inNetnsAsync(ns, async () => {
      const xdp: BpfLink = attachXdp(xdpProg, veth0, 'generic');
      held.push(xdp);
      const tcx: BpfLink = attachTcx(tcxProg, veth0, 'ingress');
      held.push(tcx);
      const tc: TcAttachment = attachTcNetlink(tcProg, veth1, 'egress', { priority: 7 });
      held.push(tc);
      const xdpId = xdp.info().id;
      const tcxId = tcx.info().id;

      const net = await cliJson<NetJson>('net', 'list');
      assert.deepEqual(net.xdp, [{ ifindex: veth0, name: 'veth0', mode: 'generic', progId: xdpProg.id, progName: 'cli_xdp' }]);
      assert.deepEqual(net.tcx.map((t) => [t.name, t.direction, t.progId, t.progName, t.linkId]), [['veth0', 'ingress', tcxProg.id, 'cli_tcx', tcxId]]);
      assert.deepEqual(net.tc.map((t) => [t.name, t.direction, t.progId, t.priority, t.directAction]), [['veth1', 'egress', tcProg.id, 7, true]]);
      const text = await cli('net');
      assert.equal(text.code, 0, text.err);
      assert.match(text.out, new RegExp(`^veth0\\(${veth0}\\) generic prog ${xdpProg.id} name cli_xdp$`, 'm'));
      assert.match(text.out, new RegExp(`^veth0\\(${veth0}\\) tcx/ingress prog ${tcxProg.id} name cli_tcx link ${tcxId}$`, 'm'));
      assert.match(text.out, new RegExp(`^veth1\\(${veth1}\\) clsact/egress .*prog ${tcProg.id} name cli_tc prio 7 .*direct-action$`, 'm'));
      const onlyVeth1 = await cliJson<NetJson>('net', 'list', 'dev', 'veth1');
      assert.deepEqual([onlyVeth1.xdp.length, onlyVeth1.tcx.length, onlyVeth1.tc.length], [0, 0, 1]);
      assert.equal((await cli('net', 'list', 'dev', 'nosuchdev0')).code, 1);

      const links = await cliJson<LinkJson[]>('link', 'list');
      const xdpLink = links.find((l) => l.id === xdpId);
      assert.deepEqual(xdpLink, { id: xdpId, type: 'xdp', progId: xdpProg.id, progName: 'cli_xdp', ifname: 'veth0', details: { ifindex: veth0 } });
      const tcxLink = await cliJson<LinkJson>('link', 'show', String(tcxId));
      assert.deepEqual(tcxLink.details, { ifindex: veth0, attach_type: 'tcx_ingress' });
      const shown = await cli('link', 'show', 'id', String(xdpId));
      assert.equal(shown.out, `${xdpId}: xdp  prog ${xdpProg.id}  prog_name cli_xdp\n\tifindex veth0(${veth0})\n`);

      const detached = await cli('link', 'detach', String(xdpId));
      assert.equal(detached.code, 0, detached.err);
      assert.equal(detached.out, `link id ${xdpId} detached\n`);
      assert.deepEqual((await cliJson<NetJson>('net', 'list')).xdp, []);
    });
  } finally {
    await inNetnsAsync(ns, async () => {
      for (const h of held.reverse()) h.close();
    });
    deleteNetns(ns);
  }
});
