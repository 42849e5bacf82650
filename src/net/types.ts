import type { CaptureError } from './errors.js';

/** One packet record of a capture. `data` may be a view into a reader's window: copy it to keep it. */
export interface CapturedPacket {
  /** 0-based position among the file's packets. */
  index: number;
  /** The captured bytes (caplen of them). */
  data: Uint8Array;
  /** Length on the wire (may exceed data.length when the capture was truncated by a snaplen). */
  wireLength: number;
  /** Whole seconds since the epoch (pcapng: after if_tsoffset). */
  seconds: number;
  /** Sub-second part in nanoseconds, as recorded (a damaged file may hold values >= 1e9). */
  nanos: number;
  /** pcapng interface index within its section; 0 for pcap. */
  interfaceId: number;
  /** LINKTYPE_ value of the packet's interface. */
  linkType: number;
}

export interface CaptureInterface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second (pcap: 1e6 or 1e9; pcapng: from if_tsresol, default 1e6). */
  unitsPerSecond: number;
  /** pcapng if_tsoffset, in seconds. */
  tsOffset: number;
  name?: string;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureInfo {
  format: CaptureFormat;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  /** LINKTYPE_ of the first interface (the whole file for pcap). */
  linkType: number;
  /** Snapshot length of the first interface, as libpcap adjusts it (0 or too big: the link type's maximum). */
  snaplen: number;
  /**
   * pcap: one entry. pcapng: the interfaces of the current section, growing while a reader streams
   * (the first is known once the reader is open).
   */
  interfaces: CaptureInterface[];
}

/**
 * The fast path's per-packet call: the packet is `buffer[offset, offset + caplen)` (a reused window:
 * copy what you keep), nothing is allocated per packet. `caplen` is what readers deliver (cut to
 * the snaplen); `interfaceId` is 0 for pcap.
 */
export type RecordVisitor = (
  buffer: Uint8Array, offset: number, caplen: number, wireLength: number, seconds: number, nanos: number, index: number, interfaceId: number,
) => void;

/** How a scan ended: `count` packets visited, then the damage that stopped it (if any). */
export interface ScanOutcome {
  count: number;
  error?: CaptureError;
}
