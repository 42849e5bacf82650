import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { attachUsdt, encodeUsdtSpec, parseUsdtArguments, raiseUsdtSemaphore, readUsdtProbes, USDT_SPEC_SIZE } from '../../src/linux/usdt.js';
import { TsbpfError } from '../../src/errors.js';
import { repoRoot } from '../support/paths.js';
import { skipReason } from './support.js';

const FIXTURES = join(repoRoot, 'test', 'linux', 'fixtures');

/** A C compiler for the test binary: cc, or the clang-16 that builds the BPF fixtures. */
const compiler: string | undefined = ['cc', 'clang-16', 'clang'].find((name) => {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** Why the test binary cannot be built here (its notes are x86-64 inline asm), or undefined. */
const ccSkip: string | undefined = process.arch !== 'x64'
  ? `the USDT test binary is written for x86-64 (this is ${process.arch})`
  : compiler === undefined ? 'no C compiler (cc, clang-16 or clang) to build the USDT test binary' : undefined;

/** Builds usdt_target.c at -O0 (arguments in memory) and -O2 (in registers) into a temporary folder. */
function buildTargets(): { dir: string; o0: string; o2: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-usdt-'));
  const build = (level: string): string => {
    const out = join(dir, `usdt_target${level}`);
    execFileSync(compiler!, [level, '-o', out, join(FIXTURES, 'usdt_target.c')], { stdio: 'pipe' });
    return out;
  };
  return { dir, o0: build('-O0'), o2: build('-O2') };
}

test('USDT argument specs: x86-64 and arm64 forms, signedness, refusals', () => {
  assert.deepEqual(parseUsdtArguments('-4@%edi 8@-8(%rbp) 2@$-7 1@%r9b 8@(%rsp) 4@0x10(%r12d)', 'x64').map((a) => [a.size, a.signed, a.location]), [
    [4, true, { kind: 'reg', register: 'rdi' }],
    [8, false, { kind: 'deref', register: 'rbp', offset: -8 }],
    [2, false, { kind: 'const', value: -7n }],
    [1, false, { kind: 'reg', register: 'r9' }],
    [8, false, { kind: 'deref', register: 'rsp', offset: 0 }],
    [4, false, { kind: 'deref', register: 'r12', offset: 16 }],
  ]);
  assert.deepEqual(parseUsdtArguments('-4@w1 8@[sp, 16] 4@5', 'arm64').map((a) => a.location), [
    { kind: 'reg', register: 'x1' }, { kind: 'deref', register: 'sp', offset: 16 }, { kind: 'const', value: 5n },
  ]);
  assert.deepEqual(parseUsdtArguments('  ', 'x64'), []);
  for (const bad of ['3@%eax', '8@%xmm0', '8@(%rax,%rbx,8)', '8@foo']) {
    assert.throws(() => parseUsdtArguments(bad, 'x64'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/bad-usdt-arg', bad);
  }
  // struct __bpf_usdt_spec as usdt.bpf.h reads it.
  const spec = encodeUsdtSpec(parseUsdtArguments('-4@%edi 8@-8(%rbp)', 'x64'), 7n, 'x64');
  const view = new DataView(spec.buffer);
  assert.equal(spec.byteLength, USDT_SPEC_SIZE);
  assert.deepEqual([view.getUint32(8, true), view.getInt16(12, true), spec[14], spec[15]], [1, 112, 1, 32]); // REG rdi, signed, <<32
  assert.deepEqual([view.getBigInt64(16, true), view.getUint32(24, true), view.getInt16(28, true), spec[31]], [-8n, 2, 32, 0]); // DEREF rbp-8
  assert.deepEqual([view.getBigUint64(192, true), view.getInt16(200, true)], [7n, 2]);
});

test('USDT notes of a built binary: provider, name, file offset, semaphore, arguments', { skip: ccSkip }, () => {
  const { dir, o0, o2 } = buildTargets();
  try {
    for (const path of [o0, o2]) {
      const [probe, ...more] = readUsdtProbes(path);
      assert.equal(more.length, 0);
      assert.equal(probe!.provider, 'tsbpf');
      assert.equal(probe!.name, 'tick');
      assert.ok(probe!.semaphore !== 0n && probe!.semaphoreOffset !== undefined);
      assert.equal(readFileSync(path)[probe!.fileOffset], 0x90, 'the site is the nop');
      assert.deepEqual(probe!.arguments.map((a) => [a.size, a.signed]), [[4, true], [8, true], [2, true]]);
    }
    assert.equal(readUsdtProbes(o0)[0]!.arguments[0]!.location.kind, 'deref');
    // At -O2 gcc keeps arguments in registers (clang-16 still spills them): the attach test reads both.
    assert.deepEqual(readUsdtProbes(process.execPath).filter((p) => p.provider === 'tsbpf'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('USDT attach: a uprobe per site, semaphore raised by the kernel, arguments read through the spec map', { skip: skipReason ?? ccSkip }, async () => {
  const { dir, o0, o2 } = buildTargets();
  try {
    for (const path of [o0, o2]) {
      using kernel = loadObjectIntoKernel(openObjectForKernel(new Uint8Array(readFileSync(join(FIXTURES, 'usdt.bpf.o'))), { fileName: 'usdt.bpf.o' }));
      const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      try {
        while (!output.includes('ready')) await once(child.stdout, 'data');
        {
          using attachment = attachUsdt(kernel.program('on_tick'), {
            path, provider: 'tsbpf', name: 'tick', pid: child.pid!, specs: kernel.map('__bpf_usdt_specs'), cookie: 42n,
          });
          assert.equal(attachment.probes.length, 1);
          child.stdin.end('go\n');
          await once(child, 'exit');
        }
      } finally {
        child.kill();
      }
      assert.match(output, /enabled 10/, 'the semaphore was raised while attached');
      assert.deepEqual(kernel.globals('.bss').toObject(), { hits: 10, sum_first: 45, sum_second: -45000, last_third: -7, arg_count: 3, cookie: 42 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('USDT semaphore through /proc/PID/mem (kernels without ref_ctr_offset)', { skip: skipReason ?? ccSkip }, async () => {
  const { dir, o2 } = buildTargets();
  try {
    const child = spawn(o2, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      while (!output.includes('ready')) await once(child.stdout, 'data');
      const lower = raiseUsdtSemaphore(child.pid!, o2, readUsdtProbes(o2)[0]!.semaphoreOffset!);
      child.stdin.end('go\n');
      await once(child, 'exit');
      lower(); // the process is gone: nothing to lower, and no error
    } finally {
      child.kill();
    }
    assert.match(output, /enabled 10/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('USDT attach refuses a probe the binary does not have', { skip: skipReason ?? ccSkip }, () => {
  const { dir, o2 } = buildTargets();
  try {
    using kernel = loadObjectIntoKernel(openObjectForKernel(new Uint8Array(readFileSync(join(FIXTURES, 'usdt.bpf.o'))), { fileName: 'usdt.bpf.o' }));
    assert.throws(() => attachUsdt(kernel.program('on_tick'), { path: o2, provider: 'tsbpf', name: 'nope' }), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/no-usdt');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
