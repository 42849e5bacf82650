import { existsSync } from 'node:fs';
import type { ObjectProgram } from '../object/types.js';
import type { XdpModeName } from './constants.js';
import { EVENT_SOURCE_DIR } from './perf.js';
import type { KernelObject } from './kernel-object.js';
import { libc } from './libc.js';
import { BpfSyscallError } from './errors.js';
import {
  attachRawTracepoint, attachSocketFilter, attachTcx, attachTracepoint, attachXdp, type BpfLink, type SocketFilterAttachment,
} from './link.js';
import type { BpfMap } from './map.js';
import type { BpfProgram } from './program.js';
import { attachTcNetlink, type TcAttachment } from './tc-netlink.js';
import { attachUprobe } from './uprobe.js';
import { attachUsdt, USDT_SPECS_MAP, type UsdtAttachment } from './usdt.js';
import { AttachError } from './attach-error.js';
import { attachHook, hookTargetFromSection, hookTargetFromWords, type HookAttachment, type HookTarget } from './attach-hooks.js';
import { attachXdpNetlink, type XdpAttachment } from './xdp-netlink.js';

/**
 * Attaching a program of a loaded object where its section says it belongs (libbpf's
 * bpf_program__attach): the section picks the mechanism, the target fills in what the section does
 * not say (an interface, a socket). Every result detaches on close().
 */

/**
 * `xdp`: a bpf_link unless `via: 'netlink'` (without `via`, netlink when the kernel has no XDP links);
 * `tcx`: a tcx link (6.6+; a netlink clsact filter on older kernels); `tc`: a cls_bpf direct-action
 * filter on the clsact qdisc over netlink.
 */
export type AttachTarget =
  | { kind: 'xdp'; interface: string | number; mode?: XdpModeName; via?: 'link' | 'netlink' }
  | { kind: 'tcx'; interface: string | number; direction: 'ingress' | 'egress' }
  | { kind: 'tc'; interface: string | number; direction: 'ingress' | 'egress'; priority?: number; handle?: number }
  | { kind: 'tracepoint'; category: string; name: string }
  | { kind: 'raw_tracepoint'; name: string }
  | { kind: 'uprobe'; path: string; symbol?: string; offset?: number; pid?: number; retprobe?: boolean }
  | { kind: 'usdt'; path: string; provider: string; name: string; pid?: number }
  | { kind: 'kprobe'; function: string; retprobe?: boolean }
  | { kind: 'socket'; fd: number }
  | HookTarget;

export type Attachment = BpfLink | SocketFilterAttachment | XdpAttachment | TcAttachment | HookAttachment | UsdtAttachment;

export { AttachError };

/** The interface index of a name in the calling thread's network namespace. */
export function interfaceIndex(name: string | number): number {
  if (typeof name === 'number') return name;
  if (/^\d+$/.test(name)) return Number(name);
  const index = libc().ifNameToIndex(name);
  if (index === 0) throw new AttachError('no-interface', `no network interface ${name} (in this network namespace)`);
  return index;
}

/** kprobes need the kprobe PMU or tracefs kprobe_events; this says why they cannot work, or undefined. */
export function kprobeUnavailableReason(): string | undefined {
  if (existsSync(`${EVENT_SOURCE_DIR}/kprobe`)) return undefined;
  if (existsSync('/sys/kernel/tracing/kprobe_events') || existsSync('/sys/kernel/debug/tracing/kprobe_events')) return undefined;
  return 'this kernel has no kprobe support (no kprobe PMU in /sys/bus/event_source/devices and no tracefs kprobe_events: CONFIG_KPROBES is off); use a tracepoint, raw tracepoint or uprobe instead';
}

/** The section's family (the part before the first `/`), lower case. */
function family(p: ObjectProgram): string {
  return p.section.split('/')[0]!.toLowerCase();
}

/**
 * Reads a target from text, as the section would complete it:
 *   xdp: `IFACE` or `IFACE:generic|native|offload`; tc/tcx: `IFACE` (direction from the section,
 *   or `IFACE:ingress|egress`); tracepoint: `CATEGORY:NAME` or `CATEGORY/NAME`; raw_tp: `NAME`;
 *   uprobe/uretprobe: `BINARY:SYMBOL[+OFFSET]`; usdt: `BINARY:PROVIDER:NAME`; socket: a socket fd; fentry/fexit/tp_btf/lsm, perf_event,
 *   cgroup*, sk_skb/sk_msg: see hookTargetFromSection.
 */
export function parseAttachTarget(p: ObjectProgram, text: string | undefined): AttachTarget {
  const f = family(p);
  const fromSection = p.attachTarget;
  const need = (what: string): string => {
    const value = text ?? fromSection;
    if (!value) throw new AttachError('no-target', `program ${p.name} (section ${p.section}) needs ${what}`);
    return value;
  };
  if (f.startsWith('xdp')) {
    const [iface, mode] = need('an interface').split(':');
    if (mode !== undefined && mode !== 'generic' && mode !== 'native' && mode !== 'offload') throw new AttachError('bad-target', `unknown XDP mode ${mode} (generic, native, offload)`);
    return { kind: 'xdp', interface: iface!, ...(mode ? { mode } : {}) };
  }
  if (f === 'tc' || f === 'tcx' || f === 'classifier') {
    const sectionDirection = /(ingress|egress)$/.exec(p.section)?.[1] as 'ingress' | 'egress' | undefined;
    const [iface, direction] = (text ?? '').split(':');
    if (!iface) throw new AttachError('no-target', `program ${p.name} (section ${p.section}) needs an interface`);
    const dir = (direction ?? sectionDirection) as 'ingress' | 'egress' | undefined;
    if (dir !== 'ingress' && dir !== 'egress') throw new AttachError('bad-target', `say ingress or egress: ${iface}:ingress`);
    return { kind: 'tcx', interface: iface, direction: dir };
  }
  if (f === 'tracepoint' || f === 'tp') {
    const parts = need('a tracepoint (category:name)').split(/[:/]/);
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new AttachError('bad-target', `tracepoint must be CATEGORY:NAME (got ${text ?? fromSection})`);
    return { kind: 'tracepoint', category: parts[0], name: parts[1] };
  }
  if (f === 'raw_tp' || f === 'raw_tracepoint' || f === 'raw_tp.w' || f === 'raw_tracepoint.w') return { kind: 'raw_tracepoint', name: need('a raw tracepoint name') };
  if (f === 'uprobe' || f === 'uretprobe' || f === 'uprobe.s' || f === 'uretprobe.s') {
    const value = need('BINARY:SYMBOL');
    const m = /^(.+?):([^:+]*)(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(value);
    if (!m) throw new AttachError('bad-target', `uprobe target must be BINARY:SYMBOL[+OFFSET] (got ${value})`);
    return {
      kind: 'uprobe', path: m[1]!, ...(m[2] ? { symbol: m[2] } : {}), ...(m[3] ? { offset: Number(m[3]) } : {}),
      retprobe: f.startsWith('uretprobe'),
    };
  }
  if (f === 'kprobe' || f === 'kretprobe' || f === 'ksyscall' || f === 'kretsyscall') {
    return { kind: 'kprobe', function: need('a kernel function'), retprobe: f.startsWith('kret') };
  }
  if (f === 'usdt' || f === 'usdt.s') return usdtTarget(need('BINARY:PROVIDER:NAME'));
  if (f.startsWith('socket')) {
    const fd = Number(text);
    if (text === undefined || !Number.isInteger(fd) || fd < 0) throw new AttachError('no-target', `program ${p.name} (section ${p.section}) needs a socket fd`);
    return { kind: 'socket', fd };
  }
  const hook = hookTargetFromSection(p, f, text);
  if (hook) return hook;
  throw new AttachError('unsupported', `cannot attach program ${p.name}: section ${p.section} (type ${p.type ?? 'unknown'}) is not one this backend attaches (xdp, tc/tcx, tracepoint, raw_tp, uprobe, usdt, socket, fentry/fexit/fmod_ret/tp_btf/lsm, perf_event, cgroup, sockops, sk_skb, sk_msg)`);
}

/** `BINARY:PROVIDER:NAME` (the binary's path may itself contain ':'). */
function usdtTarget(text: string): AttachTarget {
  const m = /^(.+):([^:]+):([^:]+)$/.exec(text);
  if (!m) throw new AttachError('bad-target', `usdt target must be BINARY:PROVIDER:NAME (got ${text})`);
  return { kind: 'usdt', path: m[1]!, provider: m[2]!, name: m[3]! };
}

/** Attaches one program of `kernel` to `target` (an AttachTarget, text for parseAttachTarget, or none: the section's own). */
export function attachProgram(kernel: KernelObject, programName: string, target?: AttachTarget | string): Attachment {
  const spec = kernel.object.programs.find((p) => p.name === programName);
  if (!spec) throw new AttachError('no-program', `no program ${programName} in ${kernel.object.fileName ?? 'the object'}`);
  const resolved = typeof target === 'object' ? target : parseAttachTarget(spec, target);
  // A sockmap target may name a map of the same object.
  if (resolved.kind === 'sockmap') return attachHook(kernel.program(programName), resolved, kernel.maps);
  // A USDT program built on libbpf's usdt.bpf.h reads its argument specs from the object's spec map.
  if (resolved.kind === 'usdt') return attachUsdtTarget(kernel.program(programName), resolved, kernel.maps.get(USDT_SPECS_MAP));
  return attachTo(kernel.program(programName), resolved);
}

function attachUsdtTarget(program: BpfProgram, target: AttachTarget & { kind: 'usdt' }, specs?: BpfMap): UsdtAttachment {
  return attachUsdt(program, {
    path: target.path, provider: target.provider, name: target.name,
    ...(target.pid !== undefined ? { pid: target.pid } : {}),
    ...(specs ? { specs } : {}),
  });
}

/**
 * A link, or the netlink attachment when LINK_CREATE answers EINVAL: what kernels without this link
 * type (XDP links before 5.9, tcx before 6.6) say. Should netlink fail too, its error is the one thrown.
 */
function linkOrNetlink(link: () => Attachment, netlink: () => Attachment): Attachment {
  try {
    return link();
  } catch (e) {
    if (!(e instanceof BpfSyscallError && e.command === 'BPF_LINK_CREATE' && e.errnoName === 'EINVAL')) throw e;
  }
  return netlink();
}

/** Attaches a loaded program to a target. */
export function attachTo(program: BpfProgram, target: AttachTarget): Attachment {
  switch (target.kind) {
    case 'xdp': {
      const ifindex = interfaceIndex(target.interface);
      const mode = target.mode ?? 'generic';
      if (target.via === 'netlink') return attachXdpNetlink(program, ifindex, mode);
      if (target.via === 'link') return attachXdp(program, ifindex, mode);
      return linkOrNetlink(() => attachXdp(program, ifindex, mode), () => attachXdpNetlink(program, ifindex, mode));
    }
    case 'tcx': {
      const ifindex = interfaceIndex(target.interface);
      return linkOrNetlink(() => attachTcx(program, ifindex, target.direction), () => attachTcNetlink(program, ifindex, target.direction));
    }
    case 'tc': return attachTcNetlink(program, interfaceIndex(target.interface), target.direction, {
      ...(target.priority !== undefined ? { priority: target.priority } : {}),
      ...(target.handle !== undefined ? { handle: target.handle } : {}),
    });
    case 'tracepoint': return attachTracepoint(program, target.category, target.name);
    case 'raw_tracepoint': return attachRawTracepoint(program, target.name);
    case 'uprobe': return attachUprobe(program, {
      path: target.path,
      ...(target.symbol !== undefined ? { symbol: target.symbol } : {}),
      ...(target.offset !== undefined ? { offset: target.offset } : {}),
      ...(target.pid !== undefined ? { pid: target.pid } : {}),
      ...(target.retprobe ? { retprobe: true } : {}),
    });
    case 'kprobe': {
      const why = kprobeUnavailableReason();
      throw new AttachError(why ? 'no-kprobes' : 'unsupported', why ?? `kprobe ${target.function}: kprobe attachment is not implemented by this backend`);
    }
    case 'usdt': return attachUsdtTarget(program, target);
    case 'socket': return attachSocketFilter(target.fd, program);
    case 'tracing': case 'perf_event': case 'cgroup': case 'sockmap': return attachHook(program, target);
  }
}

/**
 * A target from command-line words: `xdp dev IFACE [MODE] [netlink|link]`, `tcx ingress|egress dev IFACE`,
 * `tc ingress|egress dev IFACE [priority N] [handle N]`, `tracepoint CAT:NAME`, `raw_tp NAME`,
 * `uprobe|uretprobe BIN:SYM[+OFF]`, `usdt BIN:PROVIDER:NAME`, `kprobe FUNC`, and the hooks of hookTargetFromWords
 * (`fentry`, `perf_event ...`, `cgroup PATH TYPE`, `sockmap MAP HOOK`).
 */
export function parseTargetWords(words: readonly string[]): AttachTarget {
  const [kind, ...args] = words;
  const bad = (usage: string): never => {
    throw new AttachError('bad-target', `expected: ${usage} (got '${words.join(' ')}')`);
  };
  const dev = (list: readonly string[]): string | undefined => (list[0] === 'dev' ? list[1] : list[0]);
  switch (kind) {
    case 'xdp': {
      const usage = 'xdp dev IFACE [generic|native|offload] [netlink|link]';
      const iface = dev(args) ?? bad(usage);
      const target: AttachTarget & { kind: 'xdp' } = { kind: 'xdp', interface: iface };
      for (const word of args.slice(args[0] === 'dev' ? 2 : 1)) {
        if ((word === 'generic' || word === 'native' || word === 'offload') && !target.mode) target.mode = word;
        else if ((word === 'netlink' || word === 'link') && !target.via) target.via = word;
        else bad(usage);
      }
      return target;
    }
    case 'tcx': {
      const direction = args[0];
      if (direction !== 'ingress' && direction !== 'egress') return bad('tcx ingress|egress dev IFACE');
      return { kind: 'tcx', direction, interface: dev(args.slice(1)) ?? bad('tcx ingress|egress dev IFACE') };
    }
    case 'tc': {
      const usage = 'tc ingress|egress dev IFACE [priority N] [handle N]';
      const direction = args[0];
      if (direction !== 'ingress' && direction !== 'egress') return bad(usage);
      const iface = dev(args.slice(1)) ?? bad(usage);
      const target: AttachTarget & { kind: 'tc' } = { kind: 'tc', direction, interface: iface };
      const options = args.slice(args[1] === 'dev' ? 3 : 2);
      for (let i = 0; i < options.length; i += 2) {
        const [name, text] = [options[i], options[i + 1]];
        const value = text !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(text) ? Number(text) : NaN;
        if (name === 'priority' && target.priority === undefined && value >= 1 && value <= 0xffff) target.priority = value;
        else if (name === 'handle' && target.handle === undefined && value >= 1 && value <= 0xffffffff) target.handle = value;
        else bad(usage);
      }
      return target;
    }
    case 'tracepoint': case 'tp': {
      const parts = (args[0] ?? '').split(/[:/]/);
      if (parts.length !== 2 || !parts[0] || !parts[1]) bad('tracepoint CATEGORY:NAME');
      return { kind: 'tracepoint', category: parts[0]!, name: parts[1]! };
    }
    case 'raw_tp': case 'raw_tracepoint':
      return { kind: 'raw_tracepoint', name: args[0] ?? bad('raw_tp NAME') };
    case 'uprobe': case 'uretprobe': {
      const m = /^(.+?):([^:+]*)(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(args[0] ?? '') ?? bad(`${kind} BINARY:SYMBOL[+OFFSET]`);
      return { kind: 'uprobe', path: m[1]!, ...(m[2] ? { symbol: m[2] } : {}), ...(m[3] ? { offset: Number(m[3]) } : {}), retprobe: kind === 'uretprobe' };
    }
    case 'kprobe': case 'kretprobe':
      return { kind: 'kprobe', function: args[0] ?? bad(`${kind} FUNCTION`), retprobe: kind === 'kretprobe' };
    case 'usdt':
      return usdtTarget(args[0] ?? bad('usdt BINARY:PROVIDER:NAME'));
    default:
      return hookTargetFromWords(words) ?? bad('xdp | tcx | tc | tracepoint | raw_tp | uprobe | uretprobe | usdt | kprobe | fentry | fexit | fmod_ret | tp_btf | lsm | perf_event | cgroup | sockmap ...');
  }
}
