import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as attr from '../../src/linux/attr.js';
import { MapInfoLayout, ProgInfoLayout } from '../../src/linux/info.js';
import { encodeLayout, readNumber, readString, type Layout } from '../../src/linux/layout.js';
import { BpfSyscallError, errnoName, parseCpuList } from '../../src/linux/index.js';

test('layouts encode fields at their offsets, strings NUL-terminated and truncated', () => {
  const enc = encodeLayout(attr.MapCreateAttr, { map_type: 2, key_size: 4, max_entries: 0xffffffff, map_name: 'a_very_long_map_name', map_extra: 1n << 40n });
  assert.equal(enc.view.getUint32(0, true), 2);
  assert.equal(enc.view.getUint32(4, true), 4);
  assert.equal(enc.view.getUint32(12, true), 0xffffffff);
  assert.equal(readString(enc, 'map_name'), 'a_very_long_map');
  assert.equal(enc.bytes[28 + 15], 0);
  assert.equal(enc.view.getBigUint64(64, true), 1n << 40n);
  assert.equal(readNumber(enc, 'map_extra'), 2 ** 40);
  assert.equal(attr.MapCreateAttr.size, 80);
  assert.equal(attr.ProgLoadAttr.size, 152);
});

test('errno names and the syscall error message', () => {
  assert.equal(errnoName(1), 'EPERM');
  assert.equal(errnoName(95), 'EOPNOTSUPP');
  assert.equal(errnoName(524), 'ENOTSUPP');
  assert.equal(errnoName(11), 'EAGAIN');
  const err = new BpfSyscallError('BPF_MAP_CREATE', 1);
  assert.equal(err.code, 'linux/eperm');
  assert.match(err.message, /^BPF_MAP_CREATE failed: EPERM \(not permitted: run as root/);
});

test('CPU lists', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList('0'), [0]);
  assert.throws(() => parseCpuList('zero'), /cannot parse CPU list/);
});

/** Names in `union bpf_attr` for the fields our layouts name differently or nest. */
const C_PREFIX: Record<string, string> = {
  MapBatchAttr: 'batch.', TestRunAttr: 'test.', ObjInfoAttr: 'info.', RawTracepointAttr: 'raw_tracepoint.',
  LinkCreateAttr: 'link_create.', LinkUpdateAttr: 'link_update.', LinkDetachAttr: 'link_detach.', EnableStatsAttr: 'enable_stats.',
  ProgQueryAttr: 'query.',
};
const C_RENAME: Record<string, string> = {
  'GetIdAttr.id': 'start_id', 'LinkCreateAttr.relative_fd': 'link_create.tcx.relative_fd',
  'LinkCreateAttr.expected_revision': 'link_create.tcx.expected_revision', 'LinkCreateAttr.bpf_cookie': 'link_create.perf_event.bpf_cookie',
};

const clangSkip = !existsSync('/sys/kernel/btf/vmlinux') ? 'no /sys/kernel/btf/vmlinux'
  : (() => {
    try {
      execFileSync('clang-16', ['--version'], { stdio: 'ignore' });
      execFileSync('bpftool', ['version'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'clang-16 or bpftool not installed';
    }
  })();

test('every layout offset matches the running kernel (vmlinux.h from BTF, checked by clang)', { skip: clangSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-attr-'));
  try {
    writeFileSync(join(dir, 'vmlinux.h'), execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 1 << 28 }));
    const checks: string[] = [];
    const check = (cType: string, member: string, offset: number, label: string): void => {
      checks.push(`if (__builtin_offsetof(${cType}, ${member}) != ${offset}) { printf("${label}: %zu, table says ${offset}\\n", __builtin_offsetof(${cType}, ${member})); bad++; }`);
    };
    for (const [name, layout] of Object.entries(attr) as [string, Layout][]) {
      for (const [field, spec] of Object.entries(layout.fields)) {
        check('union bpf_attr', C_RENAME[`${name}.${field}`] ?? (C_PREFIX[name] ?? '') + field, spec.offset, `${name}.${field}`);
      }
    }
    for (const [cType, layout] of [['struct bpf_map_info', MapInfoLayout], ['struct bpf_prog_info', ProgInfoLayout]] as const) {
      for (const [field, spec] of Object.entries(layout.fields as Layout['fields'])) {
        if (field !== 'gpl_compatible') check(cType, field, spec.offset, `${cType}.${field}`);
      }
    }
    writeFileSync(join(dir, 'check.c'), `#include "vmlinux.h"\nint printf(const char *, ...);\nint main(void) { int bad = 0;\n${checks.join('\n')}\nreturn bad; }\n`);
    execFileSync('clang-16', ['-w', '-o', join(dir, 'check'), join(dir, 'check.c')], { cwd: dir });
    const output = execFileSync(join(dir, 'check'), { encoding: 'utf8' });
    assert.equal(output, '');
    assert.ok(checks.length > 100);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
