import { existsSync, statSync } from 'node:fs';
import { DEFAULT_ENGINE } from '../../vm/engines.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIO, type Command, parseCommandArgs } from '../command.js';
import { runDirectory, summaryLine, tally, type TestOutcome } from '../../conformance/run.js';
import { isEngineName, loadEngine } from '../../vm/engines.js';

const USAGE = `usage: tsbpf conformance DIR [--json] [--engine interp|jit] [--filter SUBSTR]

Run every .data test of a bpf_conformance or uBPF test directory: assemble (or take -- raw), run with
-- mem in r1 (length in r2) in checked mode, compare r0 with -- result; -- error tests pass when
assembling, loading or running fails. Prints a table (test, result, expected, verdict) and, last,
"N passed, M failed" (", K skipped" when some cannot run here, with the reason in the table).

  --json           one JSON object: { tests: [...], passed, failed, skipped }
  --engine E       jit (default where WebAssembly exists) or interp
  --filter SUBSTR  only tests whose file name contains SUBSTR

Exit codes: 0 all passed, 1 some failed, 2 usage or unreadable directory.`;

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

function table(outcomes: readonly TestOutcome[]): string {
  const nameWidth = Math.max(4, ...outcomes.map((o) => o.name.length));
  const header = `${'test'.padEnd(nameWidth)}  ${'result'.padEnd(24)}  ${'expected'.padEnd(24)}  verdict`;
  const rows = outcomes.map((o) => `${o.name.padEnd(nameWidth)}  ${clip(o.actual, 24).padEnd(24)}  ${clip(o.expected, 24).padEnd(24)}  ${o.verdict}`);
  const details = outcomes
    .filter((o) => o.verdict !== 'pass')
    .map((o) => `${o.verdict} ${o.name}: got ${o.actual}; expected ${o.expected}`);
  return [header, ...rows, ...(details.length ? ['', ...details] : [])].join('\n') + '\n';
}

export const command: Command = {
  name: 'conformance',
  summary: 'run a bpf_conformance/uBPF test directory',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(argv, {
      json: { type: 'boolean', default: false },
      engine: { type: 'string', default: DEFAULT_ENGINE },
      filter: { type: 'string' },
    });
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError('expected one test directory');
    const dir = positionals[0]!;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
    const engineName = values.engine!;
    if (!isEngineName(engineName)) throw new UsageError(`unknown engine '${engineName}' (interp or jit)`);
    const engine = loadEngine(engineName);
    const options = values.filter === undefined ? { engine } : { engine, filter: values.filter };
    const outcomes = runDirectory(dir, options);
    const counts = tally(outcomes);
    if (values.json) {
      io.stdout(JSON.stringify({ tests: outcomes, ...counts }, null, 2) + '\n');
    } else {
      io.stdout(table(outcomes));
      io.stdout(summaryLine(counts) + '\n');
    }
    return counts.failed > 0 ? EXIT_FAILURE : EXIT_OK;
  },
};
