import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Random-access bytes for the capture readers. `read` returns a view of up to `length` bytes at
 * `position` (shorter only at the end of the data). A view stays valid only until the next call, so
 * a file can be read through one reusable window without loading it whole.
 */
export interface ByteSource {
  read(position: number, length: number): Uint8Array;
  /**
   * Allocation-free form of `read` for hot loops: makes `length` bytes at `position` available in
   * `current` and returns their offset there, or -1 when the data ends first.
   */
  locate(position: number, length: number): number;
  /** The buffer `locate` offsets point into (valid until the next call). */
  readonly current: Uint8Array;
  /** The data positions `current` holds: [currentStart, currentEnd), `current[0]` at currentStart. */
  readonly currentStart: number;
  readonly currentEnd: number;
  close(): void;
}

export class BufferSource implements ByteSource {
  readonly current: Uint8Array;
  readonly currentStart = 0;
  readonly currentEnd: number;
  constructor(bytes: Uint8Array) {
    this.current = bytes;
    this.currentEnd = bytes.length;
  }
  read(position: number, length: number): Uint8Array {
    return this.current.subarray(position, position + length);
  }
  locate(position: number, length: number): number {
    return position + length <= this.current.length ? position : -1;
  }
  close(): void {}
}

const DEFAULT_WINDOW = 1 << 20;

/** A file read through a sliding window (1 MiB, grown when one read needs more). */
export class FileSource implements ByteSource {
  private fd: number | undefined;
  private window: Buffer;
  private windowStart = 0;
  private windowEnd = 0;

  constructor(path: string, windowSize = DEFAULT_WINDOW) {
    this.fd = openSync(path, 'r');
    this.window = Buffer.allocUnsafe(windowSize);
  }

  get current(): Uint8Array {
    return this.window;
  }

  get currentStart(): number {
    return this.windowStart;
  }

  get currentEnd(): number {
    return this.windowEnd;
  }

  locate(position: number, length: number): number {
    if (position < this.windowStart || position + length > this.windowEnd) this.fill(position, length);
    return position + length <= this.windowEnd ? position - this.windowStart : -1;
  }

  read(position: number, length: number): Uint8Array {
    if (position < this.windowStart || position + length > this.windowEnd) this.fill(position, length);
    const from = position - this.windowStart;
    return this.window.subarray(from, Math.min(from + length, this.windowEnd - this.windowStart));
  }

  /** Refills the window from `position` (growing it when one read needs more). */
  private fill(position: number, length: number): void {
    if (this.fd === undefined) throw new Error('FileSource: read after close');
    if (length > this.window.length) this.window = Buffer.allocUnsafe(Math.max(length, this.window.length * 2));
    let filled = 0;
    while (filled < this.window.length) {
      const n = readSync(this.fd, this.window, filled, this.window.length - filled, position + filled);
      if (n === 0) break;
      filled += n;
    }
    this.windowStart = position;
    this.windowEnd = position + filled;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
