import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { prepareCbpf } from '../../src/cbpf/interpret.js';
import { compileCbpfToJs } from '../../src/cbpf/compile-js.js';
import { insn, type CbpfInstruction } from '../../src/cbpf/opcodes.js';
import { readCapture } from '../../src/net/index.js';

/**
 * The interpreter against libpcap itself, independent of our compiler: tcpdump compiles each
 * expression (`-O -ddd`, unoptimised, as the oracle recorded), we run that bytecode over the
 * capture, and the per-packet verdicts must equal libpcap 1.10.3's bitstrings.
 */
const oracleDir = corpus('pcap-filter', 'libpcap-1.10.3-oracle');
const pcaps = corpus('pcap-filter', 'tcpdump-pcaps');
const testrunPcaps = corpus('pcap-filter', 'libpcap-testrun', 'pcaps');
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
/** Rows compared (TSBPF_LIBPCAP_SAMPLE overrides; each costs one tcpdump run). */
const SAMPLE = Number(process.env['TSBPF_LIBPCAP_SAMPLE'] ?? 300);

/** Oracle rows name libpcap's own test captures with a `libpcap-` prefix. */
export function oracleCapturePath(file: string): string | undefined {
  const path = file.startsWith('libpcap-') ? testrunPcaps && join(testrunPcaps, file.slice('libpcap-'.length)) : pcaps && join(pcaps, file);
  return path && existsSync(path) ? path : undefined;
}

function parseDdd(text: string): CbpfInstruction[] {
  const lines = text.trim().split('\n');
  const count = Number(lines[0]);
  const prog = lines.slice(1, 1 + count).map((line) => {
    const [code, jt, jf, k] = line.trim().split(/\s+/).map(Number);
    return insn(code!, jt!, jf!, k!);
  });
  assert.equal(prog.length, count);
  return prog;
}

test(`tcpdump's own bytecode, run by us, matches libpcap 1.10.3 verdicts (sample of ${SAMPLE})`, (t) => {
  if (!oracleDir || !pcaps) return t.skip(missingCorpus('pcap-filter/libpcap-1.10.3-oracle'));
  if (!hasTcpdump) return t.skip('tcpdump is not installed');
  const exprs = readFileSync(join(oracleDir, 'exprs.txt'), 'utf8').split('\n');
  const rows = gunzipSync(readFileSync(join(oracleDir, 'verdicts.tsv.gz'))).toString('utf8').trim().split('\n')
    .map((l) => l.split('\t')).filter((r) => r[3] === 'OK' || r[3] === 'OPT_UNOPT_DIFFER');
  const step = Math.max(1, Math.floor(rows.length / (SAMPLE * 1.5)));
  let compared = 0;
  const failures: string[] = [];
  const captures = new Map<string, ReturnType<typeof readCapture>>();
  for (let i = 0; i < rows.length && compared < SAMPLE; i += step) {
    const [file, , exprIndex, , , , bits] = rows[i]!;
    const path = oracleCapturePath(file!);
    if (!path) continue;
    const expr = exprs[Number(exprIndex)]!;
    const ddd = execFileSync('tcpdump', ['-r', path, '-O', '-ddd', expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const prog = parseDdd(ddd);
    let capture = captures.get(path);
    if (!capture) { capture = readCapture(path); captures.set(path, capture); }
    const runner = prepareCbpf(prog);
    const compiled = compileCbpfToJs(prog);
    const ours = capture.packets.map((p) => (runner.run(p.data, p.wireLength) !== 0 ? '1' : '0')).join('');
    const fast = capture.packets.map((p) => (compiled(p.data, p.wireLength) !== 0 ? '1' : '0')).join('');
    if (ours !== bits || fast !== bits) failures.push(`${file} '${expr}': libpcap ${bits}, interpreter ${ours}, compile-js ${fast}`);
    compared++;
  }
  assert.ok(compared >= SAMPLE * 0.9, `only ${compared} rows compared`);
  assert.deepEqual(failures, []);
});
