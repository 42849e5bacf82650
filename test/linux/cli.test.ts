import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { BpfProgram, BpfMap, counterProgram, ensureBpffs } from '../../src/linux/index.js';
import { getpidSyscall, readU64, skipReason, u32 } from './support.js';
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

const SYSCALLS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'syscalls.bpf.o');

function pinDir(): string {
  ensureBpffs();
  return join('/sys/fs/bpf', `tsbpf-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

test('tsbpf prog load --pin, map list, map dump ID|PIN decoded through BTF, prog attach --pin-link', { skip: skipReason }, async () => {
  const dir = pinDir();
  try {
    const loaded = capture();
    assert.equal(await main(['prog', 'load', SYSCALLS_OBJ, '--pin', `${dir}/obj`, '--pin-root', dir, '--json'], loaded.io), 0, loaded.err());
    const report = JSON.parse(loaded.out()) as { programs: { name: string; id: number; type: string }[]; pinnedByName: Record<string, string> };
    assert.deepEqual(report.programs.map((p) => p.name).sort(), ['count_getpid', 'count_raw', 'keep_all', 'on_call', 'pass_all', 'tc_pass']);
    assert.equal(report.programs.find((p) => p.name === 'pass_all')!.type, 'xdp');
    assert.equal(report.pinnedByName.tsbpf_totals, `${dir}/tsbpf_totals`);
    // The command has exited (its fds are closed); the pins keep everything.
    using prog = BpfProgram.fromPin(`${dir}/obj/progs/count_getpid`);
    assert.equal(prog.id, report.programs.find((p) => p.name === 'count_getpid')!.id);
    using totals = BpfMap.fromPin(`${dir}/tsbpf_totals`);
    totals.update(u32(7), new Uint8Array(new BigUint64Array([99n]).buffer));
    const list = capture();
    assert.equal(await main(['map', 'list'], list.io), 0);
    assert.match(list.out(), new RegExp(`^${totals.id}: hash  name tsbpf_totals  flags 0x0\\n\\tkey 4B  value 8B  max_entries 16  btf_id \\d+$`, 'm'));
    for (const how of [[String(totals.id)], ['id', String(totals.id)], [`${dir}/tsbpf_totals`], ['pinned', `${dir}/tsbpf_totals`]]) {
      const dump = capture();
      assert.equal(await main(['map', 'dump', ...how, '--json'], dump.io), 0, dump.err());
      assert.deepEqual(JSON.parse(dump.out()), { tsbpf_totals: [{ key: 7, value: 99 }] }, how.join(' '));
    }
    const text = capture();
    assert.equal(await main(['map', 'dump', String(totals.id)], text.io), 0);
    assert.equal(text.out(), `map ${totals.id} tsbpf_totals: 1 entry\n  7 => 99\n`);
    const ring = capture();
    assert.equal(await main(['map', 'dump', `${dir}/obj/maps/events`], ring.io), 2);
    assert.match(ring.err(), /ringbuf: its contents cannot be listed by key/);
    // Attach the pinned program by pin path, pin the link, check it counts, remove the pin to detach.
    const attach = capture();
    assert.equal(await main(['prog', 'attach', `${dir}/obj/progs/count_getpid`, 'tracepoint', 'syscalls:sys_enter_getpid', '--pin-link', `${dir}/link`], attach.io), 0, attach.err());
    assert.match(attach.out(), /link \d+ \(perf_event\) pinned at/);
    using calls = BpfMap.fromPin(`${dir}/obj/maps/calls`);
    const before = readU64(calls.lookup(u32(0))!);
    getpidSyscall();
    assert.ok(readU64(calls.lookup(u32(0))!) > before);
    // OBJ:NAME with the section's own target, for a moment.
    const timed = capture();
    assert.equal(await main(['prog', 'attach', `${SYSCALLS_OBJ}:count_raw`, '--duration', '0.05', '--pin-root', dir], timed.io), 0, timed.err());
    assert.match(timed.out(), /attached \(raw tracepoint sys_enter\); detaching in 0.05 s\n.*detached/s);
    const kprobe = capture();
    assert.equal(await main(['prog', 'attach', String(prog.id), 'kprobe', 'do_sys_openat2'], kprobe.io), 2);
    if (!existsSync('/sys/bus/event_source/devices/kprobe')) assert.match(kprobe.err(), /this kernel has no kprobe support/);
    const badTarget = capture();
    assert.equal(await main(['prog', 'attach', String(prog.id), 'teleport', 'x'], badTarget.io), 2);
    assert.match(badTarget.err(), /expected: xdp \| tcx/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The userspace form still answers for ELF paths.
  const userspace = capture();
  assert.equal(await main(['map', 'dump', SYSCALLS_OBJ, '--map', 'calls', '--json'], userspace.io), 0, userspace.err());
  assert.deepEqual(JSON.parse(userspace.out()), { calls: [{ key: 0, value: 0 }] });
});

test('tsbpf prog load: a verifier rejection prints the summary line, then the whole log', { skip: skipReason }, async () => {
  const run = capture();
  const dir = pinDir();
  try {
    assert.equal(await main(['prog', 'load', SYSCALLS_OBJ, '--prog', 'keep_all', '--type', 'tracepoint', '--pin-root', dir], run.io), 1);
    assert.ok(!existsSync(join(dir, 'tsbpf_totals')), 'the by-name pin made for a failed load is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(run.err(), /^tsbpf prog: BPF_PROG_LOAD failed: EACCES .*program keep_all: invalid bpf_context access off=0 size=4\n--- verifier log \(\d+ lines\) ---\n/);
  assert.match(run.err(), /processed \d+ insns/);
});
