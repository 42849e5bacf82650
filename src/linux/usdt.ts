import { closeSync, openSync, readFileSync, readSync, realpathSync, writeSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { attachPerfEvent, type BpfLink } from './link.js';
import type { BpfMap } from './map.js';
import { dynamicPmuType, EVENT_SOURCE_DIR, perfEventOpen } from './perf.js';
import type { BpfProgram } from './program.js';

/**
 * USDT (statically defined tracepoints, <sys/sdt.h>): the `.note.stapsdt` notes of a native ELF
 * binary name each probe site (provider, name, address, semaphore, argument specs such as
 * `-4@%edi 8@-8(%rbp)`). Attaching puts a uprobe on every site of a probe, with the semaphore
 * raised while attached (by the kernel through the uprobe's ref_ctr_offset, or through
 * /proc/PID/mem on kernels without it), and, when the program's object has libbpf's
 * `__bpf_usdt_specs` map, writes each site's argument spec there under the uprobe's BPF cookie,
 * in the layout usdt.bpf.h reads.
 */

export type UsdtLocation =
  | { kind: 'const'; value: bigint }
  | { kind: 'reg'; register: string }
  | { kind: 'deref'; register: string; offset: number };

export interface UsdtArgument {
  /** Bytes, 1, 2, 4 or 8. */
  size: number;
  signed: boolean;
  location: UsdtLocation;
  /** The spec as written in the note. */
  spec: string;
}

export interface UsdtProbe {
  provider: string;
  name: string;
  /** The site's virtual address, after the .stapsdt.base (prelink) adjustment. */
  address: bigint;
  /** Where a uprobe goes: the site's offset in the file. */
  fileOffset: number;
  /** The semaphore's address (0n: none) and its offset in the file. */
  semaphore: bigint;
  semaphoreOffset?: number;
  /** The raw argument string and its parsed form. */
  args: string;
  arguments: UsdtArgument[];
}

const NT_STAPSDT = 3;
const PT_LOAD = 1;

interface NativeElf {
  bytes: Uint8Array;
  view: DataView;
  sections: { name: string; addr: number; offset: number; size: number }[];
  segments: { vaddr: bigint; offset: bigint; fileSize: bigint; memSize: bigint }[];
}

function readNativeElf(path: string): NativeElf {
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): never => {
    throw new TsbpfError('linux/bad-elf', why, { file: path });
  };
  if (bytes.byteLength < 64 || view.getUint32(0, false) !== 0x7f454c46) bad('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) bad('only 64-bit little-endian ELF binaries are supported');
  const u64 = (at: number): number => Number(view.getBigUint64(at, true));
  const phoff = u64(0x20);
  const shoff = u64(0x28);
  const phnum = view.getUint16(0x38, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (phoff + phnum * 56 > bytes.byteLength || shoff + shnum * 64 > bytes.byteLength) bad('headers past the end of the file');
  const segments: NativeElf['segments'] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * 56;
    if (view.getUint32(p, true) !== PT_LOAD) continue;
    segments.push({
      offset: view.getBigUint64(p + 8, true), vaddr: view.getBigUint64(p + 16, true),
      fileSize: view.getBigUint64(p + 32, true), memSize: view.getBigUint64(p + 40, true),
    });
  }
  const raw = Array.from({ length: shnum }, (_, i) => {
    const p = shoff + i * 64;
    return { nameOffset: view.getUint32(p, true), addr: u64(p + 16), offset: u64(p + 24), size: u64(p + 32) };
  });
  const names = raw[shstrndx];
  const sections = raw.map((s) => ({ name: names ? cString(bytes, names.offset + s.nameOffset) : '', addr: s.addr, offset: s.offset, size: s.size }));
  return { bytes, view, sections, segments };
}

function cString(bytes: Uint8Array, offset: number): string {
  let end = offset;
  while (end < bytes.byteLength && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(offset, end));
}

/** The file offset of a virtual address, through the loadable segment that holds it. */
function fileOffsetOf(elf: NativeElf, address: bigint): number | undefined {
  const segment = elf.segments.find((s) => address >= s.vaddr && address < s.vaddr + s.memSize);
  return segment ? Number(address - segment.vaddr + segment.offset) : undefined;
}

/** Every USDT probe site in the binary (or shared library) at `path`. */
export function readUsdtProbes(path: string, arch: string = process.arch): UsdtProbe[] {
  const elf = readNativeElf(path);
  const notes = elf.sections.find((s) => s.name === '.note.stapsdt');
  if (!notes) return [];
  const base = elf.sections.find((s) => s.name === '.stapsdt.base');
  const probes: UsdtProbe[] = [];
  const align4 = (n: number): number => (n + 3) & ~3;
  for (let p = notes.offset; p + 12 <= notes.offset + notes.size;) {
    const nameSize = elf.view.getUint32(p, true);
    const descSize = elf.view.getUint32(p + 4, true);
    const type = elf.view.getUint32(p + 8, true);
    const desc = p + 12 + align4(nameSize);
    const next = desc + align4(descSize);
    if (next > notes.offset + notes.size) throw new TsbpfError('linux/bad-usdt-note', `note at offset ${p} runs past .note.stapsdt`, { file: path, offset: p });
    if (type === NT_STAPSDT && cString(elf.bytes, p + 12) === 'stapsdt' && descSize >= 24) {
      const pc = elf.view.getBigUint64(desc, true);
      const noteBase = elf.view.getBigUint64(desc + 8, true);
      const semaphore = elf.view.getBigUint64(desc + 16, true);
      const provider = cString(elf.bytes, desc + 24);
      const name = cString(elf.bytes, desc + 24 + Buffer.byteLength(provider) + 1);
      const args = cString(elf.bytes, desc + 24 + Buffer.byteLength(provider) + Buffer.byteLength(name) + 2);
      // Prelink moves the binary but not the notes: the distance to .stapsdt.base says by how much.
      const address = base && noteBase !== 0n ? pc + BigInt(base.addr) - noteBase : pc;
      const fileOffset = fileOffsetOf(elf, address);
      if (fileOffset === undefined) throw new TsbpfError('linux/bad-usdt-note', `probe ${provider}:${name} at 0x${address.toString(16)} is in no loadable segment`, { file: path, offset: p });
      const semaphoreOffset = semaphore === 0n ? undefined : fileOffsetOf(elf, semaphore);
      probes.push({
        provider, name, address, fileOffset, semaphore, args,
        arguments: parseUsdtArguments(args, arch),
        ...(semaphoreOffset !== undefined ? { semaphoreOffset } : {}),
      });
    }
    p = next;
  }
  return probes;
}

/** x86-64 register names (every width) -> the 64-bit register; arm64 names are x0..x30, sp. */
const X86_REGISTERS: Readonly<Record<string, string>> = (() => {
  const out: Record<string, string> = {};
  for (const r of ['ax', 'bx', 'cx', 'dx']) Object.assign(out, { [`r${r}`]: `r${r}`, [`e${r}`]: `r${r}`, [r]: `r${r}`, [`${r[0]}l`]: `r${r}` });
  for (const r of ['si', 'di', 'bp', 'sp']) Object.assign(out, { [`r${r}`]: `r${r}`, [`e${r}`]: `r${r}`, [r]: `r${r}`, [`${r}l`]: `r${r}` });
  for (let n = 8; n <= 15; n++) Object.assign(out, { [`r${n}`]: `r${n}`, [`r${n}d`]: `r${n}`, [`r${n}w`]: `r${n}`, [`r${n}b`]: `r${n}` });
  out.rip = 'rip';
  return out;
})();

/**
 * Argument specs, space separated: `SIZE@LOCATION` where a negative size means signed. x86-64:
 * `%reg`, `$imm`, `off(%reg)`; arm64: `xN`/`wN`, `imm`, `[xN, off]`. Indexed forms are refused.
 */
export function parseUsdtArguments(args: string, arch: string = process.arch): UsdtArgument[] {
  const specs = args.trim() === '' ? [] : args.trim().split(/\s+(?![^[]*\])/);
  return specs.map((spec) => {
    const bad = (why: string): never => {
      throw new TsbpfError('linux/bad-usdt-arg', `USDT argument ${JSON.stringify(spec)}: ${why}`);
    };
    const m = /^(-?)(1|2|4|8)@(.+)$/.exec(spec) ?? bad('expected SIZE@LOCATION with a size of 1, 2, 4 or 8 (negative: signed)');
    const [, sign, size, where] = m;
    const location = arch === 'arm64' ? arm64Location(where!, bad) : x86Location(where!, bad);
    return { size: Number(size), signed: sign === '-', location, spec };
  });
}

function x86Location(where: string, bad: (why: string) => never): UsdtLocation {
  const register = (name: string): string => X86_REGISTERS[name] ?? bad(`unknown register %${name}`);
  let m = /^%(\w+)$/.exec(where);
  if (m) return { kind: 'reg', register: register(m[1]!) };
  m = /^\$(-?(?:0x[0-9a-f]+|\d+))$/i.exec(where);
  if (m) return { kind: 'const', value: BigInt.asIntN(64, parseSigned(m[1]!)) };
  m = /^(-?(?:0x[0-9a-f]+|\d+))?\(%(\w+)\)$/i.exec(where);
  if (m) return { kind: 'deref', register: register(m[2]!), offset: Number(parseSigned(m[1] ?? '0')) };
  return bad('only %reg, $imm and offset(%reg) are supported');
}

function arm64Location(where: string, bad: (why: string) => never): UsdtLocation {
  const register = (name: string): string => (/^[xw]([0-9]|[12][0-9]|30)$/.test(name) ? `x${name.slice(1)}` : name === 'sp' ? 'sp' : bad(`unknown register ${name}`));
  let m = /^([xw]\d+|sp)$/.exec(where);
  if (m) return { kind: 'reg', register: register(m[1]!) };
  m = /^(-?(?:0x[0-9a-f]+|\d+))$/i.exec(where);
  if (m) return { kind: 'const', value: BigInt.asIntN(64, parseSigned(m[1]!)) };
  m = /^\[([xw]\d+|sp)(?:,\s*(-?(?:0x[0-9a-f]+|\d+)))?\]$/i.exec(where);
  if (m) return { kind: 'deref', register: register(m[1]!), offset: Number(parseSigned(m[2] ?? '0')) };
  return bad('only xN, imm and [xN, off] are supported');
}

const parseSigned = (text: string): bigint => (text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text));

/** Offsets in struct pt_regs (x86-64) and struct user_pt_regs (arm64), what a kprobe program's context is. */
const PT_REGS_OFFSETS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  x64: {
    r15: 0, r14: 8, r13: 16, r12: 24, rbp: 32, rbx: 40, r11: 48, r10: 56, r9: 64, r8: 72,
    rax: 80, rcx: 88, rdx: 96, rsi: 104, rdi: 112, rip: 128, rsp: 152,
  },
  arm64: { ...Object.fromEntries(Array.from({ length: 31 }, (_, n) => [`x${n}`, 8 * n])), sp: 248 },
};

/** libbpf's enum __bpf_usdt_arg_type. */
const ArgType = { CONST: 0, REG: 1, REG_DEREF: 2 } as const;
/** struct __bpf_usdt_spec: 12 argument specs of 16 bytes, u64 usdt_cookie, short arg_cnt. */
const MAX_ARGS = 12;
const ARG_SPEC_SIZE = 16;
export const USDT_SPEC_SIZE = 208;
/** The map libbpf's usdt.bpf.h reads specs from, by the uprobe's cookie. */
export const USDT_SPECS_MAP = '__bpf_usdt_specs';

/** A probe site's spec as usdt.bpf.h reads it (struct __bpf_usdt_spec). */
export function encodeUsdtSpec(args: readonly UsdtArgument[], usdtCookie = 0n, arch: string = process.arch): Uint8Array {
  if (args.length > MAX_ARGS) throw new TsbpfError('linux/bad-usdt-arg', `${args.length} USDT arguments, at most ${MAX_ARGS} fit in a spec`);
  const offsets = PT_REGS_OFFSETS[arch] ?? {};
  const out = new Uint8Array(USDT_SPEC_SIZE);
  const view = new DataView(out.buffer);
  args.forEach((arg, i) => {
    const at = i * ARG_SPEC_SIZE;
    const regOffset = (register: string): number => {
      const offset = offsets[register];
      if (offset === undefined) throw new TsbpfError('linux/bad-usdt-arg', `USDT argument ${arg.spec}: register ${register} is not in pt_regs on ${arch}`);
      return offset;
    };
    const { location } = arg;
    if (location.kind === 'const') {
      view.setBigUint64(at, BigInt.asUintN(64, location.value), true);
      view.setUint32(at + 8, ArgType.CONST, true);
    } else {
      view.setBigUint64(at, BigInt.asUintN(64, BigInt(location.kind === 'deref' ? location.offset : 0)), true);
      view.setUint32(at + 8, location.kind === 'deref' ? ArgType.REG_DEREF : ArgType.REG, true);
      view.setInt16(at + 12, regOffset(location.register), true);
    }
    out[at + 14] = arg.signed ? 1 : 0;
    out[at + 15] = 64 - arg.size * 8;
  });
  view.setBigUint64(MAX_ARGS * ARG_SPEC_SIZE, usdtCookie, true);
  view.setInt16(MAX_ARGS * ARG_SPEC_SIZE + 8, args.length, true);
  return out;
}

export interface UsdtAttachOptions {
  path: string;
  provider: string;
  name: string;
  /** Only this process (default: every process that runs the binary). */
  pid?: number;
  /** libbpf's `__bpf_usdt_specs` map: each site's spec is written at the index its cookie names. */
  specs?: BpfMap;
  /** Handed to the program as the spec's usdt_cookie (bpf_usdt_cookie()). */
  cookie?: bigint;
}

/** Spec slots in use per specs map, so two attachments never share one. */
const usedSpecIds = new WeakMap<BpfMap, Set<number>>();

/** The links of one probe's sites; close() detaches them all and releases semaphores and spec slots. */
export class UsdtAttachment implements Disposable {
  #closed = false;

  constructor(
    readonly probes: readonly UsdtProbe[],
    private readonly links: BpfLink[],
    private readonly release: (() => void)[],
  ) {}

  get description(): string {
    const probe = this.probes[0];
    return probe ? `usdt ${probe.provider}:${probe.name} (${this.links.length} site${this.links.length === 1 ? '' : 's'})` : 'usdt';
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.links) link.close();
    for (const undo of this.release) undo();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The bit range of `config` that carries a uprobe's ref_ctr_offset, when the kernel has one (4.20+). */
function refCounterShift(): number | undefined {
  try {
    const m = /config:(\d+)-\d+/.exec(readFileSync(`${EVENT_SOURCE_DIR}/uprobe/format/ref_ctr_offset`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Attaches `program` (a kprobe-type program, section `usdt`) at every site of provider:name. */
export function attachUsdt(program: BpfProgram, options: UsdtAttachOptions): UsdtAttachment {
  const pmu = dynamicPmuType('uprobe');
  if (pmu === undefined) throw new TsbpfError('linux/no-uprobes', 'this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)');
  const probes = readUsdtProbes(options.path).filter((p) => p.provider === options.provider && p.name === options.name);
  if (probes.length === 0) throw new TsbpfError('linux/no-usdt', `no USDT probe ${options.provider}:${options.name} in ${options.path}`, { file: options.path });
  const shift = refCounterShift();
  const links: BpfLink[] = [];
  const release: (() => void)[] = [];
  try {
    for (const probe of probes) {
      const specId = options.specs ? claimSpecId(options.specs, release) : 0;
      if (options.specs) options.specs.update(u32(specId), encodeUsdtSpec(probe.arguments, options.cookie ?? 0n));
      let config = 0n;
      if (probe.semaphoreOffset !== undefined) {
        if (shift !== undefined) config |= BigInt(probe.semaphoreOffset) << BigInt(shift);
        else if (options.pid !== undefined) release.push(raiseUsdtSemaphore(options.pid, options.path, probe.semaphoreOffset));
        else throw new TsbpfError('linux/usdt-semaphore', `probe ${probe.provider}:${probe.name} has a semaphore, and this kernel cannot raise it (no ref_ctr_offset): give a pid`);
      }
      const perfFd = perfEventOpen({
        type: pmu, config, config1Path: options.path, config2: probe.fileOffset,
        pid: options.pid ?? -1, cpu: options.pid === undefined ? 0 : -1,
      });
      links.push(attachPerfEvent(program, perfFd, `usdt ${options.path}:${probe.provider}:${probe.name}@0x${probe.fileOffset.toString(16)}`, BigInt(specId)));
    }
  } catch (e) {
    new UsdtAttachment(probes, links, release).close();
    throw e;
  }
  return new UsdtAttachment(probes, links, release);
}

function claimSpecId(specs: BpfMap, release: (() => void)[]): number {
  let used = usedSpecIds.get(specs);
  if (!used) usedSpecIds.set(specs, (used = new Set()));
  for (let id = 0; id < specs.maxEntries; id++) {
    if (used.has(id)) continue;
    used.add(id);
    release.push(() => used.delete(id));
    return id;
  }
  throw new TsbpfError('linux/usdt-specs-full', `${specs.maxEntries} USDT specs already in use in map ${specs.name}`);
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

/**
 * Adds 1 to the u16 semaphore at file offset `fileOffset` of `path` in process `pid` (through
 * /proc/PID/mem, at the address where its maps put that offset), what attaching does on kernels
 * without ref_ctr_offset; returns the undo.
 */
export function raiseUsdtSemaphore(pid: number, path: string, fileOffset: number): () => void {
  const address = runtimeAddress(pid, path, fileOffset);
  const adjust = (delta: number): void => {
    const fd = openSync(`/proc/${pid}/mem`, 'r+');
    try {
      const counter = new Uint8Array(2);
      readSync(fd, counter, 0, 2, address);
      const view = new DataView(counter.buffer);
      view.setUint16(0, Math.max(0, view.getUint16(0, true) + delta), true);
      writeSync(fd, counter, 0, 2, address);
    } finally {
      closeSync(fd);
    }
  };
  adjust(1);
  return () => {
    try {
      adjust(-1);
    } catch {
      // The process has exited: nothing left to lower.
    }
  };
}

function runtimeAddress(pid: number, path: string, fileOffset: number): number {
  const realPath = realpathSync(path); // what /proc/PID/maps names
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(.*)$/.exec(line);
    if (!m || m[4] !== realPath) continue;
    const start = parseInt(m[1]!, 16);
    const end = parseInt(m[2]!, 16);
    const offset = parseInt(m[3]!, 16);
    if (fileOffset >= offset && fileOffset < offset + (end - start)) return start + fileOffset - offset;
  }
  throw new TsbpfError('linux/usdt-semaphore', `process ${pid} has no mapping of ${path} at file offset 0x${fileOffset.toString(16)}`);
}
