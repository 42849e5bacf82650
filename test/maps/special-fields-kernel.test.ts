import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openObject } from '../../src/object/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { skipReason } from '../linux/support.js';

/**
 * Which map types may hold a bpf_spin_lock or a bpf_timer in their values (the kernel's
 * map_check_btf): where the running kernel refuses the map with EOPNOTSUPP, libbpf creates it again
 * without BTF, and tsbpf's runtime does the same, so the verifier then refuses locks and timers on it.
 * Each case is one clang build of a map with that type and value.
 */

const SOURCE = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct val { long x; FIELD f; };
struct { __uint(type, MAP_TYPE); __uint(max_entries, 4); __type(key, int); __type(value, struct val); EXTRA } m SEC(".maps");
SEC("tc") int prog(struct __sk_buff *skb) { int k = 0; return bpf_map_lookup_elem(&m, &k) != 0; }
char _license[] SEC("license") = "GPL";
`;

const FIELDS = ['struct bpf_spin_lock', 'struct bpf_timer'];
const TYPES: Record<string, string> = {
  BPF_MAP_TYPE_HASH: '',
  BPF_MAP_TYPE_ARRAY: '',
  BPF_MAP_TYPE_PERCPU_ARRAY: '',
  BPF_MAP_TYPE_PERCPU_HASH: '',
  BPF_MAP_TYPE_LRU_HASH: '',
  BPF_MAP_TYPE_LRU_PERCPU_HASH: '',
};

function clangMissing(): string | undefined {
  try {
    execFileSync('clang-16', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'clang-16 not found';
  }
}

const skip = skipReason ?? clangMissing();

test('maps keep their value BTF (and so their locks and timers) where the kernel keeps it', { skip }, async () => {
  const { loadObjectIntoKernel } = await import('../../src/linux/kernel-object.js');
  const { openObjectForKernel } = await import('../../src/linux/vmlinux.js');
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-special-'));
  try {
    const mismatches: string[] = [];
    for (const field of FIELDS) {
      for (const [type, extra] of Object.entries(TYPES)) {
        const src = join(dir, 'm.c');
        const obj = join(dir, 'm.o');
        writeFileSync(src, SOURCE);
        execFileSync('clang-16', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, `-DFIELD=${field}`, `-DMAP_TYPE=${type}`, `-DEXTRA=${extra}`, '-c', src, '-o', obj]);
        const bytes = new Uint8Array(readFileSync(obj));
        // Both create the map; libbpf and tsbpf retry without BTF when the type refuses the field.
        const kernelObject = loadObjectIntoKernel(openObjectForKernel(bytes));
        const kernel = kernelObject.maps.get('m')!.info().btfValueTypeId !== 0;
        kernelObject.close();
        const loaded = new Runtime().loadObject(openObject(bytes));
        const user = loaded.maps.get('m')!.spec.btfValueTypeId !== undefined;
        if (kernel !== user) mismatches.push(`${field} in ${type}: kernel keeps BTF ${kernel}, tsbpf ${user}`);
      }
    }
    assert.deepEqual(mismatches, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
