import { AttachError } from './attach-error.js';
import { LinkCreateAttr } from './attr.js';
import { AttachType, MapType, nameOf } from './constants.js';
import { BpfSyscallError } from './errors.js';
import { BpfLink, progAttach, progDetach } from './link.js';
import type { BpfMap } from './map.js';
import type { BpfProgram } from './program.js';
import { bpf } from './syscall.js';

/**
 * sk_skb (stream parser, stream verdict, skb verdict) and sk_msg programs on a sockmap or sockhash:
 * they run for the sockets in the map. Attached as a link where the kernel has sockmap links (6.10+),
 * otherwise with BPF_PROG_ATTACH to the map, undone by close().
 */

/** Where on the map a program goes, by the names libbpf sections use. */
export const SockmapHook = {
  stream_parser: 'SK_SKB_STREAM_PARSER',
  stream_verdict: 'SK_SKB_STREAM_VERDICT',
  skb_verdict: 'SK_SKB_VERDICT',
  msg_verdict: 'SK_MSG_VERDICT',
} as const;
export type SockmapHookName = keyof typeof SockmapHook;

/** `stream_verdict`, `sk_skb_stream_verdict`, `sk_msg`, `msg_verdict`, `verdict` ... -> attach type. */
export function sockmapAttachType(name: string): number {
  const key = name.toLowerCase().replace(/^bpf_/, '').replace(/^sk_skb[_/]/, '').replace(/^sk_msg(_verdict)?$/, 'msg_verdict');
  const hook = key === 'verdict' ? 'skb_verdict' : key;
  if (!Object.hasOwn(SockmapHook, hook)) {
    throw new AttachError('bad-attach-type', `unknown sockmap hook ${name} (${Object.keys(SockmapHook).join(', ')})`);
  }
  return AttachType[SockmapHook[hook as SockmapHookName]];
}

/**
 * A BPF_PROG_ATTACH of a program to a map; close() detaches it (unless the map is gone already, which
 * detached it), then closes the map if this attachment owns it.
 */
export class SockmapAttachment implements Disposable {
  #attached = true;

  constructor(readonly program: BpfProgram, readonly map: BpfMap, readonly attachType: number, private readonly ownsMap = false) {}

  get attached(): boolean {
    return this.#attached;
  }

  get description(): string {
    return `${nameOf(AttachType, this.attachType).toLowerCase()} on map ${this.map.spec.name || '(unnamed)'}`;
  }

  close(): void {
    if (!this.#attached) return;
    this.#attached = false;
    try {
      if (!this.map.closed && !this.program.closed) progDetach(this.program, this.map.fd, this.attachType);
    } finally {
      if (this.ownsMap) this.map.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Attaches an sk_skb/sk_msg program to a sockmap or sockhash for `hook`. Attach before adding
 * sockets: the kernel wires a socket to the programs present when it enters the map. With `ownMap`,
 * the map is closed when no longer needed (at once for a link, which holds the map itself).
 */
export function attachSockmap(program: BpfProgram, map: BpfMap, hook: SockmapHookName | string, options: { ownMap?: boolean } = {}): BpfLink | SockmapAttachment {
  try {
    const attachment = attachToMap(program, map, hook, options.ownMap ?? false);
    if (options.ownMap && attachment instanceof BpfLink) map.close();
    return attachment;
  } catch (err) {
    if (options.ownMap) map.close();
    throw err;
  }
}

function attachToMap(program: BpfProgram, map: BpfMap, hook: string, ownsMap: boolean): BpfLink | SockmapAttachment {
  const type = sockmapAttachType(hook);
  const mapType = map.spec.type;
  if (mapType !== MapType.SOCKMAP && mapType !== MapType.SOCKHASH) {
    throw new AttachError('not-sockmap', `map ${map.spec.name || '(unnamed)'} is a ${nameOf(MapType, mapType)}, not a SOCKMAP or SOCKHASH`);
  }
  try {
    const { ret } = bpf('LINK_CREATE', LinkCreateAttr, { prog_fd: program.fd, target_fd: map.fd, attach_type: type, flags: 0 });
    return new BpfLink(ret, `${nameOf(AttachType, type).toLowerCase()} link on map ${map.spec.name || '(unnamed)'}`);
  } catch (err) {
    // Before sockmap links (6.10) LINK_CREATE does not know these attach types.
    if (!(err instanceof BpfSyscallError) || err.errnoName !== 'EINVAL') throw err;
  }
  progAttach(program, map.fd, type);
  return new SockmapAttachment(program, map, type, ownsMap);
}
