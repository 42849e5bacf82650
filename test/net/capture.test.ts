import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import {
  CaptureError, CaptureReader, captureFromBytes, readCapture, splitTimestamp, joinTimestamp, writeCapture, PcapngEncoder,
  dltFromLinkType, parseLinkType, linkTypeName, LinkType, type CapturedPacket,
} from '../../src/net/index.js';
import { FileSource } from '../../src/net/source.js';

const pcapsDir = corpus('pcap-filter', 'tcpdump-pcaps');
const countsFile = corpus('pcap-filter', 'tcpdump_pcaps_linktypes.tsv');

test('reads all 830 tcpdump test captures with libpcap\'s packet counts, DLTs and link-type names', (t) => {
  if (!pcapsDir || !countsFile) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const rows = readFileSync(countsFile, 'utf8').trim().split('\n').map((line) => line.split('\t'));
  const mismatches: string[] = [];
  for (const [file, name, dlt, count] of rows) {
    const { info, packets } = readCapture(join(pcapsDir, file!));
    if (name !== '?' && linkTypeName(info.linkType) !== name) mismatches.push(`${file}: link type ${linkTypeName(info.linkType)}, libpcap ${name}`);
    if (packets.length !== Number(count)) mismatches.push(`${file}: ${packets.length} packets, libpcap ${count}`);
    if (dltFromLinkType(info.linkType) !== Number(dlt)) mismatches.push(`${file}: DLT ${dltFromLinkType(info.linkType)}, libpcap ${dlt}`);
  }
  assert.equal(rows.length, 830);
  assert.deepEqual(mismatches, []);
});

const strip = (p: CapturedPacket): object => ({ ...p, data: Array.from(p.data) });

test('streaming through a small window gives the same packets as reading the whole buffer', (t) => {
  if (!pcapsDir) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const files = readdirSync(pcapsDir).filter((f, i) => f.endsWith('.pcapng') || i % 25 === 0);
  for (const file of files) {
    const path = join(pcapsDir, file);
    const whole = readCapture(path);
    const streamed: object[] = [];
    for (const p of new CaptureReader(new FileSource(path, 64), path)) streamed.push(strip(p));
    assert.deepEqual(streamed, whole.packets.map(strip), file);
  }
});

const samplePackets = [
  { data: Uint8Array.from([1, 2, 3, 4, 5]), wireLength: 60, seconds: 1700000000, nanos: 123456000 },
  { data: Uint8Array.from([9, 8, 7]), wireLength: 3, seconds: 4294967295, nanos: 999999000 },
];

for (const format of ['pcap', 'pcapng'] as const) {
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [false, true]) {
      test(`${format} round trip (${littleEndian ? 'little' : 'big'}-endian, ${nanosecond ? 'nano' : 'micro'}seconds)`, () => {
        const bytes = writeCapture({ format, linkType: LinkType.EN10MB, snaplen: 1500, littleEndian, nanosecond }, samplePackets);
        const { info, packets, error } = readCapture(bytes);
        assert.equal(error, undefined);
        assert.equal(info.format, format);
        assert.equal(info.littleEndian, littleEndian);
        assert.equal(info.snaplen, 1500);
        assert.equal(info.interfaces[0]!.unitsPerSecond, nanosecond ? 1e9 : 1e6);
        assert.deepEqual(packets.map((p) => [Array.from(p.data), p.wireLength, p.seconds, p.nanos, p.linkType]),
          samplePackets.map((p) => [Array.from(p.data), p.wireLength, p.seconds, p.nanos, 1]));
      });
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A raw pcapng block in the given byte order. */
function rawBlock(type: number, body: number[], le: boolean): Uint8Array {
  const padded = [...body, ...new Array<number>((4 - (body.length % 4)) % 4).fill(0)];
  const total = 12 + padded.length;
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, le); v.setUint32(4, total, le); b.set(padded, 8); v.setUint32(total - 4, total, le);
  return b;
}

function u32(value: number, le: boolean): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, le);
  return Array.from(b);
}

test('pcapng: sections, if_tsresol, EPB/SPB/obsolete PB, unknown blocks skipped', () => {
  const le = new PcapngEncoder(true);
  const first = [le.sectionHeader(), le.interface({ linkType: 1, snaplen: 4, tsresolDecimal: 9, name: 'eth0' })];
  const epb = le.packet({ data: Uint8Array.from([1, 2, 3]), wireLength: 3, seconds: 10, nanos: 5 });
  const spb = rawBlock(3, [...u32(6, true), 1, 2, 3, 4, 5, 6], true); // caplen limited by snaplen 4
  const unknown = rawBlock(0x0bad, [1, 2, 3, 4], true);
  const obsolete = rawBlock(2, [0, 0, 0, 0, ...u32(7, true), ...u32(0, true), ...u32(2, true), ...u32(2, true), 0xaa, 0xbb], true);
  const le2 = new PcapngEncoder(true);
  const second = [le2.sectionHeader(), le2.interface({ linkType: 1, snaplen: 4 }), le2.packet({ data: Uint8Array.from([4]), wireLength: 1, seconds: 20, nanos: 1000 })];
  const bytes = concat([...first, epb, unknown, spb, obsolete, ...second]);
  const { info, packets, error } = readCapture(bytes);
  assert.equal(error, undefined);
  assert.equal(info.interfaces.length, 1);
  assert.equal(packets.length, 4);
  assert.deepEqual(packets.map((p) => Array.from(p.data)), [[1, 2, 3], [1, 2, 3, 4], [0xaa, 0xbb], [4]]);
  assert.deepEqual([packets[0]!.seconds, packets[0]!.nanos], [10, 5]);
  assert.deepEqual([packets[2]!.seconds, packets[2]!.nanos], [30, 64771072]); // 7 * 2^32 ns
  assert.deepEqual([packets[3]!.seconds, packets[3]!.nanos], [20, 1000]);
  assert.deepEqual(packets.map((p) => p.index), [0, 1, 2, 3]);
});

test('pcapng: a big-endian file reads; a section in the other byte order stops like libpcap unless allowed', () => {
  const be = new PcapngEncoder(false);
  const le = new PcapngEncoder(true);
  const packet = { data: Uint8Array.from([1]), wireLength: 1, seconds: 1, nanos: 0 };
  const bytes = concat([be.sectionHeader(), be.interface({ linkType: 1 }), be.packet(packet), le.sectionHeader(), le.interface({ linkType: 101 }), le.packet(packet)]);
  const strict = readCapture(bytes);
  assert.equal(strict.info.littleEndian, false);
  assert.equal(strict.packets.length, 1);
  assert.ok(strict.error instanceof CaptureError);
  assert.equal(strict.error.code, 'net/bad-header');
  assert.equal(strict.error.location.packet, 1);
  const relaxed = readCapture(bytes, undefined, { libpcapLimits: false });
  assert.equal(relaxed.error, undefined);
  assert.deepEqual(relaxed.packets.map((p) => p.linkType), [1, 101]);
});

test('truncated files keep the packets before the damage and name the packet', () => {
  const packets = [1, 2, 3].map((n) => ({ data: new Uint8Array(10).fill(n), wireLength: 10, seconds: n, nanos: 0 }));
  for (const format of ['pcap', 'pcapng'] as const) {
    const bytes = writeCapture({ format, linkType: 1 }, packets);
    const cut = readCapture(bytes.subarray(0, bytes.length - 5), 'cut.' + format);
    assert.equal(cut.packets.length, 2, format);
    assert.ok(cut.error instanceof CaptureError);
    assert.equal(cut.error.code, 'net/truncated');
    assert.equal(cut.error.location.packet, 2);
    assert.match(cut.error.message, /^cut\./);
    // The streaming reader yields the same two packets, then throws.
    const seen: number[] = [];
    assert.throws(() => { for (const p of captureFromBytes(bytes.subarray(0, bytes.length - 5))) seen.push(p.index); }, CaptureError);
    assert.deepEqual(seen, [0, 1]);
  }
});

test('pcap: caplen beyond the link type maximum is an error, beyond the snaplen is cut to it', () => {
  const bytes = writeCapture({ format: 'pcap', linkType: 1, snaplen: 4 }, [{ data: Uint8Array.from([1, 2, 3, 4, 5, 6]), wireLength: 6, seconds: 0, nanos: 0 }]);
  assert.deepEqual(Array.from(readCapture(bytes).packets[0]!.data), [1, 2, 3, 4]);
  const huge = Uint8Array.from(bytes);
  new DataView(huge.buffer).setUint32(24 + 8, 300000, true);
  const r = readCapture(huge);
  assert.equal(r.packets.length, 0);
  assert.equal(r.error?.code, 'net/bad-packet');
});

test('unknown formats and short files throw CaptureError', () => {
  assert.throws(() => readCapture(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), (e: unknown) => e instanceof CaptureError && e.code === 'net/bad-magic');
  assert.throws(() => readCapture(new Uint8Array(0)), CaptureError);
  assert.throws(() => readCapture(Uint8Array.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0])), (e: unknown) => e instanceof CaptureError && e.code === 'net/truncated');
});

test('splitTimestamp is exact for 64-bit tick counts', () => {
  const cases: Array<[bigint, number]> = [[0n, 1e6], [1700000000123456789n, 1e9], [(1n << 64n) - 1n, 1e9], [123456789012345n, 1e6], [(1n << 63n) + 12345n, 2 ** 30], [999n, 1e3]];
  for (const [ticks, units] of cases) {
    const { seconds, nanos } = splitTimestamp(Number(ticks >> 32n), Number(ticks & 0xffffffffn), units);
    const u = BigInt(units);
    assert.equal(BigInt(seconds), ticks / u, `${ticks}`);
    assert.equal(nanos, Number(((ticks % u) * 1_000_000_000n) / u), `${ticks}`);
  }
});

test('link types: names, numbers, LINKTYPE vs DLT', () => {
  assert.equal(parseLinkType('EN10MB'), 1);
  assert.equal(parseLinkType('dlt_raw'), 101);
  assert.equal(parseLinkType('LINKTYPE_LINUX_SLL2'), 276);
  assert.equal(parseLinkType('113'), 113);
  assert.equal(dltFromLinkType(101), 12);
  assert.equal(dltFromLinkType(100), 11);
  assert.equal(dltFromLinkType(127), 127);
  assert.equal(linkTypeName(127), 'IEEE802_11_RADIO');
  assert.equal(linkTypeName(9999), 'LINKTYPE_9999');
  for (const name of ['NULL', 'LOOP', 'IEEE802_11', 'PPP', 'PFLOG', 'IPV4', 'IPV6', 'LINUX_SLL']) assert.equal(linkTypeName(parseLinkType(name)), name);
  assert.throws(() => parseLinkType('NOPE'), /unknown link type/);
});

test('joinTimestamp inverts splitTimestamp without BigInt', () => {
  for (const [seconds, nanos, units] of [[0, 0, 1e6], [1700000000, 123456789, 1e9], [4294967295, 999999999, 1e9], [2 ** 39 + 7, 5000, 1e6], [12345, 999, 1e3], [2 ** 45, 1, 1e9]] as const) {
    const { high, low } = joinTimestamp(seconds, nanos, units);
    const ticks = BigInt(seconds) * BigInt(units) + BigInt(Math.floor((nanos * units) / 1e9));
    assert.equal((BigInt(high) << 32n) | BigInt(low), ticks & 0xffffffffffffffffn, `${seconds}`);
  }
});
