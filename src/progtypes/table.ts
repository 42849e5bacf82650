import { ProgType, type ProgTypeName } from '../uapi/prog-types.js';
import { PERF_EVENT_DATA, PT_REGS, SK_BUFF, XDP_MD, type ContextLayout } from './context.js';

/**
 * One row per program type: what its context is, what it may return, whether it sees packets and
 * can be test-run. Runtime, verifier, loader, docs and the Linux backend all read this table.
 */
export interface ProgTypeInfo {
  name: ProgTypeName;
  id: number;
  /** The context struct, or undefined when the context is untyped memory (tracepoint record, raw_tp args). */
  context?: ContextLayout;
  /** Size of an untyped context the runtime allocates when no layout applies. */
  rawContextSize?: number;
  /** Direct packet access through data/data_end. */
  packet: boolean;
  /** Inclusive range the verifier enforces on r0 at exit, when the kernel enforces one. */
  returnRange?: readonly [number, number];
  /** Names of well-known return values (for printing verdicts). */
  returnNames?: Readonly<Record<number, string>>;
  /** BPF_PROG_TEST_RUN works for this type in the kernel (and so in the runtime). */
  testRun: boolean;
}

export const XDP_ACTIONS: Readonly<Record<number, string>> = { 0: 'XDP_ABORTED', 1: 'XDP_DROP', 2: 'XDP_PASS', 3: 'XDP_TX', 4: 'XDP_REDIRECT' };
export const TC_ACTIONS: Readonly<Record<number, string>> = {
  [-1]: 'TC_ACT_UNSPEC', 0: 'TC_ACT_OK', 1: 'TC_ACT_RECLASSIFY', 2: 'TC_ACT_SHOT', 3: 'TC_ACT_PIPE', 4: 'TC_ACT_STOLEN',
  5: 'TC_ACT_QUEUED', 6: 'TC_ACT_REPEAT', 7: 'TC_ACT_REDIRECT', 8: 'TC_ACT_TRAP',
};
export const SK_ACTIONS: Readonly<Record<number, string>> = { 0: 'SK_DROP', 1: 'SK_PASS' };

const row = (name: ProgTypeName, rest: Omit<ProgTypeInfo, 'name' | 'id'>): ProgTypeInfo => ({ name, id: ProgType[name], ...rest });

const skb = { context: SK_BUFF, packet: true } as const;

export const PROG_TYPES: readonly ProgTypeInfo[] = [
  row('socket_filter', { ...skb, testRun: true }),
  row('kprobe', { context: PT_REGS, packet: false, testRun: false }),
  row('sched_cls', { ...skb, testRun: true, returnNames: TC_ACTIONS }),
  row('sched_act', { ...skb, testRun: true, returnNames: TC_ACTIONS }),
  row('tracepoint', { packet: false, rawContextSize: 4096, testRun: false }),
  row('xdp', { context: XDP_MD, packet: true, testRun: true, returnNames: XDP_ACTIONS }),
  row('perf_event', { context: PERF_EVENT_DATA, packet: false, testRun: false }),
  row('cgroup_skb', { ...skb, testRun: true, returnRange: [0, 1] }),
  row('cgroup_sock', { packet: false, rawContextSize: 128, testRun: false, returnRange: [0, 1] }),
  row('lwt_in', { ...skb, testRun: true }),
  row('lwt_out', { ...skb, testRun: true }),
  row('lwt_xmit', { ...skb, testRun: true }),
  row('sock_ops', { packet: false, rawContextSize: 256, testRun: false }),
  row('sk_skb', { ...skb, testRun: false, returnNames: SK_ACTIONS }),
  row('cgroup_device', { packet: false, rawContextSize: 16, testRun: false, returnRange: [0, 1] }),
  row('sk_msg', { packet: true, rawContextSize: 128, testRun: false, returnNames: SK_ACTIONS }),
  row('raw_tracepoint', { packet: false, rawContextSize: 96, testRun: true }),
  row('cgroup_sock_addr', { packet: false, rawContextSize: 128, testRun: false, returnRange: [0, 1] }),
  row('lwt_seg6local', { ...skb, testRun: true }),
  row('lirc_mode2', { packet: false, rawContextSize: 4, testRun: false }),
  row('sk_reuseport', { packet: false, rawContextSize: 128, testRun: false, returnNames: SK_ACTIONS }),
  row('flow_dissector', { ...skb, testRun: true }),
  row('cgroup_sysctl', { packet: false, rawContextSize: 16, testRun: false, returnRange: [0, 1] }),
  row('raw_tracepoint_writable', { packet: false, rawContextSize: 96, testRun: true }),
  row('cgroup_sockopt', { packet: false, rawContextSize: 64, testRun: false, returnRange: [0, 1] }),
  row('tracing', { packet: false, rawContextSize: 96, testRun: true }),
  row('struct_ops', { packet: false, rawContextSize: 96, testRun: false }),
  row('ext', { packet: false, rawContextSize: 96, testRun: false }),
  row('lsm', { packet: false, rawContextSize: 96, testRun: false }),
  row('sk_lookup', { packet: false, rawContextSize: 96, testRun: true, returnRange: [0, 1], returnNames: SK_ACTIONS }),
  row('syscall', { packet: false, rawContextSize: 0, testRun: true }),
  row('netfilter', { packet: false, rawContextSize: 16, testRun: false, returnRange: [0, 1] }),
];

const BY_ID: ReadonlyMap<number, ProgTypeInfo> = new Map(PROG_TYPES.map((p) => [p.id, p]));
const BY_NAME: ReadonlyMap<string, ProgTypeInfo> = new Map(PROG_TYPES.map((p) => [p.name, p]));

export function progTypeInfo(type: number | string): ProgTypeInfo | undefined {
  return typeof type === 'number' ? BY_ID.get(type) : BY_NAME.get(type.toLowerCase().replace(/^bpf_prog_type_/, ''));
}

/** `XDP_PASS`, `TC_ACT_SHOT` ... or the number. */
export function returnName(info: ProgTypeInfo, value: number): string {
  return info.returnNames?.[value] ?? String(value);
}
