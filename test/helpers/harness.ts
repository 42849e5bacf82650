import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import type { BpfMap as UserMap } from '../../src/maps/map.js';
import type { TaskInfo } from '../../src/helpers/env.js';
import { Runtime, type LoadedProgram } from '../../src/runtime/index.js';
import type { Engine, EngineName } from '../../src/vm/engine.js';
import { TestRunError } from '../../src/runtime/test-run.js';
import { MapType } from '../../src/uapi/map-types.js';
import { HelperId } from '../../src/uapi/helper-ids.js';
import { skipReason } from '../linux/support.js';
import { TEST_ENGINES, onEachEngine } from '../support/engines.js';

/**
 * The helper conformance harness: one program (LLVM-syntax assembly) loaded into the userspace
 * runtime and into the kernel with the same maps, run through BPF_PROG_TEST_RUN on both with the
 * same input; everything observable (errno of the run, retval, data_out, ctx_out, map contents,
 * per-CPU maps as sums over CPUs) must be equal. In `ll` loads, `map(NAME)` is a declared map,
 * `mapval(NAME)` the address of its value, `callback(N)` the Nth function of `callbacks`.
 * `withPair` runs each case once per engine (the interpreter, then the JIT), each time against a fresh
 * kernel side, so both engines are held to the kernel's results; `runtimeOnly` compares the engines
 * with each other. SHOW_DIFFERENCES=1 prints the known differences some tests tolerate.
 */

type LinuxIndex = typeof import('../../src/linux/index.js');
export let linux: LinuxIndex | undefined;
if (skipReason === undefined) linux = await import('../../src/linux/index.js');
export { skipReason };

/** Helper ids by name, for `call ${H.map_lookup_elem}`. */
export const H = HelperId;

export interface MapDecl {
  name: string;
  type: keyof typeof MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Value of key 0 set before the program loads (array maps), e.g. a format string. */
  init?: Uint8Array;
  /** Freeze after `init` (read-only constant data, what const-string arguments need). */
  freeze?: boolean;
}

export interface ProgramDecl {
  /** Runtime/kernel program type name (xdp, sched_cls, socket_filter ...). */
  type: string;
  asm: string;
  maps?: readonly MapDecl[];
  /** Functions appended after the program; `callback(N)` in an `ll` load is the address of the Nth. */
  callbacks?: readonly string[];
  /** The task the runtime side pretends to run in (tracing helpers). */
  task?: Partial<TaskInfo>;
}

export interface RunInput {
  data?: Uint8Array;
  ctx?: Uint8Array;
  /** Compare ctx_out (default true). */
  ctxOut?: boolean;
  /** BPF_PROG_TEST_RUN's repeat. */
  repeat?: number;
}

export interface Outcome {
  errno?: number;
  retval?: number;
  dataOut?: string;
  ctxOut?: string;
}

const MAP_SENTINEL = 0x7e570000;
/** `mapval(NAME)`: the address of key 0's value (LD_IMM64 src=BPF_PSEUDO_MAP_VALUE). */
const VALUE_SENTINEL = 0x7e570100;
const FUNC_SENTINEL = 0x7e570200;
const KERNEL_TYPE: Record<string, string> = {
  xdp: 'XDP', sched_cls: 'SCHED_CLS', sk_lookup: 'SK_LOOKUP', sched_act: 'SCHED_ACT', socket_filter: 'SOCKET_FILTER',
  cgroup_skb: 'CGROUP_SKB', lwt_in: 'LWT_IN', lwt_out: 'LWT_OUT', lwt_xmit: 'LWT_XMIT',
  raw_tracepoint: 'RAW_TRACEPOINT', syscall: 'SYSCALL', flow_dissector: 'FLOW_DISSECTOR',
};
/** sizeof(struct __sk_buff) and sizeof(struct xdp_md): the ctx_out both sides give back. */
const CTX_OUT: Record<string, number> = { xdp: 24, sched_cls: 192, sched_act: 192, socket_filter: 192, cgroup_skb: 192, lwt_in: 192, lwt_out: 192, lwt_xmit: 192, raw_tracepoint: 0, syscall: 0, sk_lookup: 72 };

export const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');

/**
 * BTF for programs with callbacks (the kernel wants func_info then): `int` (1), `int (void)` (2),
 * FUNC `prog` (3, global) and FUNC `cb` (4, static).
 */
function funcBtf(): Uint8Array {
  const strings = '\0int\0prog\0cb\0';
  const name = (n: string): number => strings.indexOf('\0' + n + '\0') + 1;
  const types = new Uint32Array([
    name('int'), 1 << 24, 4, (1 << 24) | 32,
    0, 13 << 24, 1,
    name('prog'), (12 << 24) | 1, 2,
    name('cb'), 12 << 24, 2,
  ]);
  const stringBytes = new TextEncoder().encode(strings);
  const out = new Uint8Array(24 + types.byteLength + stringBytes.byteLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0xeb9f, true);
  view.setUint8(2, 1);
  view.setUint32(4, 24, true);
  view.setUint32(12, types.byteLength, true);
  view.setUint32(16, types.byteLength, true);
  view.setUint32(20, stringBytes.byteLength, true);
  out.set(new Uint8Array(types.buffer), 24);
  out.set(stringBytes, 24 + types.byteLength);
  return out;
}

/** Where each part (program, callbacks) starts, in instruction slots. */
function partStarts(decl: ProgramDecl): number[] {
  const maps = decl.maps ?? [];
  const starts: number[] = [];
  let at = 0;
  for (const text of [decl.asm, ...(decl.callbacks ?? [])]) {
    starts.push(at);
    at += withMaps(text, maps).length;
  }
  return starts;
}

function assembleDecl(decl: ProgramDecl): Instruction[] {
  const maps = decl.maps ?? [];
  const parts = [decl.asm, ...(decl.callbacks ?? [])].map((text) => withMaps(text, maps));
  const starts: number[] = [];
  let at = 0;
  for (const part of parts) {
    starts.push(at);
    at += part.length;
  }
  const insns = parts.flat();
  // callback(N): LD_IMM64 src=BPF_PSEUDO_FUNC, imm relative to the next instruction.
  return insns.map((insn, i) => {
    if (insn.code === 0x18 && insn.imm >= FUNC_SENTINEL && insn.imm < FUNC_SENTINEL + parts.length - 1) {
      return { ...insn, src: 4, imm: starts[insn.imm - FUNC_SENTINEL + 1]! - (i + 1) };
    }
    return insn;
  });
}

function withMaps(asm: string, maps: readonly MapDecl[]): Instruction[] {
  const text = asm.replace(/callback\((\d+)\)/g, (_, n: string) => `0x${(FUNC_SENTINEL + Number(n)).toString(16)}`).replace(/(map|mapval)\((\w+)\)/g, (_, kind: string, name: string) => {
    const index = maps.findIndex((m) => m.name === name);
    if (index < 0) throw new Error(`asm names undeclared map ${name}`);
    return `0x${((kind === 'map' ? MAP_SENTINEL : VALUE_SENTINEL) + index).toString(16)}`;
  });
  return assemble(text);
}

function bindMaps(insns: readonly Instruction[], fds: readonly number[]): Instruction[] {
  return insns.map((insn) => {
    if (insn.code === 0x18 && insn.imm >= MAP_SENTINEL && insn.imm < MAP_SENTINEL + fds.length) {
      return { ...insn, src: 1, imm: fds[insn.imm - MAP_SENTINEL]! };
    }
    if (insn.code === 0x18 && insn.imm >= VALUE_SENTINEL && insn.imm < VALUE_SENTINEL + fds.length) {
      return { ...insn, src: 2, imm: fds[insn.imm - VALUE_SENTINEL]! };
    }
    return insn;
  });
}

/** Sum per-CPU slots (u64 words): the kernel runs a test on whichever CPU it is on. */
function foldPerCpu(value: Uint8Array, valueSize: number, cpus: number): string {
  const slot = (valueSize + 7) & ~7;
  const sums = new Array<bigint>(slot / 8).fill(0n);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  for (let c = 0; c < cpus; c++) for (let w = 0; w < slot / 8; w++) sums[w]! += view.getBigUint64(c * slot + w * 8, true);
  return sums.join(',');
}

const UNCOMPARED_MAPS = new Set(['ringbuf', 'prog_array', 'perf_event_array', 'queue', 'stack', 'bloom_filter', 'cgroup_array', 'devmap', 'cpumap']);

/** Long hex shortened to its length, a digest and the first bytes, so a mismatch stays readable. */
function brief(o: Outcome): Outcome {
  const cut = (h: string | undefined) => {
    if (h === undefined || h.length <= 160) return h;
    let digest = 0;
    for (let i = 0; i < h.length; i++) digest = (Math.imul(digest, 31) + h.charCodeAt(i)) >>> 0;
    return `${h.length / 2} bytes #${digest.toString(16)} ${h.slice(0, 120)}...`;
  };
  return { ...o, ...(o.dataOut !== undefined ? { dataOut: cut(o.dataOut) } : {}) };
}

export class Pair {
  readonly runtime: Runtime;
  readonly user: LoadedProgram;
  readonly kern: InstanceType<LinuxIndex['BpfProgram']>;
  readonly userMaps = new Map<string, UserMap>();
  readonly kernMaps = new Map<string, InstanceType<LinuxIndex['BpfMap']>>();
  readonly decl: ProgramDecl;
  readonly engineName: EngineName;
  readonly cpus: number;
  /** Trace lines (bpf_trace_printk) the runtime side wrote. */
  readonly userTrace: string[] = [];

  constructor(decl: ProgramDecl, engine: Engine) {
    const sys = linux!;
    this.decl = decl;
    this.engineName = engine.name;
    this.cpus = sys.possibleCpuCount();
    this.runtime = new Runtime({
      cpus: this.cpus,
      engine,
      onTrace: (line) => this.userTrace.push(line),
      ...(decl.task ? { task: decl.task } : {}),
    });
    const maps = decl.maps ?? [];
    try {
      for (const m of maps) {
        this.userMaps.set(m.name, this.runtime.createMap({ name: m.name, type: MapType[m.type], keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0 }));
        this.kernMaps.set(m.name, sys.BpfMap.create({ name: m.name, type: m.type.toUpperCase() as never, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0 }));
        if (m.init) {
          const value = new Uint8Array(m.valueSize);
          value.set(m.init.subarray(0, m.valueSize));
          this.update(m.name, new Uint8Array(4), value);
        }
        if (m.freeze) this.kernMaps.get(m.name)!.freeze();
      }
      const insns = assembleDecl(decl);
      this.user = this.runtime.loadProgram(bindMaps(insns, maps.map((m) => this.userMaps.get(m.name)!.id)), { name: 'conformance', type: decl.type });
      const kernelType = KERNEL_TYPE[decl.type] ?? decl.type.toUpperCase();
      let btf: { fd: number; close(): void } | undefined;
      let funcInfo: { recordSize: number; records: Uint8Array } | undefined;
      if (decl.callbacks?.length) {
        btf = sys.BpfBtf.load(funcBtf());
        const starts = partStarts(decl);
        funcInfo = { recordSize: 8, records: new Uint8Array(new Uint32Array(starts.flatMap((start, i) => [start, i === 0 ? 3 : 4])).buffer) };
      }
      try {
        this.kern = sys.BpfProgram.load({
          type: kernelType as never, insns: bindMaps(insns, maps.map((m) => this.kernMaps.get(m.name)!.fd)), name: 'conformance',
          // BPF_F_SLEEPABLE: syscall programs must be.
          ...(decl.type === 'syscall' ? { flags: 1 << 4 } : {}),
          ...(decl.type === 'sk_lookup' ? { expectedAttachType: 'SK_LOOKUP' as never } : {}),
          ...(btf && funcInfo ? { btfFd: btf.fd, funcInfo } : {}),
        });
      } finally {
        btf?.close();
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  runUser(input: RunInput): Outcome {
    const compareCtx = input.ctxOut ?? ((this.decl.type !== 'xdp' || input.ctx !== undefined) && CTX_OUT[this.decl.type] !== 0);
    const ctxOutSize = CTX_OUT[this.decl.type] ?? input.ctx?.length ?? 0;
    try {
      const r = this.user.testRun({ ...(input.data ? { data: input.data } : {}), ...(input.ctx ? { ctx: input.ctx } : {}), ...(input.repeat ? { repeat: input.repeat } : {}) });
      return { retval: r.retval, dataOut: hex(r.dataOut), ...(compareCtx ? { ctxOut: hex(r.ctxOut?.subarray(0, ctxOutSize)) } : {}) };
    } catch (e) {
      if (e instanceof TestRunError) return { errno: e.errno };
      throw e;
    }
  }

  runKernel(input: RunInput): Outcome {
    // XDP with ctx_out but no ctx_in runs on a zeroed xdp_md (data_end == data): ask only with ctx_in.
    const compareCtx = input.ctxOut ?? ((this.decl.type !== 'xdp' || input.ctx !== undefined) && CTX_OUT[this.decl.type] !== 0);
    const ctxOutSize = compareCtx ? CTX_OUT[this.decl.type] ?? input.ctx?.length ?? 0 : 0;
    try {
      const r = this.kern.testRun({
        ...(input.data ? { data: input.data, dataOutSize: input.data.length + 4096 } : {}),
        ...(input.ctx ? { ctx: input.ctx } : {}),
        ...(input.repeat ? { repeat: input.repeat } : {}),
        ctxOutSize,
      });
      return { retval: r.retval, dataOut: hex(r.dataOut), ...(compareCtx ? { ctxOut: hex(r.ctxOut) } : {}) };
    } catch (e) {
      if (e instanceof linux!.BpfSyscallError) return { errno: e.errno };
      throw e;
    }
  }

  /** Runs both sides and asserts they agree; returns the (common) outcome. */
  agree(input: RunInput, label: string): Outcome {
    const u = this.runUser(input);
    const k = this.runKernel(input);
    assert.deepEqual(brief(u), brief(k), `${label}: runtime (${this.engineName}) vs kernel`);
    this.agreeMaps(label);
    return k;
  }

  agreeMaps(label: string): void {
    for (const m of this.decl.maps ?? []) {
      if (UNCOMPARED_MAPS.has(m.type)) continue;
      assert.deepEqual(this.userEntries(m), this.kernEntries(m), `${label}: map ${m.name} (${this.engineName})`);
    }
  }

  private show(m: MapDecl, v: Uint8Array): string {
    return m.type.startsWith('percpu') || m.type === 'lru_percpu_hash' ? foldPerCpu(v, m.valueSize, this.cpus) : hex(v);
  }

  userEntries(m: MapDecl): string[] {
    const map = this.userMaps.get(m.name)!;
    return [...map.entries()].map(([k, v]) => `${hex(k)}=${this.show(m, v)}`).sort();
  }

  kernEntries(m: MapDecl): string[] {
    const map = this.kernMaps.get(m.name)!;
    const out: string[] = [];
    for (let key = map.nextKey(); key !== undefined; key = map.nextKey(key)) {
      const v = map.lookup(key);
      if (v) out.push(`${hex(key)}=${this.show(m, v)}`);
    }
    return out.sort();
  }

  /** Apply the same user-space update to both sides. */
  update(name: string, key: Uint8Array, value: Uint8Array): void {
    this.userMaps.get(name)!.update(key, value);
    this.kernMaps.get(name)!.update(key, value);
  }

  close(): void {
    (this.kern as { close?: () => void } | undefined)?.close?.();
    for (const m of this.kernMaps.values()) m.close();
    this.runtime.close();
  }
}

/** Runs `body` with a fresh pair on each engine, closing it afterwards. */
export function withPair(decl: ProgramDecl, body: (p: Pair) => void): void {
  onEachEngine((engine) => {
    const p = new Pair(decl, engine);
    try {
      body(p);
    } finally {
      p.close();
    }
  });
}

/** A results array: programs store u64 results in stack slots then publish them with `PUBLISH`. */
export const RESULTS: MapDecl = { name: 'results', type: 'array', keySize: 4, valueSize: 64, maxEntries: 1 };

/** Store r0 as result `n` (0..7), at r10 - 64 + 8n. Needs `INIT_RESULTS` first. */
export const save = (n: number, reg = 'r0'): string => `*(u64 *)(r10 - ${64 - 8 * n}) = ${reg}`;

/** Zero the 64-byte results area at r10-64 and the key slot at r10-68. */
export const INIT_RESULTS = `
  r9 = 0
  *(u64 *)(r10 - 64) = r9
  *(u64 *)(r10 - 56) = r9
  *(u64 *)(r10 - 48) = r9
  *(u64 *)(r10 - 40) = r9
  *(u64 *)(r10 - 32) = r9
  *(u64 *)(r10 - 24) = r9
  *(u64 *)(r10 - 16) = r9
  *(u64 *)(r10 - 8) = r9
  *(u32 *)(r10 - 68) = r9
`;

/** results[0] = the 64-byte area (clobbers r1-r5, r0). */
export const PUBLISH = `
  r1 = map(results) ll
  r2 = r10
  r2 += -68
  r3 = r10
  r3 += -64
  r4 = 0
  call ${HelperId.map_update_elem}
`;

/**
 * A tc program that copies packet bytes 14..77 onto the stack at r10 - 200 (skb_load_bytes' result
 * saved as result 7), then runs `body` and publishes the results.
 */
export const fromPacket = (body: string): string => `
  r6 = r1
  ${INIT_RESULTS}
  r1 = r6
  r2 = 14
  r3 = r10
  r3 += -200
  r4 = 64
  call ${HelperId.skb_load_bytes}
  ${save(7)}
  ${body}
  ${PUBLISH}
  r0 = 0
  exit`;

/** A 78-byte Ethernet frame carrying `payload` after byte 14 (EtherType 0x88b5: no IPv4 header checks). */
export function rawFrame(payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 64);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  f.set(payload.subarray(0, 64), 14);
  return f;
}

/** Ethernet frame with an IPv4/UDP payload built by hand (no checksum offload games). */
export function udpFrame(payloadLength = 16, options: { udpChecksum?: number; vlan?: number } = {}): Uint8Array {
  const ipLength = 20 + 8 + payloadLength;
  const vlan = options.vlan !== undefined ? 4 : 0;
  const f = new Uint8Array(14 + vlan + ipLength);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  let o = 12;
  if (options.vlan !== undefined) {
    v.setUint16(12, 0x8100);
    v.setUint16(14, options.vlan);
    o = 16;
  }
  v.setUint16(o, 0x0800);
  const ip = o + 2;
  f[ip] = 0x45;
  v.setUint16(ip + 2, ipLength);
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  f.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(ip + 10, ~sum & 0xffff);
  const udp = ip + 20;
  v.setUint16(udp, 40000);
  v.setUint16(udp + 2, 53);
  v.setUint16(udp + 4, 8 + payloadLength);
  v.setUint16(udp + 6, options.udpChecksum ?? 0);
  for (let i = 0; i < payloadLength; i++) f[udp + 8 + i] = (i * 7 + 1) & 0xff;
  return f;
}

export const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
export const u64 = (n: bigint | number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);

/** The u64 results a program published, from the kernel side. */
export function kernelResults(p: Pair): bigint[] {
  const v = p.kernMaps.get('results')!.lookup(u32(0))!;
  return [...new BigInt64Array(v.buffer, v.byteOffset, 8)];
}

/**
 * The runtime side alone, for programs the kernel refuses at load (formats its verifier rejects):
 * the run's outcome and the u64 results the program published. Runs on every engine; the engines
 * must agree on both.
 */
export function runtimeOnly(decl: ProgramDecl, input: RunInput): { outcome: Outcome; results: bigint[] } {
  const [first, ...others] = onEachEngine((engine) => runOnRuntime(decl, input, engine));
  for (const [i, other] of others.entries()) assert.deepEqual(other, first, `${TEST_ENGINES[i + 1]!.name} vs ${TEST_ENGINES[0]!.name}: outcome and results`);
  return first!;
}

function runOnRuntime(decl: ProgramDecl, input: RunInput, engine: Engine): { outcome: Outcome; results: bigint[] } {
  using runtime = new Runtime({ cpus: 1, engine });
  const maps = decl.maps ?? [];
  const created = maps.map((m) => runtime.createMap({ name: m.name, type: MapType[m.type], keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags ?? 0 }));
  maps.forEach((m, i) => {
    if (!m.init) return;
    const value = new Uint8Array(m.valueSize);
    value.set(m.init.subarray(0, m.valueSize));
    created[i]!.update(new Uint8Array(4), value);
  });
  const program = runtime.loadProgram(bindMaps(assembleDecl(decl), created.map((m) => m.id)), { name: 'conformance', type: decl.type });
  let outcome: Outcome;
  try {
    const r = program.testRun({ ...(input.data ? { data: input.data } : {}), ...(input.ctx ? { ctx: input.ctx } : {}) });
    outcome = { retval: r.retval, dataOut: hex(r.dataOut) };
  } catch (e) {
    if (!(e instanceof TestRunError)) throw e;
    outcome = { errno: e.errno };
  }
  const results = created[maps.findIndex((m) => m.name === 'results')]?.lookup(u32(0));
  return { outcome, results: results ? [...new BigInt64Array(results.buffer.slice(results.byteOffset, results.byteOffset + 64))] : [] };
}
