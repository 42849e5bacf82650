import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, BpfProgram, counterProgram, ensureBpffs } from '../../src/linux/index.js';
import { fixturesDir } from '../support/paths.js';
import { runTag, skipReason } from '../linux/support.js';
import { cli, cliJson } from './kernel-support.js';

interface DumpedInsn {
  index: number;
  opcode: string;
  text: string;
  function?: string;
  source?: { file: string; line: number; column: number; text: string };
}

/** /proc/kallsyms shows real addresses to root unless kptr_restrict hides them. */
const kallsymsAddresses = ((): boolean => {
  try {
    return /^0*[1-9a-f][0-9a-f]* T __bpf_call_base$/m.test(readFileSync('/proc/kallsyms', 'utf8'));
  } catch {
    return false;
  }
})();

test('prog dump xlated: map loads by map id, helper calls by kernel symbol; dump jited gives the size; prog pin', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'XDP', name: 'cli_dump', insns: counterProgram(counts.fd, 2, { tgid: 1 }) });
  const text = await cli('prog', 'dump', 'xlated', String(prog.id));
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^ {3}0: \(85\) call /m);
  if (kallsymsAddresses) assert.match(text.out, /^ {3}0: \(85\) call bpf_get_current_pid_tgid$/m);
  assert.match(text.out, new RegExp(`^ {3}6: \\(18\\) r1 = map\\[id:${counts.id}\\] ll$`, 'm'));
  assert.match(text.out, /: \(95\) exit\n$/);
  const insns = await cliJson<DumpedInsn[]>('prog', 'dump', 'xlated', 'id', String(prog.id));
  assert.deepEqual(insns.slice(1, 3), [{ index: 1, opcode: '77', text: 'r0 >>= 32' }, { index: 2, opcode: '55', text: 'if r0 != 1 goto +15' }]);
  assert.equal(insns.reduce((slots, i) => slots + (i.opcode === '18' ? 2 : 1), 0) * 8, prog.info().xlatedSize);

  const jited = await cliJson<{ id: number; jitedSize: number }>('prog', 'dump', 'jited', String(prog.id));
  assert.deepEqual(jited, { id: prog.id, jitedSize: prog.info().jitedSize });
  assert.match((await cli('prog', 'dump', 'jited', String(prog.id))).out, /does not disassemble machine code/);

  const pin = `${ensureBpffs()}/tsbpf-cli-prog-${runTag}`;
  rmSync(pin, { force: true });
  try {
    const pinned = await cli('prog', 'pin', String(prog.id), pin);
    assert.deepEqual([pinned.code, pinned.out], [0, `program ${prog.id} pinned at ${pin}\n`]);
    assert.equal((await cliJson<DumpedInsn[]>('prog', 'dump', 'xlated', pin)).length, insns.length);
  } finally {
    rmSync(pin, { force: true });
  }
  assert.equal((await cli('prog', 'dump', 'xlated', '4294967295')).code, 1);
  assert.equal((await cli('prog', 'dump', 'native', String(prog.id))).code, 2);
});

const bpftoolSkip = skipReason ?? (() => {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'bpftool not found';
  }
})();

test('prog dump xlated shows the same function and source lines as bpftool for a program bpftool loaded', { skip: bpftoolSkip }, async () => {
  const object = join(fixturesDir, 'progs', 'xdp_firewall.bpf.o');
  const pin = `${ensureBpffs()}/tsbpf-cli-bpftool-${runTag}`;
  rmSync(pin, { force: true });
  try {
    // bpftool (libbpf) loads line info with the program, which tsbpf's object loader does not yet.
    execFileSync('bpftool', ['prog', 'load', object, pin], { stdio: 'ignore' });
    const id = (JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', pin], { encoding: 'utf8' })) as { id: number }).id;
    const theirs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'dump', 'xlated', 'id', String(id)], { encoding: 'utf8' })) as { src?: string; proto?: string; disasm: string }[];
    const ours = await cliJson<DumpedInsn[]>('prog', 'dump', 'xlated', String(id));
    assert.equal(ours.length, theirs.length);
    assert.deepEqual(ours.map((i) => i.source?.text.trim()), theirs.map((i) => i.src?.trim()));
    assert.deepEqual(ours.map((i) => i.opcode), theirs.map((i) => /^\((\w\w)\)/.exec(i.disasm)?.[1]));
    assert.equal(ours[0]?.function, 'xdp_firewall');
    assert.ok(ours.every((i) => i.source === undefined || i.source.file.endsWith('xdp_firewall.bpf.c')));
  } finally {
    if (existsSync(pin)) rmSync(pin);
  }
});
