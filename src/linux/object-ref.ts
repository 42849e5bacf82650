import { TsbpfError } from '../errors.js';
import { BpfLink } from './link.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';

/**
 * How command lines name a kernel object, as bpftool does: an id (`12`, `id 12`) or a bpffs pin
 * (`/sys/fs/bpf/x`, `pinned /sys/fs/bpf/x`).
 */
export type ObjectRef = { id: number } | { pin: string };

/** No object has this id (any more): ids race with unloading, so this is an answer, not a bug. */
export class NoSuchObjectError extends TsbpfError {
  override name = 'NoSuchObjectError';
  constructor(kind: string, id: number) {
    super('linux/no-object', `no ${kind} with id ${id}`);
  }
}

/** Takes one reference from the front of `words`; the words after it are returned as `rest`. */
export function takeObjectRef(words: readonly string[], kind: string): { ref: ObjectRef; rest: string[] } {
  const [first, second, ...after] = words;
  if (first === undefined) throw new TsbpfError('cli/missing-ref', `expected a ${kind} id or pinned path`);
  if (first === 'id' || first === 'pinned') {
    if (second === undefined) throw new TsbpfError('cli/missing-ref', `'${first}' needs a value`);
    return { ref: parseRef(second, kind, first), rest: after };
  }
  return { ref: parseRef(first, kind), rest: second === undefined ? [] : [second, ...after] };
}

function parseRef(text: string, kind: string, keyword?: 'id' | 'pinned'): ObjectRef {
  if (keyword === 'pinned' || (keyword === undefined && !/^\d+$/.test(text))) {
    if (!text.startsWith('/')) throw new TsbpfError('cli/bad-ref', `'${text}' is neither a ${kind} id nor an absolute pinned path`);
    return { pin: text };
  }
  const id = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(id) || id <= 0 || id > 0xffffffff) throw new TsbpfError('cli/bad-ref', `bad ${kind} id '${text}'`);
  return { id };
}

export function describeRef(ref: ObjectRef): string {
  return 'id' in ref ? `id ${ref.id}` : ref.pin;
}

export function openMapRef(ref: ObjectRef): BpfMap {
  if ('pin' in ref) return BpfMap.fromPin(ref.pin);
  const map = BpfMap.fromId(ref.id);
  if (!map) throw new NoSuchObjectError('map', ref.id);
  return map;
}

export function openProgramRef(ref: ObjectRef): BpfProgram {
  if ('pin' in ref) return BpfProgram.fromPin(ref.pin);
  const program = BpfProgram.fromId(ref.id);
  if (!program) throw new NoSuchObjectError('program', ref.id);
  return program;
}

export function openLinkRef(ref: ObjectRef): BpfLink {
  if ('pin' in ref) return BpfLink.fromPin(ref.pin);
  const link = BpfLink.fromId(ref.id);
  if (!link) throw new NoSuchObjectError('link', ref.id);
  return link;
}
