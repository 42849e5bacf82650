import type { BpfMap } from '../maps/map.js';
import type { ProgTypeInfo } from '../progtypes/table.js';
import type { Region } from '../vm/memory.js';

/**
 * What helpers see of the (userspace) kernel while a program runs: `HelperCall.env`. The runtime
 * fills it per run; helpers never reach into the runtime otherwise.
 */

/** The task a tracing program pretends to run in. */
export interface TaskInfo {
  pid: number;
  tgid: number;
  uid: number;
  gid: number;
  comm: string;
  /**
   * The task's pid namespace as stat(2) of /proc/<pid>/ns/pid names it: bpf_get_ns_current_pid_tgid
   * answers only for this namespace (none given: for no namespace, -EINVAL).
   */
  pidNamespace?: { dev: number; ino: number };
  /**
   * Ids of the task's cgroup v2 and its ancestors, the root (level 0) first: what the cgroup id
   * helpers answer for the task and for sockets it makes (a test run's skb). None: 0 everywhere.
   */
  cgroupIds?: readonly number[];
}

/** Services that outlive a run: maps, the trace pipe, clocks, randomness. */
export interface RuntimeServices {
  /** The map whose handle (what LD_IMM64 map_fd loads) is `handle`. */
  mapByHandle(handle: number): BpfMap | undefined;
  /** A line for the trace pipe (bpf_trace_printk, bpf_printk). */
  trace(message: string): void;
  /** CLOCK_MONOTONIC in ns (a double: exact for 104 days). */
  monotonicNs(): number;
  /** CLOCK_BOOTTIME in ns. */
  bootNs(): number;
  /** CLOCK_TAI in ns. */
  taiNs(): number;
  /** A uniformly random u32. */
  randomU32(): number;
  task: TaskInfo;
  /** CONFIG_HZ for jiffies64. */
  hz: number;
  numaNode: number;
}

/** The packet buffer of packet-type programs: one region with headroom before `data`. */
export interface PacketState {
  region: Region;
  /** Addresses inside `region`. `meta <= data <= dataEnd <= region end`. */
  meta: number;
  data: number;
  dataEnd: number;
}

/** Where a redirect helper sent the packet. */
export interface RedirectTarget {
  ifindex: number;
  flags: number;
  /** For bpf_redirect_map: the map and key. */
  map?: BpfMap;
  key?: number;
}

export interface ExecEnv {
  services: RuntimeServices;
  cpu: number;
  progType: ProgTypeInfo;
  /** Address of the context. */
  ctx: number;
  packet?: PacketState;
  redirect?: RedirectTarget;
  /**
   * Called after a helper moved packet bounds (adjust_head/tail/meta, change_tail ...), so the
   * runtime can rewrite the context's data/data_end/data_meta fields.
   */
  syncPacket?: () => void;
  /** Tail calls made so far in this run. */
  tailCalls: number;
  /** What bpf_get_attach_cookie returns: the cookie of the attachment that ran the program (default 0). */
  attachCookie?: bigint;
}
