import { closeSync, openSync, writeSync } from 'node:fs';
import { EXIT_OK, EXIT_USAGE, UsageError, type CliIO, type Command, parseCommandArgs, tcpdumpOptimizerFlag } from '../command.js';
import { FILTER_ENGINES, windowFilter, type FilterEngine } from '../../cbpf/apply.js';
import { captureCompileOptions, filterCompiler } from '../../cbpf/filter-loader.js';
import { CaptureWriter, PcapEncoder, dltFromLinkType, linkTypeInfo, linkTypeName, parseLinkType, summarizePacket, writerOptionsLike, type CapturedPacket } from '../../net/index.js';
import { openScanner } from '../../net/capture.js';

const USAGE = `usage: tsbpf filter -r FILE [-w OUT] [-c] [-y LINKTYPE] [-O0] [--engine js|interp] EXPRESSION...

Filter a capture (pcap or pcapng) with a pcap-filter expression, like 'tcpdump -r FILE EXPRESSION':
one summary line per matching packet on standard output.

  -r FILE           the capture to read (streamed, any size)
  -w OUT            write the matching packets to OUT, in the input's format, instead of printing them
  -c                print only the number of matching packets
  -y LINKTYPE       compile for this link type (tcpdump name or number) instead of the file's
  -O0, -O           do not optimise the compiled filter
  --engine E        js (compiled to JavaScript, default) or interp (the classic interpreter)
  -q                no progress or summary line on standard error

An empty expression matches every packet.
Exit codes: 0 ok (also when nothing matched), 2 usage, bad expression or unreadable capture.`;

/**
 * Collects written records in one 1 MiB buffer and hands the kernel whole buffers: one write()
 * per packet was the largest cost of `-w` after reading (tsbpf filter -w /dev/null 'ip' on 200,000
 * packets: 52 ms of 400 in write calls).
 */
class BufferedFile {
  private readonly buffer = Buffer.allocUnsafe(1 << 20);
  private readonly view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  private used = 0;
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  readonly write = (chunk: Uint8Array): void => {
    if (this.used + chunk.length > this.buffer.length) this.flush();
    if (chunk.length > this.buffer.length) this.writeAll(chunk, chunk.length);
    else { this.buffer.set(chunk, this.used); this.used += chunk.length; }
  };

  /**
   * A classic pcap record, encoded as PcapEncoder.record does but straight into the buffer
   * (allocating one array per record was the next largest cost).
   */
  writePcapRecord(packet: Pick<CapturedPacket, 'data' | 'wireLength' | 'seconds' | 'nanos'>, linkType: number, nanosecond: boolean, littleEndian: boolean): void {
    const length = 16 + packet.data.length;
    if (this.used + length > this.buffer.length) this.flush();
    if (length > this.buffer.length) {
      this.writeAll(new PcapEncoder({ linkType, nanosecond, littleEndian }).record(packet), length);
      return;
    }
    const at = this.used;
    this.view.setUint32(at, packet.seconds >>> 0, littleEndian);
    this.view.setUint32(at + 4, (nanosecond ? packet.nanos : Math.floor(packet.nanos / 1000)) >>> 0, littleEndian);
    this.view.setUint32(at + 8, packet.data.length, littleEndian);
    this.view.setUint32(at + 12, packet.wireLength, littleEndian);
    this.buffer.set(packet.data, at + 16);
    this.used += length;
  }

  close(): void {
    try { this.flush(); } finally { closeSync(this.fd); }
  }

  private flush(): void {
    this.writeAll(this.buffer, this.used);
    this.used = 0;
  }

  private writeAll(bytes: Uint8Array, length: number): void {
    for (let done = 0; done < length; ) done += writeSync(this.fd, bytes, done, length - done);
  }
}


export const command: Command = {
  name: 'filter',
  summary: 'filter a capture with a pcap-filter expression (tcpdump -r)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(argv.map(tcpdumpOptimizerFlag), {
      r: { type: 'string', short: 'r' },
      w: { type: 'string', short: 'w' },
      c: { type: 'boolean', short: 'c', default: false },
      y: { type: 'string', short: 'y' },
      q: { type: 'boolean', short: 'q', default: false },
      'no-optimize': { type: 'boolean', default: false },
      engine: { type: 'string', default: 'js' },
    });
    const { values, positionals } = parsed;
    if (values.r === undefined) throw new UsageError('-r FILE is required');
    if (values.c && values.w !== undefined) throw new UsageError('give -c or -w, not both');
    const engine = values.engine as FilterEngine;
    if (!FILTER_ENGINES.includes(engine)) throw new UsageError(`unknown engine '${values.engine}' (js or interp)`);
    const expression = positionals.join(' ');

    const reader = openScanner(values.r);
    const fileLinkType = reader.info.linkType;
    const linkType = values.y !== undefined ? parseLinkType(values.y) : fileLinkType;
    const compile = filterCompiler();
    let prog;
    try {
      prog = compile(expression, { ...captureCompileOptions(reader.info), linkType: dltFromLinkType(linkType), optimize: !values['no-optimize'] });
    } catch (err) {
      reader.close();
      throw err;
    }
    const matches = windowFilter(prog, engine);
    if (!values.q) {
      const description = linkTypeInfo(fileLinkType)?.description ?? 'unknown';
      io.stderr(`reading from file ${values.r}, link-type ${linkTypeName(fileLinkType)} (${description}), snapshot length ${reader.info.snaplen}\n`);
    }
    const file = values.w !== undefined ? new BufferedFile(values.w) : undefined;
    const writerOptions = writerOptionsLike(reader.info);
    const writer = file ? new CaptureWriter(writerOptions, file.write) : undefined;
    const pcapOut = writerOptions.format === 'pcap';
    const nanosecond = writerOptions.nanosecond ?? false;
    const littleEndian = writerOptions.littleEndian ?? true;
    const counting = values.c;
    writer?.writeHeader();
    let matched = 0;
    const started = performance.now();
    const lines: string[] = [];
    // One reused record for the writers: scanning a pcap file allocates nothing per packet; the
    // filter reads the scanner's window in place, and only matching packets get a view.
    const record: { data: Uint8Array; wireLength: number; seconds: number; nanos: number } = { data: new Uint8Array(0), wireLength: 0, seconds: 0, nanos: 0 };
    let outcome;
    try {
      // The window's ArrayBuffer is fetched once per window: reading `buffer.buffer` and
      // `byteOffset` per packet cost more than the filter itself (10 ms of 49 on 400,000 packets).
      let window: Uint8Array | undefined;
      let windowBuffer: ArrayBufferLike = new ArrayBuffer(0);
      let windowOffset = 0;
      outcome = reader.scan((buffer, offset, caplen, wireLength, seconds, nanos, _index, interfaceId) => {
        if (buffer !== window) { window = buffer; windowBuffer = buffer.buffer; windowOffset = buffer.byteOffset; }
        if (matches(buffer, offset, caplen, wireLength) === 0) return;
        matched++;
        if (counting) return;
        const data = new Uint8Array(windowBuffer, windowOffset + offset, caplen);
        record.data = data; record.wireLength = wireLength; record.seconds = seconds; record.nanos = nanos;
        if (file && pcapOut) file.writePcapRecord(record, fileLinkType, nanosecond, littleEndian);
        else if (writer) writer.write(record);
        else {
          lines.push(summarizePacket({ ...record, linkType: reader.linkTypeOf(interfaceId) }));
          if (lines.length >= 256) { io.stdout(lines.join('\n') + '\n'); lines.length = 0; }
        }
      });
    } finally {
      writer?.writeHeader();
      file?.close();
    }
    const seen = outcome.count;
    const failure = outcome.error;
    if (lines.length) io.stdout(lines.join('\n') + '\n');
    if (values.c) io.stdout(`${matched}\n`);
    const seconds = (performance.now() - started) / 1000;
    if (!values.q) {
      const rate = seconds > 0 ? Math.round(seen / seconds) : 0;
      io.stderr(`${matched} of ${seen} packets matched (${prog.length} instructions, ${engine}, ${rate} packets/s)${writer ? `, written to ${values.w}` : ''}\n`);
    }
    if (failure) {
      io.stderr(`tsbpf filter: ${failure.message}\n`);
      return EXIT_USAGE;
    }
    return EXIT_OK;
  },
};
