import { parseArgs } from 'node:util';
import { EXIT_OK, EXIT_USAGE, UsageError, type CliIO, type Command } from '../command.js';
import { FILTER_ENGINES, packetFilter, type FilterEngine } from '../../cbpf/apply.js';
import { captureCompileOptions, filterCompiler } from '../../cbpf/filter-loader.js';
import { CaptureError, CaptureWriter, dltFromLinkType, linkTypeInfo, linkTypeName, openCapture, parseLinkType, summarizePacket, writerOptionsLike } from '../../net/index.js';

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

/** tcpdump spells "no optimiser" -O; the brief's spelling is -O0. Both become --no-optimize. */
function normaliseArgs(argv: string[]): string[] {
  return argv.map((a) => (a === '-O0' || a === '-O' ? '--no-optimize' : a));
}

export const command: Command = {
  name: 'filter',
  summary: 'filter a capture with a pcap-filter expression (tcpdump -r)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    let parsed;
    try {
      parsed = parseArgs({
        args: normaliseArgs(argv),
        allowPositionals: true,
        options: {
          r: { type: 'string', short: 'r' },
          w: { type: 'string', short: 'w' },
          c: { type: 'boolean', short: 'c', default: false },
          y: { type: 'string', short: 'y' },
          q: { type: 'boolean', short: 'q', default: false },
          'no-optimize': { type: 'boolean', default: false },
          engine: { type: 'string', default: 'js' },
        },
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.r === undefined) throw new UsageError('-r FILE is required');
    if (values.c && values.w !== undefined) throw new UsageError('give -c or -w, not both');
    const engine = values.engine as FilterEngine;
    if (!FILTER_ENGINES.includes(engine)) throw new UsageError(`unknown engine '${values.engine}' (js or interp)`);
    const expression = positionals.join(' ');

    const reader = openCapture(values.r);
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
    const matches = packetFilter(prog, engine);
    if (!values.q) {
      const description = linkTypeInfo(fileLinkType)?.description ?? 'unknown';
      io.stderr(`reading from file ${values.r}, link-type ${linkTypeName(fileLinkType)} (${description}), snapshot length ${reader.info.snaplen}\n`);
    }
    const writer = values.w !== undefined ? CaptureWriter.toFile(values.w, writerOptionsLike(reader.info)) : undefined;
    let seen = 0;
    let matched = 0;
    let failure: CaptureError | undefined;
    const started = performance.now();
    const lines: string[] = [];
    try {
      for (const packet of reader) {
        seen++;
        if (matches(packet.data, packet.wireLength) === 0) continue;
        matched++;
        if (writer) writer.write(packet);
        else if (!values.c) {
          lines.push(summarizePacket(packet));
          if (lines.length >= 256) { io.stdout(lines.join('\n') + '\n'); lines.length = 0; }
        }
      }
    } catch (err) {
      if (!(err instanceof CaptureError)) throw err;
      failure = err;
    } finally {
      writer?.close();
    }
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
