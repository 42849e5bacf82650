import { AttachType, LinkType, nameOf } from './constants.js';
import { defineLayout, readBigInt, readNumber, type Encoded } from './layout.js';
import type { BpfLink } from './link.js';
import { objectInfo } from './objects.js';

/**
 * A link's per-type details (the union of `struct bpf_link_info`, Linux 6.18), as `bpftool link show`
 * prints them. The common head is read first; names (tracepoints, uprobe paths, iterator targets) need
 * a second call with a buffer at the offset that link type uses.
 */

const u32 = (offset: number) => ({ offset, kind: 'u32' }) as const;
const u64 = (offset: number) => ({ offset, kind: 'u64' }) as const;
const ptr = (offset: number) => ({ offset, kind: 'ptr' }) as const;

/** The union starts at byte 16; the fields overlap by link type. */
const LinkDetailLayout = defineLayout('bpf_link_info (details)', {
  type: u32(0), id: u32(4), prog_id: u32(8),
  word16: u32(16), word20: u32(20), word24: u32(24), word28: u32(28), word32: u32(32), word36: u32(36),
  word48: u32(48), word52: u32(52), word60: u32(60), sword24: { offset: 24, kind: 's32' },
  dword16: u64(16), dword24: u64(24), dword32: u64(32), dword40: u64(40), dword48: u64(48),
  /** raw_tracepoint.tp_name, iter.target_name, uprobe_multi.path. */
  name16: ptr(16),
  /** perf_event.{uprobe.file_name, kprobe.func_name, tracepoint.tp_name}. */
  name24: ptr(24),
  tail: { offset: 56, kind: 'u8', size: 40 },
});
type Info = Encoded<typeof LinkDetailLayout>;

/** enum bpf_perf_event_type. */
const PERF_EVENT_KINDS = ['unspec', 'uprobe', 'uretprobe', 'kprobe', 'kretprobe', 'tracepoint', 'event'] as const;

export type LinkDetailValue = number | string;

export interface LinkDetails {
  id: number;
  /** Lower-case link type: xdp, tcx, perf_event, raw_tracepoint ... */
  type: string;
  progId: number;
  /** Per type, the fields the kernel reports (ifindex, attach_type, tp_name, file, offset ...). */
  details: Record<string, LinkDetailValue>;
}

const NAME_BYTES = 4096;

function decodeName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

const attachTypeName = (value: number): string => nameOf(AttachType, value).toLowerCase();

/** Asks again with a name buffer at `field` (its length word follows the pointer). */
function withName(link: BpfLink, field: 'name16' | 'name24', lengthField: 'word24' | 'word32'): { info: Info; name: string } {
  const buffer = new Uint8Array(NAME_BYTES);
  const info = objectInfo(link.fd, LinkDetailLayout, { [field]: buffer, [lengthField]: NAME_BYTES });
  return { info, name: decodeName(buffer) };
}

/**
 * The event kind (at 16) does not overlap the name pointer (at 24), so one call with a name buffer
 * reads both; for plain perf events the kernel overwrites the pointer with the config.
 */
function perfEventDetails(link: BpfLink): Record<string, LinkDetailValue> {
  const { info, name } = withName(link, 'name24', 'word32');
  const kind = PERF_EVENT_KINDS[readNumber(info, 'word16')] ?? `unknown(${readNumber(info, 'word16')})`;
  if (kind === 'event') return { event: kind, config: readBigInt(info, 'dword24').toString(), event_type: readNumber(info, 'word32') };
  if (kind === 'unspec') return { event: kind };
  if (kind === 'tracepoint') return { event: kind, tp_name: name };
  if (kind === 'uprobe' || kind === 'uretprobe') return { event: kind, file: name, offset: readNumber(info, 'word36') };
  return { event: kind, func: name, offset: readNumber(info, 'word36'), addr: `0x${readBigInt(info, 'dword40').toString(16)}` };
}

function detailsOf(link: BpfLink, type: number, head: Info): Record<string, LinkDetailValue> {
  switch (type) {
    case LinkType.XDP: return { ifindex: readNumber(head, 'word16') };
    case LinkType.TCX: case LinkType.NETKIT:
      return { ifindex: readNumber(head, 'word16'), attach_type: attachTypeName(readNumber(head, 'word20')) };
    case LinkType.RAW_TRACEPOINT: return { tp_name: withName(link, 'name16', 'word24').name };
    case LinkType.TRACING:
      return { attach_type: attachTypeName(readNumber(head, 'word16')), target_obj_id: readNumber(head, 'word20'), target_btf_id: readNumber(head, 'word24') };
    case LinkType.CGROUP: return { cgroup_id: readBigInt(head, 'dword16').toString(), attach_type: attachTypeName(readNumber(head, 'word24')) };
    case LinkType.ITER: return { target_name: withName(link, 'name16', 'word24').name };
    case LinkType.NETNS: return { netns_ino: readNumber(head, 'word16'), attach_type: attachTypeName(readNumber(head, 'word20')) };
    case LinkType.STRUCT_OPS: return { map_id: readNumber(head, 'word16') };
    case LinkType.SOCKMAP: return { map_id: readNumber(head, 'word16'), attach_type: attachTypeName(readNumber(head, 'word20')) };
    case LinkType.NETFILTER: return { pf: readNumber(head, 'word16'), hooknum: readNumber(head, 'word20'), priority: readNumber(head, 'sword24'), flags: readNumber(head, 'word28') };
    case LinkType.PERF_EVENT: return perfEventDetails(link);
    case LinkType.KPROBE_MULTI: return { count: readNumber(head, 'word24'), flags: readNumber(head, 'word28') };
    case LinkType.UPROBE_MULTI: {
      const buffer = new Uint8Array(NAME_BYTES);
      const info = objectInfo(link.fd, LinkDetailLayout, { name16: buffer, word48: NAME_BYTES });
      return { path: decodeName(buffer), count: readNumber(info, 'word52'), pid: readNumber(info, 'word60') };
    }
    default: return {};
  }
}

/** The link's type, program and per-type details. */
export function linkDetails(link: BpfLink): LinkDetails {
  const head = objectInfo(link.fd, LinkDetailLayout, {});
  const type = readNumber(head, 'type');
  return { id: readNumber(head, 'id'), type: nameOf(LinkType, type).toLowerCase(), progId: readNumber(head, 'prog_id'), details: detailsOf(link, type, head) };
}
