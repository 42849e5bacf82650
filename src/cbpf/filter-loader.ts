import { compileFilter, type CompileOptions } from './filter/index.js';
import { formatC, formatDecimal, formatImage as formatListing } from './image.js';
import type { CbpfInstruction } from './opcodes.js';
import { dltFromLinkType, type CaptureInfo } from '../net/index.js';

/**
 * One place where the commands and scripts reach the pcap-filter compiler (src/cbpf/filter) and
 * tcpdump's listings (src/cbpf/image.ts), with a seam for tests and tools to supply another
 * compiler (e.g. one backed by `tcpdump -ddd`).
 */
export type FilterCompileOptions = CompileOptions;
export type CompileFilter = (expr: string, options?: FilterCompileOptions) => CbpfInstruction[];
export type ImageLevel = 1 | 2 | 3;

let override: CompileFilter | undefined;

/** Undefined restores our own compiler. */
export function overrideFilterCompiler(compile: CompileFilter | undefined): void {
  override = compile;
}

export function filterCompiler(): CompileFilter {
  return override ?? compileFilter;
}

/** tcpdump's `-d` (level 1), `-dd` (2) or `-ddd` (3) text, newline-terminated. */
export function formatImage(prog: CbpfInstruction[], level: ImageLevel): string {
  const text = level === 1 ? formatListing(prog) : level === 2 ? formatC(prog) : formatDecimal(prog);
  return text === '' || text.endsWith('\n') ? text : text + '\n';
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * What `tcpdump -r FILE` compiles for: the file's link type and snaplen, and savefile semantics
 * (libpcap tries every BSD AF_INET6 value for DLT_NULL/LOOP/ENC/PFLOG, byte-swapped when the file's
 * byte order is not this host's).
 */
export function captureCompileOptions(info: Pick<CaptureInfo, 'linkType' | 'snaplen' | 'littleEndian'>): FilterCompileOptions {
  return {
    linkType: dltFromLinkType(info.linkType),
    snaplen: info.snaplen,
    offline: info.littleEndian === HOST_LITTLE_ENDIAN ? 'unswapped' : 'swapped',
  };
}
