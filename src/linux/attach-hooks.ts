import { AttachError } from './attach-error.js';
import type { ObjectProgram } from '../object/types.js';
import { attachCgroup, cgroupAttachType } from './attach-cgroup.js';
import { attachSockmap, sockmapAttachType, type SockmapAttachment } from './attach-sockmap.js';
import { attachTracing, tracingKindOfFamily, type TracingKind } from './attach-tracing.js';
import type { BpfLink } from './link.js';
import { BpfMap } from './map.js';
import { attachPerfEventProgram, HardwareEvent, SoftwareEvent, type PerfEventAttachOptions, type PerfEventLinks, type PerfEventName } from './perf-event.js';
import type { BpfProgram } from './program.js';

/**
 * The attach points beyond devices, tracepoints and probes: BTF tracing (fentry/fexit/fmod_ret/
 * tp_btf/lsm), perf events, cgroups and sockmaps. Targets come from a section (with text completing
 * it) or from command-line words; attach-object.ts dispatches here.
 */

export type HookTarget =
  /** The traced function or event was fixed when the program was loaded (attach_btf_id). */
  | { kind: 'tracing'; tracing: TracingKind }
  | ({ kind: 'perf_event' } & PerfEventAttachOptions)
  /** `attachType`: `inet_ingress`, `inet4_connect`, `sock_ops` ... */
  | { kind: 'cgroup'; path: string; attachType: string }
  /** `map`: a map of the same object (by name), a pinned map path or a map id. */
  | { kind: 'sockmap'; map: string; hook: string };

export type HookAttachment = BpfLink | PerfEventLinks | SockmapAttachment;

const CGROUP_FAMILIES = new Set(['cgroup', 'cgroup_skb', 'sockops']);
const SOCKMAP_FAMILIES = new Set(['sk_skb', 'sk_msg']);

/**
 * A hook target for a program of one of these families, from its section and `text`:
 *   fentry/fexit/fmod_ret/tp_btf/lsm: nothing (the section named the target);
 *   perf_event: `[EVENT] [period N|freq N] [pid N|cpu N]`; cgroup*, sockops: `CGROUP_PATH[:ATTACH_TYPE]`;
 *   sk_skb, sk_msg: `MAP[:HOOK]`. Undefined for other families.
 */
export function hookTargetFromSection(p: ObjectProgram, family: string, text: string | undefined): HookTarget | undefined {
  const tracing = tracingKindOfFamily(family);
  if (tracing) return { kind: 'tracing', tracing };
  if (family === 'perf_event') return perfEventTarget(text === undefined ? [] : text.split(/[\s,]+/).filter(Boolean), 'perf_event');
  const isCgroup = CGROUP_FAMILIES.has(family);
  if (!isCgroup && !SOCKMAP_FAMILIES.has(family)) return undefined;
  const what = isCgroup ? 'a cgroup directory (CGROUP[:ATTACH_TYPE])' : 'a sockmap or sockhash (MAP[:HOOK], MAP a map of the object, a pinned path or an id)';
  if (!text) throw new AttachError('no-target', `program ${p.name} (section ${p.section}) needs ${what}`);
  const m = /^(.*):([a-z0-9_]+)$/i.exec(text);
  const [where, named] = m ? [m[1]!, m[2]!] : [text, undefined];
  // The section's attach type is in the kernel's lower-case spelling (`cgroup_inet_ingress`).
  const attach = named ?? p.sectionDef?.attach;
  if (!attach) throw new AttachError('no-target', `section ${p.section} does not say where on the ${isCgroup ? 'cgroup' : 'map'} it attaches: add it, as in ${where}:${isCgroup ? 'inet_ingress' : 'stream_verdict'}`);
  // Checked now so a typo is reported before anything is attached.
  if (isCgroup) cgroupAttachType(attach);
  else sockmapAttachType(attach);
  return isCgroup ? { kind: 'cgroup', path: where, attachType: attach } : { kind: 'sockmap', map: where, hook: attach };
}

const number = (text: string | undefined, usage: string): number => {
  const value = text !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new AttachError('bad-target', `expected: ${usage} (got '${text ?? ''}')`);
  return value;
};

function perfEventTarget(args: readonly string[], head: string): HookTarget {
  const usage = `${head} [EVENT] [period N|freq N] [pid N|cpu N]`;
  const target: HookTarget & { kind: 'perf_event' } = { kind: 'perf_event' };
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (Object.hasOwn(SoftwareEvent, word) || Object.hasOwn(HardwareEvent, word)) {
      if (target.event) throw new AttachError('bad-target', `expected: ${usage} (two events)`);
      target.event = word as PerfEventName;
    } else if (word === 'period') target.samplePeriod = number(args[++i], usage);
    else if (word === 'freq' || word === 'frequency') target.sampleFrequency = number(args[++i], usage);
    else if (word === 'pid') target.pid = number(args[++i], usage);
    else if (word === 'cpu') target.cpu = number(args[++i], usage);
    else throw new AttachError('bad-target', `expected: ${usage} (got '${word}'; events: ${[...Object.keys(SoftwareEvent), ...Object.keys(HardwareEvent)].join(', ')})`);
  }
  return target;
}

/**
 * A hook target from command-line words, or undefined when the first word is not one of these:
 * `fentry|fexit|fmod_ret|tp_btf|lsm`, `perf_event [EVENT] [period N|freq N] [pid N|cpu N]`,
 * `cgroup PATH ATTACH_TYPE`, `sockmap MAP HOOK`.
 */
export function hookTargetFromWords(words: readonly string[]): HookTarget | undefined {
  const [kind, ...args] = words;
  if (kind === undefined) return undefined;
  const tracing = tracingKindOfFamily(kind);
  if (tracing) {
    if (args.length) throw new AttachError('bad-target', `a ${tracing} program's target is fixed when it is loaded (section ${tracing}/NAME): say just '${tracing}'`);
    return { kind: 'tracing', tracing };
  }
  if (kind === 'perf_event') return perfEventTarget(args, kind);
  if (kind === 'cgroup' || kind === 'sockmap') {
    const [where, attach, ...extra] = args;
    const usage = kind === 'cgroup' ? 'cgroup PATH ATTACH_TYPE (e.g. inet_egress, inet4_connect)' : 'sockmap MAP HOOK (stream_parser, stream_verdict, skb_verdict, msg_verdict)';
    if (!where || !attach || extra.length) throw new AttachError('bad-target', `expected: ${usage} (got '${words.join(' ')}')`);
    if (kind === 'cgroup') {
      cgroupAttachType(attach);
      return { kind, path: where, attachType: attach };
    }
    sockmapAttachType(attach);
    return { kind, map: where, hook: attach };
  }
  return undefined;
}

/** Opens a sockmap named by pin path or id (the caller closes it). */
function openMap(spec: string): BpfMap {
  const map = /^\d+$/.test(spec) ? BpfMap.fromId(Number(spec)) : BpfMap.fromPin(spec);
  if (!map) throw new AttachError('no-map', `no map with id ${spec}`);
  return map;
}

/** Attaches `program` to a hook target; `objectMaps` resolves sockmap names of the program's own object. */
export function attachHook(program: BpfProgram, target: HookTarget, objectMaps?: ReadonlyMap<string, BpfMap>): HookAttachment {
  switch (target.kind) {
    case 'tracing': return attachTracing(program, target.tracing);
    case 'perf_event': {
      const { kind: _kind, ...options } = target;
      return attachPerfEventProgram(program, options);
    }
    case 'cgroup': return attachCgroup(program, target.path, target.attachType);
    case 'sockmap': {
      const own = objectMaps?.get(target.map);
      if (own) return attachSockmap(program, own, target.hook);
      return attachSockmap(program, openMap(target.map), target.hook, { ownMap: true });
    }
  }
}

