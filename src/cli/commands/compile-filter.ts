import { EXIT_OK, UsageError, type CliIO, type Command, parseCommandArgs, tcpdumpOptimizerFlag } from '../command.js';
import { filterCompiler, formatImage, type ImageLevel } from '../../cbpf/filter-loader.js';
import { dltFromLinkType, parseLinkType } from '../../net/index.js';

const USAGE = `usage: tsbpf compile-filter [-y LINKTYPE] [-O0] [--libpcap-optimizer] [-s SNAPLEN] (-d | -dd | -ddd) EXPRESSION...

Compile a pcap-filter expression to classic BPF and print it the way tcpdump does:
  -d      the text listing ('(000) ldh [12]')
  -dd     a C array of { code, jt, jf, k }
  -ddd    the instruction count, then 'code jt jf k' in decimal

  -y LINKTYPE   link type (tcpdump name or number), default EN10MB
  -O0, -O       do not optimise
  --libpcap-optimizer
                leave unoptimised what libpcap does (protochain, geneve) for tcpdump's exact
                bytes; by default tsbpf optimises those too
  -s SNAPLEN    the value a matching filter returns (default 262144)

Exit codes: 0 ok, 2 usage or a bad expression.`;

function normaliseArgs(argv: string[]): string[] {
  return argv.map((a) => (a === '-d' || a === '-dd' || a === '-ddd' ? `--dump=${a.length - 1}` : tcpdumpOptimizerFlag(a)));
}

export const command: Command = {
  name: 'compile-filter',
  summary: 'compile a pcap-filter expression to classic BPF (tcpdump -d)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(normaliseArgs(argv), {
      y: { type: 'string', short: 'y' },
      s: { type: 'string', short: 's' },
      'no-optimize': { type: 'boolean', default: false },
      'libpcap-optimizer': { type: 'boolean', default: false },
      dump: { type: 'string', multiple: true },
    });
    const { values, positionals } = parsed;
    const dumps = values.dump ?? [];
    if (dumps.length > 1) throw new UsageError('give one of -d, -dd, -ddd');
    const level = Number(dumps[0] ?? '1') as ImageLevel;
    const snaplen = values.s === undefined ? 262144 : Number(values.s);
    if (!Number.isSafeInteger(snaplen) || snaplen <= 0) throw new UsageError(`-s must be a positive integer, got '${values.s}'`);
    const linkType = values.y !== undefined ? parseLinkType(values.y) : 1;
    const compile = filterCompiler();
    const prog = compile(positionals.join(' '), { linkType: dltFromLinkType(linkType), optimize: !values['no-optimize'], snaplen,
      libpcapOptimizerChoice: values['libpcap-optimizer'] });
    io.stdout(formatImage(prog, level));
    return EXIT_OK;
  },
};
