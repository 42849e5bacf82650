import { CaptureWriter, LinkType, openCapture, writerOptionsLike } from '../../net/index.js';
import { toJson } from '../../object/index.js';
import { runOverCapture } from '../../runtime/capture-run.js';
import { EXIT_OK, UsageError, type Command } from '../command.js';
import { formatDecoded, loadObjectFile, parseCommandArgs } from '../object-args.js';
import { RUN_OPTIONS, dumpAllMaps, loadForRun } from '../run-common.js';

const usage = `usage: tsbpf run OBJ --prog NAME --pcap IN [--out OUT] [options]

Runs an XDP or tc program over every packet of a pcap or pcapng capture, as if each had arrived
on an interface: prints how many packets got each verdict (XDP_PASS, XDP_DROP, TC_ACT_SHOT ...),
and with --out writes the packets the program let through (as the program left them) to a capture.
Raw-IP and Linux cooked captures are given an Ethernet header first.

  --prog NAME     program (function or section name); optional when the object has one
  --pcap IN       input capture (pcap or pcapng)
  --out OUT       output capture for passed, transmitted and redirected packets
  --maps          print every map's contents afterwards
  --type TYPE     program type for sections that do not name one
  --engine E      jit (default where WebAssembly exists) or interp
  --cpus N        possible CPUs (default 1)
  --json          {packets, verdicts, skipped, forwarded, ns_per_packet, maps}`;

export const command: Command = {
  name: 'run',
  summary: 'run an XDP or tc program over a capture',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...RUN_OPTIONS,
      pcap: { type: 'string' },
      out: { type: 'string' },
      maps: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected one object file');
    if (values.pcap === undefined) throw new UsageError('--pcap IN is required');
    const object = loadObjectFile(positionals[0]!);
    const { runtime, loaded, program } = await loadForRun(object, values);
    const reader = openCapture(values.pcap);
    const converted = reader.info.linkType !== LinkType.EN10MB;
    const writer = values.out === undefined ? undefined : CaptureWriter.toFile(values.out, { ...writerOptionsLike(reader.info), linkType: LinkType.EN10MB });
    const progress = process.stderr.isTTY && !values.json;
    let lastShown = 0;
    try {
      const stats = runOverCapture(loaded.program(program), reader, {
        ...(writer ? { onForward: (packet, data) => writer.write({ data, wireLength: data.length + Math.max(0, packet.wireLength - packet.data.length), seconds: packet.seconds, nanos: packet.nanos }) } : {}),
        onPacket: (index) => {
          if (progress && index - lastShown >= 10000) {
            lastShown = index;
            process.stderr.write(`\r${index} packets...`);
          }
        },
      });
      if (progress && lastShown) process.stderr.write('\r\x1b[K');
      const maps = values.maps ? dumpAllMaps(object, loaded) : undefined;
      const nsPerPacket = stats.packets - Object.values(stats.skipped).reduce((a, b) => a + b, 0);
      const average = nsPerPacket > 0 ? stats.totalNs / nsPerPacket : 0;
      if (values.json) {
        io.stdout(toJson({ packets: stats.packets, verdicts: stats.verdicts, skipped: stats.skipped, forwarded: stats.forwarded, ns_per_packet: Math.round(average), ...(maps ? { maps } : {}) }, 2) + '\n');
        return EXIT_OK;
      }
      const lines = [`${stats.packets} packets through ${program} (${loaded.program(program).type.name})${converted ? ', given Ethernet headers' : ''}`];
      for (const [verdict, count] of Object.entries(stats.verdicts).sort((a, b) => b[1] - a[1])) lines.push(`  ${verdict.padEnd(14)} ${count}`);
      for (const [why, count] of Object.entries(stats.skipped)) lines.push(`  skipped        ${count} (${why})`);
      lines.push(`average ${Math.round(average)} ns per packet`);
      if (writer) lines.push(`wrote ${stats.forwarded} packets to ${values.out}`);
      for (const [name, entries] of Object.entries(maps ?? {})) {
        lines.push(`map ${name}: ${entries.length} entries`);
        for (const e of entries.slice(0, 50)) lines.push(`  ${formatDecoded(e.key)} => ${formatDecoded(e.value)}`);
      }
      io.stdout(lines.join('\n') + '\n');
      return EXIT_OK;
    } finally {
      writer?.close();
      runtime.close();
    }
  },
};
