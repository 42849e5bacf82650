import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { fixturesDir } from '../support/paths.js';
import { skipReason } from '../linux/support.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const io: CliIO = { stdout: (t) => { out += t; }, stderr: (t) => { out += t; }, readStdin: async () => Buffer.alloc(0), isTTY: false };
  return { code: await main(argv, io), out };
}

test('verify and verify --kernel agree on the fixtures, in the same JSON shape', { skip: skipReason }, async () => {
  for (const name of ['xdp_firewall.bpf.o', 'tailcall.bpf.o', 'loop.bpf.o', 'tc_rewrite.bpf.o']) {
    const path = join(fixturesDir, 'progs', name);
    const ours = JSON.parse((await cli('verify', path, '--json')).out) as { programs: { name: string; verdict: string }[] };
    const kernel = await cli('verify', path, '--kernel', '--json');
    assert.equal(kernel.code, 0, kernel.out);
    const theirs = JSON.parse(kernel.out) as { programs: { name: string; verdict: string; processed_insns: number }[] };
    assert.deepEqual(ours.programs.map((p) => [p.name, p.verdict]), theirs.programs.map((p) => [p.name, p.verdict]), name);
    assert.ok(theirs.programs.every((p) => p.processed_insns > 0));
  }
});
