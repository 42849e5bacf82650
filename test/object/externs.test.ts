import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { PseudoCall, PseudoLdImm64 } from '../../src/isa/opcodes.js';
import { KCONFIG_MAP, kconfigValue, kernelVersionCode, openObject, parseKernelConfig, type BpfObject, type KernelDescription } from '../../src/object/index.js';
import { fixturesDir } from '../support/paths.js';

const open = (name: string): BpfObject =>
  openObject(new Uint8Array(readFileSync(join(fixturesDir, 'externs', `${name}.bpf.o`))), { fileName: `${name}.bpf.o` });

const kernel = (config: Record<string, string>): KernelDescription => ({ version: kernelVersionCode('6.18.44'), config, hasBpfCookie: true, hasSyscallWrapper: false });

test('kconfig externs are laid out in a read-only .kconfig map, largest alignment first', () => {
  const object = open('kconfig');
  const map = object.maps.find((m) => m.name === KCONFIG_MAP)!;
  assert.equal(map.origin, 'kconfig');
  assert.deepEqual(map.variables!.slice(0, 3).map((v) => [v.name, v.offset, v.size]), [['CONFIG_HZ', 0, 4], ['CONFIG_TSBPF_NOT_A_CONFIG', 4, 4], ['LINUX_KERNEL_VERSION', 8, 4]]);
  const weak = object.externs!.filter((e) => e.weak).map((e) => e.name).sort();
  assert.deepEqual(weak, ['CONFIG_LOCALVERSION', 'CONFIG_TSBPF_NOT_A_CONFIG', 'LINUX_TSBPF_UNKNOWN']);
  // Every lddw of a kconfig extern became a reference into the map at the extern's offset.
  const program = object.programs.find((p) => p.name === 'kernel_version')!;
  assert.deepEqual(program.mapRefs, [{ insn: 0, map: KCONFIG_MAP, kind: 'value', offset: 8 }]);
  assert.equal(program.insns[0]!.src, PseudoLdImm64.MAP_VALUE);
});

test('kconfig values are encoded by type; missing weak ones read 0, missing strong ones name the extern', () => {
  const object = open('kconfig');
  const config = { CONFIG_BPF_SYSCALL: 'y', CONFIG_BPF_JIT: 'm', CONFIG_HZ: '1000', CONFIG_LOCALVERSION: '"-a-much-too-long-local-version"' };
  const bytes = kconfigValue(object, kernel(config))!;
  const view = new DataView(bytes.buffer);
  const at = (name: string): number => {
    const ext = object.externs!.find((e) => e.name === name);
    assert.ok(ext?.kind === 'kconfig');
    return ext.offset;
  };
  assert.equal(view.getInt32(at('CONFIG_HZ'), true), 1000);
  assert.equal(view.getInt32(at('LINUX_KERNEL_VERSION'), true), 0x06122c);
  assert.equal(bytes[at('CONFIG_BPF_SYSCALL')], 1);
  assert.equal(bytes[at('CONFIG_BPF_JIT')], 'm'.charCodeAt(0));
  assert.equal(bytes[at('LINUX_HAS_BPF_COOKIE')], 1);
  assert.equal(bytes[at('LINUX_HAS_SYSCALL_WRAPPER')], 0);
  assert.equal(view.getInt32(at('CONFIG_TSBPF_NOT_A_CONFIG'), true), 0);
  // A string is truncated to the array, keeping its NUL.
  assert.equal(new TextDecoder().decode(bytes.subarray(at('CONFIG_LOCALVERSION'), at('CONFIG_LOCALVERSION') + 16)), '-a-much-too-lon\0');
  const { CONFIG_HZ: _hz, ...withoutHz } = config;
  assert.throws(() => kconfigValue(object, kernel(withoutHz)), (e: unknown) => e instanceof TsbpfError && e.code === 'object/unresolved-extern' && /CONFIG_HZ/.test(e.message));
  assert.throws(() => kconfigValue(object, kernel({ ...config, CONFIG_BPF_SYSCALL: 'm' })), /CONFIG_BPF_SYSCALL: value 'm' implies tristate/);
  assert.throws(() => kconfigValue(object, kernel({ ...config, CONFIG_HZ: 'y' })), /CONFIG_HZ: value 'y' implies tristate or char/);
});

test('kernel config files and release strings parse as libbpf reads them', () => {
  assert.deepEqual(parseKernelConfig('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=0x10\n'), { CONFIG_A: 'y', CONFIG_C: '"x y"', CONFIG_D: '0x10' });
  assert.equal(kernelVersionCode('6.18.44-fc-v769'), (6 << 16) | (18 << 8) | 44);
  assert.equal(kernelVersionCode('4.19.300'), (4 << 16) | (19 << 8) | 255);
});

test('ksym variables and kfuncs are left for the backend, typed or typeless, weak or not', () => {
  const object = open('ksym');
  const summary = object.externs!.map((e) => `${e.kind}:${e.name}:${e.weak ? 'weak' : 'strong'}${e.kind === 'ksym' ? (e.typed ? ':typed' : ':typeless') : ''}`).sort();
  assert.deepEqual(summary, [
    'kfunc:bpf_cast_to_kern_ctx:strong', 'kfunc:tsbpf_no_such_kfunc:weak', 'ksym:bpf_prog_put:strong:typeless',
    'ksym:runqueues:strong:typed', 'ksym:tsbpf_no_such_symbol:weak:typeless', 'ksym:tsbpf_no_such_typed:weak:typed',
  ]);
  const call = object.programs.find((p) => p.name === 'kfunc_call')!;
  assert.deepEqual(call.externRefs, [{ insn: 0, extern: 'bpf_cast_to_kern_ctx', kind: 'call' }]);
  assert.equal(call.insns[0]!.src, PseudoCall.KFUNC);
  const weak = object.programs.find((p) => p.name === 'weak_ksyms')!;
  assert.deepEqual(weak.externRefs!.map((r) => [r.extern, r.kind]), [['tsbpf_no_such_kfunc', 'address'], ['tsbpf_no_such_kfunc', 'call'], ['tsbpf_no_such_symbol', 'address'], ['tsbpf_no_such_typed', 'address']]);
});

test('prog_array and map-in-map .values initialisers name their slots', () => {
  const object = open('prog_array');
  assert.deepEqual(object.maps.find((m) => m.name === 'jmp_table')!.innerSlots, [{ index: 0, map: 'slot_a' }, { index: 2, map: 'slot_b' }]);
  assert.deepEqual(object.maps.find((m) => m.name === 'outer')!.innerSlots, [{ index: 1, map: 'answer' }]);
});
