import { ObjectError, type BpfObject, type ObjectExtern } from './types.js';
import { KCONFIG_MAP } from './externs.js';

/**
 * The values of `.kconfig` externs, as libbpf computes them: LINUX_KERNEL_VERSION and the other
 * LINUX_ facts from the kernel, CONFIG_ options from its config file. A kernel is described as
 * data so the userspace runtime (a configurable description) and the Linux backend (the running
 * kernel's) encode the same object the same way.
 */
export interface KernelDescription {
  /** LINUX_KERNEL_VERSION: KERNEL_VERSION(major, minor, patch), see kernelVersionCode. */
  version: number;
  /** CONFIG_ options as the config file spells their values (`y`, `m`, `250`, `"text"`); unset ones are absent. */
  config: Readonly<Record<string, string>>;
  /** LINUX_HAS_BPF_COOKIE: the kernel has bpf_get_attach_cookie. */
  hasBpfCookie: boolean;
  /** LINUX_HAS_SYSCALL_WRAPPER: syscalls enter through arch wrappers (`__x64_sys_*`). */
  hasSyscallWrapper: boolean;
}

/** KERNEL_VERSION(a, b, c) from a release string such as `6.18.0-1-amd64` (patch capped at 255, as the macro). */
export function kernelVersionCode(release: string): number {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release) ?? []).slice(1).map((n) => Number(n ?? 0));
  return major * 65536 + minor * 256 + Math.min(patch, 255);
}

/** `CONFIG_X=value` lines of a kernel config file; `# CONFIG_X is not set` and comments are left out. */
export function parseKernelConfig(text: string): Record<string, string> {
  const config: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^(CONFIG_\w+)=(.*)$/.exec(line.trim());
    if (match) config[match[1]!] = match[2]!;
  }
  return config;
}

/**
 * The `.kconfig` map's contents for `kernel`, or undefined when the object has no `.kconfig`
 * externs. A non-weak extern the kernel does not define is an error naming it; weak ones read 0.
 */
export function kconfigValue(object: BpfObject, kernel: KernelDescription): Uint8Array | undefined {
  const map = object.maps.find((m) => m.origin === 'kconfig' && m.name === KCONFIG_MAP);
  if (!map) return undefined;
  const bytes = new Uint8Array(map.valueSize);
  const view = new DataView(bytes.buffer);
  const where = { ...(object.fileName === undefined ? {} : { file: object.fileName }), section: KCONFIG_MAP };
  for (const ext of object.externs ?? []) {
    if (ext.kind !== 'kconfig') continue;
    const fail = (why: string): never => {
      throw new ObjectError('unresolved-extern', `extern (kcfg) ${ext.name}: ${why}`, where);
    };
    const value = rawValue(ext.name, kernel);
    if (value === undefined) {
      if (!ext.weak) fail(ext.name.startsWith('CONFIG_') ? 'value not found in the kernel config' : 'unrecognized extern');
      continue;
    }
    encode(ext, value, view, object.littleEndian, fail);
  }
  return bytes;
}

type Raw = { kind: 'flag'; value: 'y' | 'm' | 'n' } | { kind: 'number'; value: bigint } | { kind: 'string'; value: string } | { kind: 'bool'; value: boolean };

function rawValue(name: string, kernel: KernelDescription): Raw | undefined {
  if (name === 'LINUX_KERNEL_VERSION') return { kind: 'number', value: BigInt(kernel.version) };
  if (name === 'LINUX_HAS_BPF_COOKIE') return { kind: 'bool', value: kernel.hasBpfCookie };
  if (name === 'LINUX_HAS_SYSCALL_WRAPPER') return { kind: 'bool', value: kernel.hasSyscallWrapper };
  if (!name.startsWith('CONFIG_')) return undefined;
  const text = kernel.config[name];
  if (text === undefined) return undefined;
  if (text === 'y' || text === 'm' || text === 'n') return { kind: 'flag', value: text };
  if (text.startsWith('"')) return { kind: 'string', value: text.slice(1, text.endsWith('"') && text.length > 1 ? -1 : undefined).replace(/\\(.)/g, '$1') };
  try {
    return { kind: 'number', value: BigInt(text) };
  } catch {
    return { kind: 'string', value: text };
  }
}

function encode(ext: Extract<ObjectExtern, { kind: 'kconfig' }>, raw: Raw, view: DataView, le: boolean, fail: (why: string) => never): void {
  const at = ext.offset;
  switch (raw.kind) {
    case 'bool':
      if (ext.type !== 'bool' && ext.type !== 'char' && ext.type !== 'int' && ext.type !== 'uint') fail(`a bool does not fit type ${ext.type}`);
      return writeInt(view, at, ext.size, raw.value ? 1n : 0n, le);
    case 'flag':
      if (ext.type === 'bool') {
        if (raw.value === 'm') fail(`value 'm' implies tristate or char type`);
        return view.setUint8(at, raw.value === 'y' ? 1 : 0);
      }
      if (ext.type === 'tristate') return view.setUint32(at, raw.value === 'y' ? 1 : raw.value === 'm' ? 2 : 0, le);
      if (ext.type === 'char') return view.setUint8(at, raw.value.charCodeAt(0));
      return fail(`value '${raw.value}' implies tristate or char type`);
    case 'number': {
      if (ext.type !== 'int' && ext.type !== 'uint' && ext.type !== 'char') fail(`value ${raw.value} implies an integer type`);
      const bits = BigInt(ext.size * 8);
      const fits = ext.type === 'int' ? raw.value >= -(1n << (bits - 1n)) && raw.value < 1n << (bits - 1n) : raw.value >= 0n && raw.value < 1n << bits;
      if (!fits) fail(`value ${raw.value} does not fit in ${ext.size} bytes`);
      return writeInt(view, at, ext.size, raw.value, le);
    }
    case 'string': {
      if (ext.type !== 'string') fail(`a string value needs a char array`);
      // Truncated to leave the terminating NUL, as libbpf does (with a warning).
      const text = new TextEncoder().encode(raw.value).subarray(0, ext.size - 1);
      new Uint8Array(view.buffer, at, ext.size).set(text);
      return;
    }
  }
}

function writeInt(view: DataView, at: number, size: number, value: bigint, le: boolean): void {
  const unsigned = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) view.setUint8(le ? at + i : at + size - 1 - i, Number((unsigned >> BigInt(8 * i)) & 0xffn));
}
