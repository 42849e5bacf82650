import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { CaptureError, LinkType, readCapture, writeCapture, type CaptureContents } from '../../src/net/index.js';
import { CaptureScanner, openScanner, scanCapture, scannerFromBytes } from '../../src/net/capture.js';
import { FileSource } from '../../src/net/source.js';
import type { RecordVisitor, ScanOutcome } from '../../src/net/types.js';

const pcapsDir = corpus('pcap-filter', 'tcpdump-pcaps');

interface Seen { index: number; data: number[]; wireLength: number; seconds: number; nanos: number; interfaceId: number; linkType: number }

/** A visitor copying every packet out of the scanner's window. */
function collector(scanner: CaptureScanner, packets: Seen[]): RecordVisitor {
  return (buffer, offset, caplen, wireLength, seconds, nanos, index, interfaceId) => {
    packets.push({ index, data: Array.from(buffer.subarray(offset, offset + caplen)), wireLength, seconds, nanos, interfaceId, linkType: scanner.linkTypeOf(interfaceId) });
  };
}

function collect(scanner: CaptureScanner): { packets: Seen[]; outcome: ScanOutcome } {
  const packets: Seen[] = [];
  const outcome = scanner.scan(collector(scanner, packets));
  return { packets, outcome };
}

const expected = (contents: CaptureContents): Seen[] =>
  contents.packets.map((p) => ({ index: p.index, data: Array.from(p.data), wireLength: p.wireLength, seconds: p.seconds, nanos: p.nanos, interfaceId: p.interfaceId, linkType: p.linkType }));

const describeError = (e: CaptureError | undefined): object | undefined => e && { code: e.code, message: e.message, location: e.location };

/** The scan of `path` (in memory, through openScanner, or through a window of `window` bytes) against readCapture. */
function assertSameAsReader(path: string, window: 'bytes' | 'file' | number): void {
  const bytes = readFileSync(path);
  let reference: CaptureContents;
  try {
    reference = readCapture(bytes, path);
  } catch (err) {
    // An unreadable header: the scanner must refuse the file the same way.
    assert.throws(() => scannerFromBytes(bytes, path), (e: unknown) => e instanceof CaptureError && e.message === (err as CaptureError).message, path);
    return;
  }
  const scanner = window === 'bytes' ? scannerFromBytes(bytes, path) : window === 'file' ? openScanner(path) : new CaptureScanner(new FileSource(path, window), path);
  const { packets, outcome } = collect(scanner);
  assert.deepEqual(packets, expected(reference), path);
  assert.equal(outcome.count, reference.packets.length, path);
  assert.deepEqual(describeError(outcome.error), describeError(reference.error), path);
}

test('the scanner gives exactly the packets and errors of readCapture over every tcpdump test capture', (t) => {
  if (!pcapsDir) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const files = readdirSync(pcapsDir).sort();
  assert.ok(files.length >= 800);
  for (const file of files) assertSameAsReader(join(pcapsDir, file), 'bytes');
});

test('the scanner streaming a file (openScanner, and small windows refilled mid-record) gives the same packets', (t) => {
  if (!pcapsDir) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  // Every 7th capture: each window size forces refills at many different record boundaries.
  const files = readdirSync(pcapsDir).sort().filter((_, i) => i % 7 === 0);
  for (const file of files) for (const window of ['file', 64, 1000] as const) assertSameAsReader(join(pcapsDir, file), window);
});

const sample = [
  { data: Uint8Array.from([1, 2, 3, 4, 5]), wireLength: 60, seconds: 1700000000, nanos: 123456000 },
  { data: Uint8Array.from([9, 8, 7]), wireLength: 3, seconds: 4294967295, nanos: 999999000 },
  { data: Uint8Array.from([6, 6, 6, 6]), wireLength: 4, seconds: 5, nanos: 0 },
];

for (const format of ['pcap', 'pcapng'] as const) {
  test(`${format}: damage ends the scan with the reader's error, the packets before it visited`, () => {
    const whole = writeCapture({ format, linkType: LinkType.EN10MB, snaplen: 1500, littleEndian: false, nanosecond: true }, sample);
    for (let cut = whole.length - 1; cut > whole.length - 40; cut--) {
      const bytes = whole.subarray(0, cut);
      const reference = readCapture(bytes, 'cut.pcap');
      const { packets, outcome } = collect(scannerFromBytes(bytes, 'cut.pcap'));
      assert.deepEqual(packets, expected(reference), `cut at ${cut}`);
      assert.deepEqual(describeError(outcome.error), describeError(reference.error), `cut at ${cut}`);
    }
  });
}

test('scanCapture returns the header information and the count; errors thrown by the visitor propagate', () => {
  const bytes = writeCapture({ format: 'pcap', linkType: LinkType.EN10MB, snaplen: 1500 }, sample);
  const result = scanCapture(bytes, () => {});
  assert.equal(result.count, 3);
  assert.equal(result.error, undefined);
  assert.equal(result.info.snaplen, 1500);
  for (const format of ['pcap', 'pcapng'] as const) {
    const capture = writeCapture({ format, linkType: LinkType.EN10MB }, sample);
    const visitorError = new CaptureError('net/bad-packet', 'from the visitor');
    assert.throws(() => scanCapture(capture, () => { throw visitorError; }), (e: unknown) => e === visitorError);
  }
  assert.throws(() => scanCapture(Uint8Array.from([1, 2, 3]), () => {}), (e: unknown) => e instanceof CaptureError && e.code === 'net/bad-magic');
});
