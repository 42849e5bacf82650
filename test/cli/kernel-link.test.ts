import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import {
  BpfLink, BpfMap, BpfProgram, attachRawTracepoint, attachTracepoint, attachUprobe, counterProgram, dynamicPmuType, ensureBpffs, symbolFileOffset,
} from '../../src/linux/index.js';
import { eventually, runTag, skipReason } from '../linux/support.js';
import { cli, cliJson } from './kernel-support.js';

interface LinkJson {
  id: number;
  type: string;
  progId: number;
  progName: string;
  details: Record<string, string | number>;
}

test('link list/show: a tracepoint (perf_event) link and a raw tracepoint link with their names', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using tpProg = BpfProgram.load({ type: 'TRACEPOINT', name: 'cli_tp', insns: counterProgram(counts.fd, 0) });
  using rawProg = BpfProgram.load({ type: 'RAW_TRACEPOINT', name: 'cli_raw', insns: counterProgram(counts.fd, 0) });
  using tpLink = attachTracepoint(tpProg, 'syscalls', 'sys_enter_getpid');
  using rawLink = attachRawTracepoint(rawProg, 'sys_enter');
  const tpId = tpLink.info().id;
  const rawId = rawLink.info().id;

  const listed = await cliJson<LinkJson[]>('link', 'list');
  assert.deepEqual(listed.find((l) => l.id === tpId), {
    id: tpId, type: 'perf_event', progId: tpProg.id, progName: 'cli_tp', details: { event: 'tracepoint', tp_name: 'sys_enter_getpid' },
  });
  assert.deepEqual(listed.find((l) => l.id === rawId)?.details, { tp_name: 'sys_enter' });
  const text = await cli('link', 'list');
  assert.equal(text.code, 0, text.err);
  assert.ok(text.out.includes(`${tpId}: perf_event  prog ${tpProg.id}  prog_name cli_tp\n\tevent tracepoint  tp_name sys_enter_getpid\n`), text.out);
  assert.ok(text.out.includes(`${rawId}: raw_tracepoint  prog ${rawProg.id}  prog_name cli_raw\n\ttp_name sys_enter\n`), text.out);
  assert.deepEqual((await cliJson<LinkJson>('link', 'show', String(rawId))).progId, rawProg.id);
});

test('link pin keeps a link after its fd closes until the pin goes; detach without BPF_LINK_DETACH says so; errors exit 1 or 2', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using rawProg = BpfProgram.load({ type: 'RAW_TRACEPOINT', name: 'cli_pinned', insns: counterProgram(counts.fd, 0) });
  const pin = `${ensureBpffs()}/tsbpf-cli-link-${runTag}`;
  rmSync(pin, { force: true });
  try {
    let id: number;
    {
      using link = attachRawTracepoint(rawProg, 'sys_enter');
      id = link.info().id;
      const pinned = await cli('link', 'pin', String(id), pin);
      assert.equal(pinned.code, 0, pinned.err);
      assert.equal(pinned.out, `link id ${id} pinned at ${pin}\n`);
    }
    {
      using reopened = BpfLink.fromPin(pin);
      assert.equal(reopened.info().id, id);
    }
    assert.equal((await cliJson<LinkJson>('link', 'show', 'pinned', pin)).id, id);
    // Raw tracepoint links have no BPF_LINK_DETACH (XDP's is tested in kernel-net): the pin must go.
    const detached = await cli('link', 'detach', pin);
    assert.equal(detached.code, 1);
    assert.match(detached.err, /EOPNOTSUPP.*\(raw_tracepoint\) cannot be detached while it is held: remove its pins/);
    rmSync(pin);
    // Dropping the last reference through bpffs frees the link from a work queue: wait for its id to go.
    assert.ok(await eventually(() => ![...BpfLink.ids()].includes(id)), `link ${id} still alive`);
    const gone = await cli('link', 'show', String(id));
    assert.deepEqual([gone.code, gone.err], [1, `tsbpf link: no link with id ${id}\n`]);
  } finally {
    rmSync(pin, { force: true });
  }
  const missing = await cli('link', 'show', '4294967295');
  assert.deepEqual([missing.code, missing.err], [1, 'tsbpf link: no link with id 4294967295\n']);
  assert.equal((await cli('link', 'frobnicate')).code, 2);
  assert.equal((await cli('link', 'pin', '1')).code, 2);
  assert.equal((await cli('link', 'show', 'relative/path')).code, 2);
  const help = await cli('link', '--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /^usage: tsbpf link list/);
});

const libcPath = readFileSync('/proc/self/maps', 'utf8').match(/\/\S*libc\.so\.6/)?.[0];
const uprobeSkip = skipReason ?? (libcPath === undefined ? 'libc.so.6 not found in /proc/self/maps'
  : dynamicPmuType('uprobe') === undefined ? 'no uprobe PMU' : undefined);

test('link show: a uprobe (perf_event) link gives its file and offset, a uretprobe says so', { skip: uprobeSkip }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'KPROBE', name: 'cli_uprobe', insns: counterProgram(counts.fd, 0) });
  const offset = symbolFileOffset(libcPath!, 'getpid');
  using entry = attachUprobe(prog, { path: libcPath!, symbol: 'getpid', pid: process.pid });
  using exit = attachUprobe(prog, { path: libcPath!, symbol: 'getpid', pid: process.pid, retprobe: true });
  const shown = await cliJson<LinkJson>('link', 'show', String(entry.info().id));
  assert.deepEqual(shown.details, { event: 'uprobe', file: realpathSync(libcPath!), offset });
  assert.equal((await cliJson<LinkJson>('link', 'show', String(exit.info().id))).details['event'], 'uretprobe');
});
