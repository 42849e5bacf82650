import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { TsbpfError } from '../errors.js';
import { ObjPinAttr } from './attr.js';
import { BpfSyscallError } from './errors.js';
import { lastErrno, libc } from './libc.js';
import { bpf } from './syscall.js';

export const BPFFS_ROOT = '/sys/fs/bpf';
export const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** statfs magic numbers of the file systems tsbpf mounts (linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * Whether the file system on top at `path` is bpffs, asked of statfs as libbpf does: mounts stack,
 * and a mount namespace may show other lines in /proc/self/mounts than the one that answers for the path.
 */
function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

function mountFs(fsType: string, target: string): void {
  if (!existsSync(target)) mkdirSync(target, { recursive: true });
  if (libc().mount(fsType, target, fsType, 0, null) !== 0) {
    throw new BpfSyscallError(`mount(${fsType} on ${target})`, lastErrno());
  }
}

/** Makes sure a bpf file system is mounted at /sys/fs/bpf (mounting it if needed, which needs root). */
export function ensureBpffs(root = BPFFS_ROOT): string {
  if (!isBpffs(root)) mountFs('bpf', root);
  return root;
}

/** The tracefs root, mounting tracefs at /sys/kernel/tracing when neither usual place has it. */
export function ensureTracefs(): string {
  for (const root of TRACEFS_ROOTS) if (existsSync(`${root}/events`)) return root;
  mountFs('tracefs', TRACEFS_ROOTS[0]!);
  return TRACEFS_ROOTS[0]!;
}

const cString = (text: string): Uint8Array => new TextEncoder().encode(text + '\0');

/** Pins an object's fd at a path inside bpffs (mounting bpffs and creating parent folders as needed). */
export function pinFd(fd: number, path: string): void {
  if (!path.startsWith('/')) throw new TsbpfError('linux/bad-pin-path', `pin path must be absolute: ${path}`);
  if (path.startsWith(BPFFS_ROOT + '/')) ensureBpffs();
  mkdirSync(dirname(path), { recursive: true });
  try {
    bpf('OBJ_PIN', ObjPinAttr, { pathname: cString(path), bpf_fd: fd });
  } catch (e) {
    if (e instanceof BpfSyscallError) throw new BpfSyscallError(e.command, e.errno, `pin at ${path}${e.errnoName === 'EPERM' && /\/[^/]*\.[^/]*$/.test(path) ? ' (bpffs refuses names containing a dot)' : ''}`, { cause: e });
    throw e;
  }
}

/** Opens a pinned object; returns its new fd. */
export function openPinned(path: string, flags = 0): number {
  try {
    return bpf('OBJ_GET', ObjPinAttr, { pathname: cString(path), file_flags: flags }).ret;
  } catch (e) {
    if (e instanceof BpfSyscallError) throw new BpfSyscallError(e.command, e.errno, `pinned object ${path}`, { cause: e });
    throw e;
  }
}
