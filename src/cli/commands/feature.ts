import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIO, type Command } from '../command.js';
import { ProgType, type ProgTypeName } from '../../linux/constants.js';
import { probeFeatures, type FeatureReport, type ProbeResult } from '../../linux/probe.js';

const USAGE = `usage: tsbpf feature probe [--json] [--helpers] [--prog-type TYPE]...

Probe what the running kernel supports, like 'bpftool feature probe': program types (a tiny program
of each is loaded), map types (a one-entry map of each is created), attach points (kprobe, uprobe,
tracepoint, raw tracepoint, fentry) and, with --helpers, the helpers each program type may call.
Nothing is attached and everything created is closed again. Needs root.

options:
  --json             print the report as JSON
  --helpers          also probe helpers (every supported program type, a few seconds)
  --prog-type TYPE   probe helpers for this program type only (repeatable; implies --helpers)
`;

interface FeatureArgs { json: boolean; helpers: boolean | ProgTypeName[] }

function parseArgs(argv: string[]): FeatureArgs {
  const [sub, ...rest] = argv;
  if (sub !== 'probe') throw new UsageError(sub === undefined ? 'missing subcommand (probe)' : `unknown subcommand '${sub}'`);
  const args: FeatureArgs = { json: false, helpers: false };
  const types: ProgTypeName[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--json') args.json = true;
    else if (arg === '--helpers') args.helpers = true;
    else if (arg === '--prog-type') {
      const name = rest[++i];
      if (name === undefined) throw new UsageError('--prog-type needs a value');
      const key = name.toUpperCase().replace(/-/g, '_').replace(/^BPF_PROG_TYPE_/, '');
      if (!(key in ProgType)) throw new UsageError(`unknown program type '${name}'`);
      types.push(key as ProgTypeName);
    } else throw new UsageError(`unknown option '${arg}'`);
  }
  if (types.length) args.helpers = types;
  return args;
}

const STATUS_TEXT: Record<ProbeResult['status'], string> = {
  supported: 'is available',
  unsupported: 'is NOT available',
  refused: 'is refused',
  'not-probed': 'was not probed',
};

function line(kind: string, r: ProbeResult): string {
  return `${kind} ${r.name.toLowerCase()} ${STATUS_TEXT[r.status]}${r.detail ? ` (${r.detail})` : ''}`;
}

export function formatReport(report: FeatureReport): string {
  const k = report.kernel;
  const out = [
    'Scanning system configuration...',
    `kernel release ${k.release} (${k.arch})`,
    `vmlinux BTF ${k.btfVmlinux ? 'is available' : 'is NOT available'}`,
    `bpf_jit_enable is ${k.jitEnable ?? 'unknown'}`,
    `unprivileged_bpf_disabled is ${k.unprivilegedBpfDisabled ?? 'unknown'}`,
    `bpf() syscall ${STATUS_TEXT[report.syscall.status]}${report.syscall.detail ? ` (${report.syscall.detail})` : ''}`,
    '',
  ];
  if (report.programTypes.length) out.push('Scanning eBPF program types...', ...report.programTypes.map((r) => line('eBPF program_type', r)), '');
  if (report.mapTypes.length) out.push('Scanning eBPF map types...', ...report.mapTypes.map((r) => line('eBPF map_type', r)), '');
  if (report.attach.length) out.push('Scanning attach points...', ...report.attach.map((r) => line('attach', r)), '');
  for (const [type, helpers] of Object.entries(report.helpers ?? {})) {
    out.push(`eBPF helpers supported for program type ${type.toLowerCase()} (${helpers.length}):`, ...helpers.map((h) => `\t- bpf_${h}`), '');
  }
  return out.join('\n');
}

export const command: Command = {
  name: 'feature',
  summary: 'probe what the running kernel supports',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const args = parseArgs(argv);
    const report = probeFeatures({ helpers: args.helpers });
    io.stdout(args.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    return report.syscall.status === 'supported' ? EXIT_OK : EXIT_FAILURE;
  },
};
