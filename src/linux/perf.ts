import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../errors.js';
import { ensureTracefs } from './bpffs.js';
import { BpfSyscallError } from './errors.js';
import { callWith, defineLayout, encodeLayout } from './layout.js';
import { lastErrno, libc, syscallNumbers } from './libc.js';

/** `struct perf_event_attr` up to `config2` plus the 128-byte size the kernel accepts (PERF_ATTR_SIZE_VER7). */
const PerfEventAttr = defineLayout('perf_event_attr', {
  type: { offset: 0, kind: 'u32' }, size: { offset: 4, kind: 'u32' }, config: { offset: 8, kind: 'u64' },
  sample_period: { offset: 16, kind: 'u64' }, sample_type: { offset: 24, kind: 'u64' },
  read_format: { offset: 32, kind: 'u64' }, flags: { offset: 40, kind: 'u64' },
  wakeup_events: { offset: 48, kind: 'u32' }, bp_type: { offset: 52, kind: 'u32' },
  config1: { offset: 56, kind: 'u64' }, config2: { offset: 64, kind: 'u64' },
  /** config1 as a pointer: the path of a uprobe/kprobe PMU event. */
  config1_ptr: { offset: 56, kind: 'ptr' },
  reserved_tail: { offset: 120, kind: 'u64' },
});

export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;
const PERF_FLAG_FD_CLOEXEC = 1 << 3;
/** perf_event_attr flag bits. */
const ATTR_DISABLED = 1n;

/** ioctl numbers: _IO('$', 0), _IO('$', 1), _IOW('$', 8, u32). */
export const PerfIoctl = { ENABLE: 0x2400, DISABLE: 0x2401, SET_BPF: 0x40042408 } as const;

/** Where the kernel lists dynamic PMUs (kprobe, uprobe) and their type numbers. */
export const EVENT_SOURCE_DIR = '/sys/bus/event_source/devices';

/** The tracefs event id of `category/name` (e.g. syscalls/sys_enter_getpid). */
export function tracepointId(category: string, name: string): number {
  if (!/^[\w.-]+$/.test(category) || !/^[\w.-]+$/.test(name)) {
    throw new TsbpfError('linux/bad-tracepoint', `bad tracepoint name ${category}/${name}`);
  }
  const file = join(ensureTracefs(), 'events', category, name, 'id');
  if (!existsSync(file)) throw new TsbpfError('linux/no-tracepoint', `no tracepoint ${category}/${name} (${file} missing)`);
  return Number(readFileSync(file, 'utf8').trim());
}

export interface PerfEventOptions {
  type: number;
  config: bigint | number;
  /** -1: any process (needs a cpu). */
  pid?: number;
  cpu?: number;
  samplePeriod?: number;
  disabled?: boolean;
  /** A C string config1 points to (uprobe: the binary's path). */
  config1Path?: string;
  config2?: bigint | number;
}

/** perf_event_open(2); returns the new fd (the caller owns it). */
export function perfEventOpen(options: PerfEventOptions): number {
  const attr = encodeLayout(PerfEventAttr, {
    type: options.type, size: PerfEventAttr.size, config: options.config,
    sample_period: options.samplePeriod ?? 1, wakeup_events: 1,
    flags: options.disabled ? ATTR_DISABLED : 0n,
    config1_ptr: options.config1Path === undefined ? undefined : new TextEncoder().encode(options.config1Path + '\0'),
    config2: options.config2 ?? 0,
  });
  const fd = callWith(attr, (bytes) => libc().syscall5(syscallNumbers().perfEventOpen, bytes, options.pid ?? -1, options.cpu ?? 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) throw new BpfSyscallError('perf_event_open', lastErrno(), `type ${options.type} config ${options.config}`);
  return fd;
}

export function perfIoctl(fd: number, request: number, arg = 0): void {
  if (libc().ioctlInt(fd, request, arg) < 0) throw new BpfSyscallError(`ioctl(perf, 0x${request.toString(16)})`, lastErrno());
}

/** The PMU type number of a dynamic PMU like `kprobe` or `uprobe`, or undefined when the kernel has none. */
export function dynamicPmuType(pmu: string): number | undefined {
  const file = join(EVENT_SOURCE_DIR, pmu, 'type');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}
