import { TsbpfError } from '../errors.js';
import type { CapturedPacket } from '../net/types.js';
import { LinkType } from '../net/linktype.js';
import type { LoadedProgram, TestRunResult } from './runtime.js';
import { TestRunError } from './test-run.js';

/**
 * Packet hooks over captures: each packet of a pcap/pcapng goes through an XDP or tc program as an
 * Ethernet frame (raw-IP and Linux cooked captures get an Ethernet header made up from their
 * protocol field), verdicts are counted, and the frames the program lets through come out with the
 * program's changes applied.
 */

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/** Turn one captured frame into an Ethernet frame, or undefined when the link type has no mapping. */
export function toEthernet(data: Uint8Array, linkType: number): Uint8Array | undefined {
  const withType = (type: number, payload: Uint8Array): Uint8Array => {
    const frame = new Uint8Array(14 + payload.length);
    frame[12] = type >> 8;
    frame[13] = type & 0xff;
    frame.set(payload, 14);
    return frame;
  };
  switch (linkType) {
    case LinkType.EN10MB:
      return data;
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6: {
      const version = (data[0] ?? 0) >> 4;
      if (version !== 4 && version !== 6) return undefined;
      return withType(version === 4 ? ETH_P_IP : ETH_P_IPV6, data);
    }
    case LinkType.LINUX_SLL:
      return data.length < 16 ? undefined : withType((data[14]! << 8) | data[15]!, data.subarray(16));
    case 276: // LINUX_SLL2
      return data.length < 20 ? undefined : withType((data[0]! << 8) | data[1]!, data.subarray(20));
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (data.length < 4) return undefined;
      // BSD loopback: the address family in host (NULL) or network (LOOP) order.
      const family = linkType === LinkType.LOOP ? (data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]! : data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24);
      const type = family === 2 ? ETH_P_IP : family === 24 || family === 28 || family === 30 ? ETH_P_IPV6 : 0;
      return type ? withType(type, data.subarray(4)) : undefined;
    }
    default:
      return undefined;
  }
}

/** Verdicts that let a packet continue (written to the output capture). */
const FORWARDED: Readonly<Record<string, ReadonlySet<string>>> = {
  xdp: new Set(['XDP_PASS', 'XDP_TX', 'XDP_REDIRECT']),
  sched_cls: new Set(['TC_ACT_OK', 'TC_ACT_UNSPEC', 'TC_ACT_PIPE', 'TC_ACT_RECLASSIFY', 'TC_ACT_REDIRECT']),
  sched_act: new Set(['TC_ACT_OK', 'TC_ACT_UNSPEC', 'TC_ACT_PIPE', 'TC_ACT_RECLASSIFY', 'TC_ACT_REDIRECT']),
};

export interface CaptureRunStats {
  packets: number;
  /** Count per verdict name (XDP_PASS ...). */
  verdicts: Record<string, number>;
  /** Packets the program never saw, by reason. */
  skipped: Record<string, number>;
  forwarded: number;
  /** Sum of the runs' durations, ns. */
  totalNs: number;
}

export interface CaptureRunOptions {
  /** Called for every frame the verdict lets through, with the program's output bytes. */
  onForward?: (packet: CapturedPacket, data: Uint8Array, result: TestRunResult) => void;
  /** Called after every packet (progress). */
  onPacket?: (index: number) => void;
  cpu?: number;
}

export function runOverCapture(program: LoadedProgram, packets: Iterable<CapturedPacket>, options: CaptureRunOptions = {}): CaptureRunStats {
  const forwarded = FORWARDED[program.type.name];
  if (!forwarded) {
    throw new TsbpfError('runtime/not-packet-program', `program ${program.name} is ${program.type.name}; only XDP and tc programs run over captures`);
  }
  const stats: CaptureRunStats = { packets: 0, verdicts: {}, skipped: {}, forwarded: 0, totalNs: 0 };
  const skip = (why: string) => { stats.skipped[why] = (stats.skipped[why] ?? 0) + 1; };
  for (const packet of packets) {
    stats.packets++;
    options.onPacket?.(packet.index);
    const frame = toEthernet(packet.data, packet.linkType);
    if (!frame) {
      skip(`link type ${packet.linkType} has no Ethernet form`);
      continue;
    }
    let result: TestRunResult;
    try {
      result = program.testRun({ data: frame, anySize: true, ...(options.cpu !== undefined ? { cpu: options.cpu } : {}) });
    } catch (e) {
      if (e instanceof TestRunError) {
        skip(frame.length < 14 ? 'shorter than an Ethernet header' : 'larger than a test-run frame');
        continue;
      }
      throw e;
    }
    stats.totalNs += result.durationNs;
    stats.verdicts[result.verdict] = (stats.verdicts[result.verdict] ?? 0) + 1;
    if (forwarded.has(result.verdict)) {
      stats.forwarded++;
      options.onForward?.(packet, result.dataOut ?? frame, result);
    }
  }
  return stats;
}
