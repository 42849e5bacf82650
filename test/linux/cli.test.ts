import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { BpfProgram, BpfMap, counterProgram } from '../../src/linux/index.js';
import { skipReason } from './support.js';
import { repoRoot } from '../support/paths.js';

function capture(): { io: CliIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => (out += t), stderr: (t) => (err += t), readStdin: async () => Buffer.alloc(0), isTTY: false },
    out: () => out,
    err: () => err,
  };
}

test('tsbpf prog list / show: our program appears with id, type, name, tag', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'XDP', name: 'cli_listed', insns: counterProgram(counts.fd, 2) });
  const text = capture();
  assert.equal(await main(['prog', 'list'], text.io), 0);
  const info = prog.info();
  assert.match(text.out(), new RegExp(`^${prog.id}: xdp  name cli_listed  tag ${info.tag}  gpl$`, 'm'));
  assert.match(text.out(), new RegExp(`map_ids ${counts.id}`));
  const json = capture();
  assert.equal(await main(['prog', 'list', '--json'], json.io), 0);
  const listed = (JSON.parse(json.out()) as { id: number; typeName: string; name: string }[]).find((p) => p.id === prog.id);
  assert.deepEqual([listed?.typeName, listed?.name], ['XDP', 'cli_listed']);
  const show = capture();
  assert.equal(await main(['prog', 'show', 'id', String(prog.id)], show.io), 0);
  assert.match(show.out(), /name cli_listed/);
  const missing = capture();
  assert.equal(await main(['prog', 'show', '2147483000'], missing.io), 1);
  const bad = capture();
  assert.equal(await main(['prog', 'frobnicate'], bad.io), 2);
});

test('tsbpf feature probe --json: program and map types, kprobe reported missing when absent', { skip: skipReason }, async () => {
  const run = capture();
  assert.equal(await main(['feature', 'probe', '--json', '--prog-type', 'socket_filter'], run.io), 0);
  const report = JSON.parse(run.out()) as {
    programTypes: { name: string; status: string }[]; mapTypes: { name: string; status: string }[];
    attach: { name: string; status: string; detail?: string }[]; helpers: Record<string, string[]>;
  };
  const status = (list: { name: string; status: string }[], name: string): string | undefined => list.find((r) => r.name === name)?.status;
  assert.equal(status(report.programTypes, 'XDP'), 'supported');
  assert.equal(status(report.programTypes, 'SOCKET_FILTER'), 'supported');
  assert.equal(status(report.mapTypes, 'HASH'), 'supported');
  assert.equal(status(report.mapTypes, 'RINGBUF'), 'supported');
  assert.ok(report.helpers.SOCKET_FILTER!.includes('map_lookup_elem'));
  assert.ok(!report.helpers.SOCKET_FILTER!.includes('override_return'), 'socket filters cannot call bpf_override_return');
  const kprobe = report.attach.find((a) => a.name === 'kprobe')!;
  const kprobePresent = existsSync('/sys/bus/event_source/devices/kprobe') || existsSync('/sys/kernel/tracing/kprobe_events');
  assert.equal(kprobe.status, kprobePresent ? 'supported' : 'unsupported');
  if (!kprobePresent) assert.match(kprobe.detail!, /missing/);
  const text = capture();
  assert.equal(await main(['feature', 'probe'], text.io), 0);
  assert.match(text.out(), /eBPF program_type xdp is available/);
  assert.match(text.out(), /eBPF map_type hash is available/);
  assert.equal(await main(['feature', 'nope'], capture().io), 2);
});

const runuserSkip = skipReason ?? (() => {
  try {
    execFileSync('runuser', ['-u', 'nobody', '--', 'true'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'runuser -u nobody not available';
  }
})();

test('as an unprivileged user: prog list fails with EPERM and the root hint; feature probe says bpf() is refused', { skip: runuserSkip }, () => {
  const fromSource = import.meta.url.endsWith('.ts');
  const mainPath = fileURLToPath(new URL(`../../src/cli/main.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  const run = (...args: string[]) => spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, ...(fromSource ? ['--import', 'tsx'] : []), mainPath, ...args], {
    encoding: 'utf8', cwd: repoRoot,
  });
  const list = run('prog', 'list');
  assert.equal(list.status, 1, list.stderr);
  assert.match(list.stderr, /BPF_PROG_GET_NEXT_ID failed: EPERM \(not permitted: run as root/);
  const probe = run('feature', 'probe');
  assert.equal(probe.status, 1, probe.stderr);
  assert.match(probe.stdout, /bpf\(\) syscall is refused \(EPERM\)/);
});
