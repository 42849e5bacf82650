import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { compileFilter } from '../../src/cbpf/filter/index.js';
import { formatC, formatDecimal, formatImage } from '../../src/cbpf/image.js';
import { insn } from '../../src/cbpf/opcodes.js';

test('-d listing of assorted opcodes', () => {
  const prog = [insn(0x28, 0, 0, 12), insn(0x15, 0, 1, 0x800), insn(0xb1, 0, 0, 14), insn(0x48, 0, 0, 16),
    insn(0x80, 0, 0, 0), insn(0x05, 0, 0, 1), insn(0x1d, 1, 0, 0), insn(0x06, 0, 0, 262144)];
  assert.equal(formatImage(prog),
    '(000) ldh      [12]\n' +
    '(001) jeq      #0x800           jt 2\tjf 3\n' +
    '(002) ldxb     4*([14]&0xf)\n' +
    '(003) ldh      [x + 16]\n' +
    '(004) ld       #pktlen\n' +
    '(005) ja       7\n' +
    '(006) jeq      x                jt 8\tjf 7\n' +
    '(007) ret      #262144\n');
});

test('-dd and -ddd formats', () => {
  const prog = compileFilter('ip', { optimize: false });
  assert.equal(formatC(prog), '{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n');
  assert.equal(formatDecimal(prog), '4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n');
});

function tcpdump(args: string[]): string | undefined {
  try { return execFileSync('tcpdump', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }); } catch { return undefined; }
}

test('matches tcpdump -O -d/-dd/-ddd on this machine', (t) => {
  const probe = tcpdump(['-i', 'lo', '-O', '-ddd', 'ip']);
  if (probe === undefined) return t.skip('tcpdump not available (or cannot open lo)');
  // Expressions whose unoptimised code is the same in libpcap 1.10 and master.
  for (const expr of ['ip', 'tcp port 80', 'udp and src net 10.0.0.0/8', 'ether broadcast', 'len >= 100 and ip[2:2] > 40']) {
    const prog = compileFilter(expr, { linkType: 'EN10MB', optimize: false });
    assert.equal(formatImage(prog), tcpdump(['-i', 'lo', '-O', '-d', expr]), expr);
    assert.equal(formatC(prog), tcpdump(['-i', 'lo', '-O', '-dd', expr]), expr);
    assert.equal(formatDecimal(prog), tcpdump(['-i', 'lo', '-O', '-ddd', expr]), expr);
  }
});

test("libpcap's bpf_image test: every opcode prints as libpcap prints it", (t) => {
  const dir = corpus('pcap-filter', 'libpcap-testrun');
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const rows = readFileSync(join(dir, 'libpcap_accept_tests_flat.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { name: string; optimize: boolean; expected?: string });
  const row = rows.find((r) => r.name === 'bpf_image' && !r.optimize);
  if (!row?.expected) return t.skip('bpf_image row not in the corpus');
  // Each line ends with "; 0xCODE"; libpcap's program uses k = 15 and the printed jump targets.
  const lines = row.expected.trim().split('\n');
  const prog = lines.map((line, pc) => {
    const code = parseInt(/; (0x[0-9a-f]+)$/.exec(line)![1]!, 16);
    const j = /jt (\d+)\tjf (\d+)/.exec(line);
    return insn(code, j ? Number(j[1]) - pc - 1 : 0, j ? Number(j[2]) - pc - 1 : 0, 15);
  });
  const want = lines.map((l) => l.replace(/\s*; 0x[0-9a-f]+$/, '')).join('\n') + '\n';
  assert.equal(formatImage(prog), want);
});
