import { readFileSync } from 'node:fs';
import { CaptureError } from './errors.js';
import { isPcapng, openPcapng, type PcapngReadOptions } from './pcapng.js';
import { openPcap, pcapByteOrder } from './pcap.js';
import { BufferSource, FileSource, type ByteSource } from './source.js';
import type { CaptureInfo, CapturedPacket } from './types.js';

export type CaptureReadOptions = PcapngReadOptions;

/**
 * A capture being read packet by packet. Iterating yields every readable packet, then throws the
 * CaptureError that stopped it (if any): the packets before a damaged record are never lost.
 * Packet `data` from a file may point into a reused window: copy what you keep past the next step.
 */
export class CaptureReader implements Iterable<CapturedPacket> {
  readonly info: CaptureInfo;
  private readonly generate: () => Generator<CapturedPacket, void, undefined>;
  private started = false;

  constructor(private readonly source: ByteSource, readonly file?: string, options: CaptureReadOptions = {}) {
    const head = source.read(0, 4);
    try {
      if (isPcapng(head)) ({ info: this.info, packets: this.generate } = openPcapng(source, file, options));
      else if (pcapByteOrder(head)) ({ info: this.info, packets: this.generate } = openPcap(source, file));
      else throw new CaptureError('net/bad-magic', head.length < 4 ? 'file too short to be a capture' : 'unknown file format (neither pcap nor pcapng)', { file, offset: 0 });
    } catch (err) {
      source.close();
      throw err;
    }
  }

  *[Symbol.iterator](): Generator<CapturedPacket, void, undefined> {
    if (this.started) throw new Error('CaptureReader can be iterated once');
    this.started = true;
    try {
      yield* this.generate();
    } finally {
      this.source.close();
    }
  }

  close(): void {
    this.source.close();
  }
}

/** Opens a capture file for streaming (a 1 MiB window, whatever the file size). */
export function openCapture(path: string, options: CaptureReadOptions = {}): CaptureReader {
  return new CaptureReader(new FileSource(path), path, options);
}

/** Reads a capture held in memory. */
export function captureFromBytes(bytes: Uint8Array, file?: string, options: CaptureReadOptions = {}): CaptureReader {
  return new CaptureReader(new BufferSource(bytes), file, options);
}

export interface CaptureContents {
  info: CaptureInfo;
  packets: CapturedPacket[];
  /** Why reading stopped early; `packets` holds everything before the damage. */
  error?: CaptureError;
}

/**
 * Reads a whole capture (a path or the bytes). An unreadable file header throws; damage later in
 * the file is returned as `error` beside the packets read before it.
 */
export function readCapture(input: string | Uint8Array, file?: string, options: CaptureReadOptions = {}): CaptureContents {
  const name = typeof input === 'string' ? input : file;
  const bytes = typeof input === 'string' ? readFileSync(input) : input;
  const reader = captureFromBytes(bytes, name, options);
  const packets: CapturedPacket[] = [];
  try {
    for (const packet of reader) packets.push(packet);
  } catch (err) {
    if (err instanceof CaptureError) return { info: reader.info, packets, error: err };
    throw err;
  }
  return { info: reader.info, packets };
}
