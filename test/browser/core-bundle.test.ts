import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createContext, runInContext } from 'node:vm';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { fixturesDir, repoRoot } from '../support/paths.js';

/**
 * The core must run in browsers: bundle the root entry (src/index.ts) for the browser platform (a
 * `node:` import fails the build), then run it in a bare context that has only what a browser has
 * (WebAssembly, TextDecoder, performance), no require, process or Buffer.
 */
test('the core bundles for browsers and runs a program without Node globals', async () => {
  const result = await build({
    entryPoints: [join(repoRoot, 'src', 'index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'tsbpf',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.text;
  assert.doesNotMatch(code, /require\(["']node:/);
  const sandbox = { WebAssembly, TextDecoder, TextEncoder, performance, console, out: undefined as unknown };
  createContext(sandbox);
  runInContext(`${code}
    const { assemble, interpreter, AddressSpace } = tsbpf;
    const insns = assemble('r0 = 0\\nr1 = 10\\nloop:\\nr0 += r1\\nr1 += -1\\nif r1 != 0 goto loop\\nexit');
    const space = new AddressSpace();
    out = String(interpreter.load(insns, { space }).run().r0);`, sandbox);
  assert.equal(sandbox.out, '55');

  // The whole userspace runtime: an ELF object (bytes as a browser would fetch them) through test-run.
  Object.assign(sandbox, { objectBytes: new Uint8Array(readFileSync(join(fixturesDir, 'progs', 'xdp_firewall.bpf.o'))) });
  runInContext(`
    const runtime = new tsbpf.Runtime();
    const obj = runtime.loadObject(objectBytes);
    const frame = new Uint8Array(60); frame[12] = 0x08; frame[14] = 0x45; frame[23] = 17;
    out = obj.program('xdp_firewall').testRun({ data: frame }).verdict;`, sandbox);
  assert.equal(sandbox.out, 'XDP_PASS');
  assert.equal(typeof (sandbox as Record<string, unknown>)['process'], 'undefined');
});
