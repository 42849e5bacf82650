import type { BpfMap } from '../maps/map.js';
import type { RuntimeServices, TaskInfo } from '../helpers/env.js';

/** Clocks from the host: performance.now() works in Node and browsers alike. */
const origin = typeof performance !== 'undefined' ? performance.timeOrigin : Date.now();
const nowNs = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now() - origin) * 1e6;

export interface ServicesOptions {
  task?: Partial<TaskInfo>;
  /** Called for each trace line (bpf_printk); lines are also kept in `traceLog` (last 10,000). */
  onTrace?: (line: string) => void;
  /** Deterministic randomness for tests: a seed for the generator. */
  seed?: number;
  /** Fixed clock for reproducible runs (ns). */
  clock?: () => number;
}

export class DefaultServices implements RuntimeServices {
  readonly task: TaskInfo;
  readonly hz = 250;
  readonly numaNode = 0;
  readonly traceLog: string[] = [];
  private readonly maps = new Map<number, BpfMap>();
  private readonly onTrace: ((line: string) => void) | undefined;
  private readonly clock: () => number;
  private state: number;

  constructor(options: ServicesOptions = {}) {
    this.task = { pid: 4242, tgid: 4242, uid: 0, gid: 0, comm: 'tsbpf', ...options.task };
    this.onTrace = options.onTrace;
    this.clock = options.clock ?? nowNs;
    this.state = (options.seed ?? (Math.random() * 2 ** 32)) >>> 0 || 1;
  }

  register(map: BpfMap): void {
    this.maps.set(map.handle, map);
  }
  unregister(map: BpfMap): void {
    this.maps.delete(map.handle);
  }
  mapByHandle(handle: number): BpfMap | undefined {
    return this.maps.get(handle);
  }
  trace(message: string): void {
    const line = `${this.task.comm}-${this.task.pid} [000] ..... ${(this.clock() / 1e9).toFixed(6)}: bpf_trace_printk: ${message}`;
    this.traceLog.push(line);
    if (this.traceLog.length > 10000) this.traceLog.shift();
    this.onTrace?.(line);
  }
  monotonicNs(): number {
    return this.clock();
  }
  bootNs(): number {
    return this.clock();
  }
  /** CLOCK_TAI as the kernels tsbpf is checked against report it (no TAI offset configured). */
  taiNs(): number {
    return Date.now() * 1e6;
  }
  randomU32(): number {
    // xorshift32: fast, seedable, good enough for bpf_get_prandom_u32's users.
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
}
