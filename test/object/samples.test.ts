import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { openObject } from '../../src/object/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { main } from '../../src/cli/main.js';
import { corpus, missingCorpus } from '../support/paths.js';

function objects(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...objects(path));
    else if (name.endsWith('.o')) out.push(path);
  }
  return out;
}

test('every ebpf-samples object opens (maps, programs, relocations) or fails with a typed error', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let opened = 0;
  let programs = 0;
  const failures: string[] = [];
  const programErrors: string[] = [];
  for (const path of objects(dir)) {
    const name = relative(dir, path);
    try {
      const object = openObject(new Uint8Array(readFileSync(path)), { fileName: name });
      opened++;
      programs += object.programs.length;
      for (const p of object.programs) {
        if (!p.error) continue;
        assert.ok(p.error instanceof TsbpfError && p.error.message.includes(name), `${name}: program error names the file`);
        programErrors.push(`${name} ${p.name}: ${p.error.message.replace(`${name}: `, '')}`);
      }
    } catch (e) {
      assert.ok(e instanceof TsbpfError, `${name}: untyped error ${String(e)}`);
      assert.ok(e.message.includes(name), `${name}: the error names the file`);
      assert.ok(name.startsWith('invalid/'), `${name} failed to open: ${e.message}`);
      failures.push(`${name}: ${e.message}`);
    }
  }
  t.diagnostic(`${opened} objects opened, ${programs} programs; ${failures.length} objects refused (all in invalid/):\n${failures.join('\n')}`);
  t.diagnostic(`${programErrors.length} programs that cannot be linked:\n${programErrors.join('\n')}`);
  assert.ok(opened >= 162, `opened ${opened}`);
});

test('sample objects load into the userspace runtime (maps created, references bound)', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let loaded = 0;
  const reasons = new Map<string, number>();
  for (const path of objects(dir).filter((_, i) => i % 4 === 0)) {
    const name = relative(dir, path);
    let object;
    try {
      object = openObject(new Uint8Array(readFileSync(path)), { fileName: name });
    } catch {
      continue;
    }
    const runtime = new Runtime();
    try {
      runtime.loadObject(object, { type: 'sched_cls' });
      loaded++;
    } catch (e) {
      assert.ok(e instanceof TsbpfError, `${name}: untyped error ${String(e)}`);
      const reason = e.message.replace(/.*: /, '').replace(/\d+/g, 'N');
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    } finally {
      runtime.close();
    }
  }
  t.diagnostic(`${loaded} objects (every 4th) loaded whole; typed refusals: ${JSON.stringify([...reasons])}`);
  assert.ok(loaded > 0);
});

test('tsbpf obj show works on every sample object that opens', async (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const io = { stdout: () => {}, stderr: () => {}, readStdin: async () => Buffer.alloc(0), isTTY: false };
  let shown = 0;
  for (const path of objects(dir)) {
    const code = await main(['obj', 'show', path, '--json'], io);
    assert.ok(code === 0 || code === 2, `${path}: exit ${code}`);
    if (code === 0) shown++;
  }
  assert.ok(shown >= 162, `shown ${shown}`);
});
