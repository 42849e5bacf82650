import { readFileSync } from 'node:fs';
import { parseBtf, type Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { openObject, type BpfObject } from '../object/index.js';

export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';

let cached: { path: string; btf: Btf } | undefined;

/** The running kernel's BTF, parsed once per process (about 6 MB; CO-RE target for every object). */
export function vmlinuxBtf(path = VMLINUX_BTF_PATH): Btf {
  if (cached?.path === path) return cached.btf;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new TsbpfError('linux/no-vmlinux-btf', `cannot read kernel BTF ${path} (${(e as Error).message}): CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF`, { file: path });
  }
  cached = { path, btf: parseBtf(bytes) };
  return cached.btf;
}

/**
 * Opens an ELF object for the kernel: CO-RE relocations resolved against the running kernel's
 * BTF. Objects without CO-RE records are opened once and never make us read vmlinux.
 */
export function openObjectForKernel(bytes: Uint8Array, options: { fileName?: string; vmlinuxPath?: string } = {}): BpfObject {
  const named = options.fileName !== undefined ? { fileName: options.fileName } : {};
  const plain = openObject(bytes, named);
  const usesCore = plain.programs.some((p) => p.coreRelocations.applied + p.coreRelocations.poisoned > 0);
  return usesCore ? openObject(bytes, { ...named, coreTarget: vmlinuxBtf(options.vmlinuxPath) }) : plain;
}
