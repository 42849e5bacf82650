import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openObject } from '../../src/object/index.js';
import { programBtfFacts, verify } from '../../src/verifier/index.js';
import { mapValueFields } from '../../src/btf/map-fields.js';
import { skipReason } from '../linux/support.js';

/**
 * Programs written in C that lock, time and read maps through their BTF, compiled with clang: the
 * value fields tsbpf reads from the object's BTF, and its verdict and error line against the running
 * kernel's (each variant is one -D switch).
 */

const SOURCE = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct val { int cnt; struct bpf_spin_lock l; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct val); } m SEC(".maps");
struct tv { long x; struct bpf_timer t; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct tv); } tm SEC(".maps");
#ifndef GLOBAL_CALL
static
#endif
__attribute__((noinline)) int add_one(int x) { return x + 1; }
static int timer_cb(void *map, int *key, struct tv *val) { return RET; }
SEC("tc") int prog(struct __sk_buff *skb) {
  int k = 0;
#ifdef LOCK
  struct val *v = bpf_map_lookup_elem(&m, &k);
  if (!v) return 0;
  bpf_spin_lock(&v->l);
  v->cnt = add_one(v->cnt);
#ifdef HELPER_CALL
  v->cnt += bpf_get_prandom_u32();
#endif
#ifdef DIRECT
  *(volatile int *)&v->l = 0;
#endif
#ifndef MISSING_UNLOCK
  bpf_spin_unlock(&v->l);
#endif
#endif
#ifdef TIMER
  struct tv *t = bpf_map_lookup_elem(&tm, &k);
  if (!t) return 0;
  bpf_timer_init(&t->t, &tm, 1);
  bpf_timer_set_callback(&t->t, timer_cb);
  bpf_timer_start(&t->t, 1000, 0);
#endif
  return 0;
}
char _license[] SEC("license") = "GPL";
`;

const VARIANTS: Record<string, string[]> = {
  'lock, a static call, unlock': ['-DLOCK', '-DRET=0'],
  'lock without unlock': ['-DLOCK', '-DMISSING_UNLOCK', '-DRET=0'],
  'a global function called under the lock': ['-DLOCK', '-DGLOBAL_CALL', '-DRET=0'],
  'a helper called under the lock': ['-DLOCK', '-DHELPER_CALL', '-DRET=0'],
  'a store into the lock': ['-DLOCK', '-DDIRECT', '-DRET=0'],
  'timer with a callback returning 0': ['-DTIMER', '-DRET=0'],
  'timer with a callback returning 1': ['-DTIMER', '-DRET=1'],
};

const clangSkip: string | undefined = (() => {
  try {
    execFileSync('clang-16', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'clang-16 not found';
  }
})();

function compile(dir: string, defines: string[]): Uint8Array {
  const src = join(dir, 'maps.bpf.c');
  const out = join(dir, 'maps.bpf.o');
  writeFileSync(src, SOURCE);
  execFileSync('clang-16', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, ...defines, '-c', src, '-o', out]);
  return readFileSync(out);
}

function tsbpfVerdict(bytes: Uint8Array): string {
  const object = openObject(bytes, { fileName: 'maps.bpf.o' });
  const p = object.programs.find((q) => q.name === 'prog')!;
  const r = verify({
    insns: p.insns, type: 'sched_cls', maps: object.maps, attachType: p.section,
    mapRefs: p.mapRefs.map((ref) => ({ insn: ref.insn, map: ref.map, kind: ref.kind, offset: ref.offset })),
    ...programBtfFacts(object.btf, p.functions),
  });
  return r.verdict === 'accept' ? 'accept' : r.error!.message;
}

async function kernelVerdict(bytes: Uint8Array): Promise<string> {
  const { BpfVerifierError } = await import('../../src/linux/index.js');
  const { loadObjectIntoKernel } = await import('../../src/linux/kernel-object.js');
  try {
    loadObjectIntoKernel(openObject(bytes, { fileName: 'maps.bpf.o' }), { ignorePinning: true }).close();
    return 'accept';
  } catch (e) {
    if (e instanceof BpfVerifierError) return e.summary;
    throw e;
  }
}

test('value fields come from the map value BTF', { skip: clangSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-maps-'));
  try {
    const object = openObject(compile(dir, ['-DLOCK', '-DTIMER', '-DRET=0']), { fileName: 'maps.bpf.o' });
    const fields = (name: string) => {
      const spec = object.maps.find((m) => m.name === name)!;
      return mapValueFields(object.btf!, spec.btfValueTypeId!);
    };
    assert.deepEqual(fields('m'), [{ kind: 'spin_lock', offset: 4, size: 4 }]);
    assert.deepEqual(fields('tm'), [{ kind: 'timer', offset: 8, size: 16 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('locks and timers: tsbpf gives the kernel verdict and line', { skip: clangSkip ?? skipReason }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-maps-'));
  try {
    const differences: string[] = [];
    for (const [name, defines] of Object.entries(VARIANTS)) {
      const bytes = compile(dir, defines);
      const ours = tsbpfVerdict(bytes);
      const kernel = await kernelVerdict(bytes);
      if (ours !== kernel) differences.push(`${name}: kernel ${kernel} | tsbpf ${ours}`);
    }
    assert.deepEqual(differences, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
