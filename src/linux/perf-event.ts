import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../errors.js';
import { parseCpuList } from './cpus.js';
import { BpfSyscallError } from './errors.js';
import { callWith, defineLayout, encodeLayout } from './layout.js';
import { lastErrno, libc, syscallNumbers } from './libc.js';
import { attachPerfEvent, type BpfLink } from './link.js';
import { PerfType } from './perf.js';
import type { BpfProgram } from './program.js';

/**
 * `perf_event` programs on sampling events (libbpf's bpf_program__attach_perf_event, done per CPU
 * as `bpftool`/`perf` users do): one software or hardware event per CPU, or one following a process,
 * each bound to the program as a BPF_PERF_EVENT link (PERF_EVENT_IOC_SET_BPF on older kernels).
 */

/** The sampling fields of `struct perf_event_attr` (PERF_ATTR_SIZE_VER7, 128 bytes). */
const SamplingAttr = defineLayout('perf_event_attr(sampling)', {
  type: { offset: 0, kind: 'u32' }, size: { offset: 4, kind: 'u32' }, config: { offset: 8, kind: 'u64' },
  /** sample_period, or sample_freq when the `freq` flag is set. */
  sample_period_or_freq: { offset: 16, kind: 'u64' },
  flags: { offset: 40, kind: 'u64' },
  reserved_tail: { offset: 120, kind: 'u64' },
});
/** perf_event_attr flag bit `freq`: the sampling field is a frequency in Hz. */
const FLAG_FREQ = 1n << 10n;
const PERF_FLAG_FD_CLOEXEC = 1 << 3;

/** PERF_TYPE_SOFTWARE events by their `perf` names. */
export const SoftwareEvent = {
  'cpu-clock': 0, 'task-clock': 1, 'page-faults': 2, 'context-switches': 3, 'cpu-migrations': 4,
  'minor-faults': 5, 'major-faults': 6, 'alignment-faults': 7, 'emulation-faults': 8, dummy: 9,
} as const;
/** PERF_TYPE_HARDWARE events (need a PMU: often absent in virtual machines). */
export const HardwareEvent = {
  cycles: 0, instructions: 1, 'cache-references': 2, 'cache-misses': 3, 'branch-instructions': 4, 'branch-misses': 5,
} as const;
export type PerfEventName = keyof typeof SoftwareEvent | keyof typeof HardwareEvent;

export interface PerfEventAttachOptions {
  /** Default `cpu-clock`. */
  event?: PerfEventName;
  /** Sample every N events (for the clocks: nanoseconds). Default: 99 Hz when neither is given. */
  samplePeriod?: number;
  /** Sample N times a second (the kernel adjusts the period). */
  sampleFrequency?: number;
  /** Follow one process (all its CPUs). Default: every online CPU, any process. */
  pid?: number;
  /** Only this CPU (with or without `pid`). */
  cpu?: number;
}

const DEFAULT_FREQUENCY = 99;

function eventTypeAndConfig(event: PerfEventName): { type: number; config: number } {
  if (Object.hasOwn(SoftwareEvent, event)) return { type: PerfType.SOFTWARE, config: SoftwareEvent[event as keyof typeof SoftwareEvent] };
  if (Object.hasOwn(HardwareEvent, event)) return { type: PerfType.HARDWARE, config: HardwareEvent[event as keyof typeof HardwareEvent] };
  throw new TsbpfError('linux/bad-perf-event', `unknown perf event ${event} (${[...Object.keys(SoftwareEvent), ...Object.keys(HardwareEvent)].join(', ')})`);
}

/** The CPUs that are online now. */
export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

/** perf_event_open for a sampling event; returns the new fd (the caller owns it). */
export function openSamplingEvent(options: PerfEventAttachOptions & { cpu: number }): number {
  const { type, config } = eventTypeAndConfig(options.event ?? 'cpu-clock');
  if (options.samplePeriod !== undefined && options.sampleFrequency !== undefined) {
    throw new TsbpfError('linux/bad-perf-event', 'give a sample period or a sample frequency, not both');
  }
  const byFrequency = options.samplePeriod === undefined;
  const value = options.samplePeriod ?? options.sampleFrequency ?? DEFAULT_FREQUENCY;
  if (!Number.isInteger(value) || value <= 0) throw new TsbpfError('linux/bad-perf-event', `sample ${byFrequency ? 'frequency' : 'period'} must be a positive integer (got ${value})`);
  const attr = encodeLayout(SamplingAttr, {
    type, size: SamplingAttr.size, config, sample_period_or_freq: value, flags: byFrequency ? FLAG_FREQ : 0n,
  }, 128);
  const pid = options.pid ?? -1;
  const fd = callWith(attr, (bytes) => libc().syscall5(syscallNumbers().perfEventOpen, bytes, pid, options.cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    throw new BpfSyscallError('perf_event_open', lastErrno(), `${options.event ?? 'cpu-clock'} on ${pid >= 0 ? `pid ${pid}` : 'any process'}, cpu ${options.cpu < 0 ? 'any' : options.cpu}`);
  }
  return fd;
}

/** The links of one perf_event program on several events; closing it detaches them all. */
export class PerfEventLinks implements Disposable {
  /** `cpus[i]` is the CPU of `links[i]` (-1: any CPU, following a process). */
  constructor(readonly links: readonly BpfLink[], readonly cpus: readonly number[], readonly description: string) {}

  /** Pins the one link at `path`, or each link at `path/cpuN` when there is one per CPU. Returns the paths. */
  pin(path: string): string[] {
    const paths = this.links.length === 1 ? [path] : this.cpus.map((cpu) => join(path, `cpu${cpu}`));
    this.links.forEach((link, i) => link.pin(paths[i]!));
    return paths;
  }

  close(): void {
    for (const link of this.links) link.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Attaches a `perf_event` program to a sampling event on every online CPU (or `cpu`), or following `pid`. */
export function attachPerfEventProgram(program: BpfProgram, options: PerfEventAttachOptions = {}): PerfEventLinks {
  const event = options.event ?? 'cpu-clock';
  const cpus = options.cpu !== undefined ? [options.cpu] : options.pid !== undefined ? [-1] : onlineCpus();
  const links: BpfLink[] = [];
  try {
    for (const cpu of cpus) {
      const fd = openSamplingEvent({ ...options, cpu });
      links.push(attachPerfEvent(program, fd, `perf_event ${event} ${options.pid !== undefined ? `pid ${options.pid}` : `cpu ${cpu}`}`));
    }
  } catch (err) {
    for (const link of links) link.close();
    throw err;
  }
  const where = options.pid !== undefined ? `pid ${options.pid}` : `${cpus.length} CPU${cpus.length === 1 ? '' : 's'}`;
  return new PerfEventLinks(links, cpus, `perf_event ${event} on ${where}`);
}
