import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { captureCompileOptions, filterCompiler } from '../../src/cbpf/filter-loader.js';
import { packetFilter } from '../../src/cbpf/apply.js';
import { readCapture } from '../../src/net/index.js';

const pcaps = corpus('pcap-filter', 'tcpdump-pcaps');
const features = corpus('pcap-filter', 'tcpdump_pcaps_features.json');
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;

async function tsbpf(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, readStdin: async () => Buffer.alloc(0), isTTY: false };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

test('tsbpf filter: -c counts, summaries, -w writes the input format back', async (t) => {
  if (!pcaps) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const file = join(pcaps, 'dns_udp.pcap');
  const counted = await tsbpf('filter', '-q', '-r', file, '-c', 'udp');
  assert.equal(counted.code, 0, counted.stderr);
  const count = Number(counted.stdout.trim());
  assert.ok(count > 0);
  const listed = await tsbpf('filter', '-r', file, 'udp', 'port', '53');
  assert.equal(listed.code, 0);
  assert.equal(listed.stdout.trim().split('\n').length, count);
  assert.match(listed.stdout, /^\d\d:\d\d:\d\d\.\d{6} IP6? .* > .*: UDP, length \d+/);
  assert.match(listed.stderr, /reading from file .*link-type EN10MB \(Ethernet\)/);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-filter-'));
  try {
    for (const input of ['dns_udp.pcap', 'OSPFv2_Capture_FINAL.pcapng']) {
      const out = join(dir, input);
      const written = await tsbpf('filter', '-q', '-r', join(pcaps, input), '-w', out, '-O0', 'ip');
      assert.equal(written.code, 0, written.stderr);
      const original = readCapture(join(pcaps, input));
      const copy = readCapture(out);
      assert.equal(copy.info.format, original.info.format);
      assert.equal(copy.info.linkType, original.info.linkType);
      const expected = original.packets.filter((p) => (p.data[12] === 8 && p.data[13] === 0));
      assert.deepEqual(copy.packets.map((p) => [Array.from(p.data), p.seconds, p.nanos]), expected.map((p) => [Array.from(p.data), p.seconds, p.nanos]));
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('tsbpf filter: usage errors exit 2, a damaged capture keeps the matches before the damage', async (t) => {
  assert.equal((await tsbpf('filter', 'ip')).code, 2);
  assert.equal((await tsbpf('filter', '-r', '/nonexistent.pcap', 'ip')).code, 2);
  if (!pcaps) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  assert.equal((await tsbpf('filter', '-r', join(pcaps, 'dns_udp.pcap'), '--engine', 'nope', 'ip')).code, 2);
  const bad = await tsbpf('filter', '-r', join(pcaps, 'dns_udp.pcap'), 'ip and and');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /tsbpf filter: /);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-filter-'));
  try {
    const bytes = readFileSync(join(pcaps, 'dns_udp.pcap'));
    const cut = join(dir, 'cut.pcap');
    (await import('node:fs')).writeFileSync(cut, bytes.subarray(0, bytes.length - 3));
    const r = await tsbpf('filter', '-r', cut, '-c', '');
    assert.equal(r.code, 2);
    assert.equal(Number(r.stdout.trim()), readCapture(join(pcaps, 'dns_udp.pcap')).packets.length - 1);
    assert.match(r.stderr, /truncated dump file/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('tsbpf compile-filter prints what tcpdump prints for -ddd', async (t) => {
  if (!hasTcpdump || !pcaps) return t.skip(hasTcpdump ? missingCorpus('pcap-filter/tcpdump-pcaps') : 'tcpdump is not installed');
  for (const expr of ['ip', 'tcp port 80', 'udp and (port 53 or port 123)', 'ether broadcast']) {
    const ours = await tsbpf('compile-filter', '-s', '262144', '-ddd', expr);
    assert.equal(ours.code, 0, ours.stderr);
    const theirs: SpawnSyncReturns<string> = spawnSync('tcpdump', ['-r', join(pcaps!, 'empty.pcap'), '-ddd', expr], { encoding: 'utf8' });
    // empty.pcap has snaplen 262144 (the default), so the return values match too.
    assert.equal(ours.stdout, theirs.stdout, expr);
  }
  const d = await tsbpf('compile-filter', '-d', 'ip');
  assert.match(d.stdout, /^\(000\) ldh\s+\[12\]/);
});

test('packet counts agree with tcpdump\'s for the corpus feature expressions (every 10th capture)', (t) => {
  if (!pcaps || !features) return t.skip(missingCorpus('pcap-filter/tcpdump_pcaps_features.json'));
  const rows = JSON.parse(readFileSync(features, 'utf8')) as Array<Record<string, string | number | null>>;
  const compile = filterCompiler();
  const mismatches: string[] = [];
  let compared = 0;
  for (let i = 0; i < rows.length; i += 10) {
    const row = rows[i]!;
    const capture = readCapture(join(pcaps, String(row['file'])));
    for (const [expr, expected] of Object.entries(row)) {
      if (['file', 'dlt', 'pkts', 'size'].includes(expr)) continue;
      let count: number | null;
      try {
        const filter = packetFilter(compile(expr, { ...captureCompileOptions(capture.info), optimize: true }));
        count = capture.packets.filter((p) => filter(p.data, p.wireLength) !== 0).length;
      } catch {
        count = null;
      }
      compared++;
      if (count !== expected) mismatches.push(`${row['file']} '${expr}': ${count}, tcpdump ${expected}`);
    }
  }
  t.diagnostic(`${compared - mismatches.length}/${compared} counts agree`);
  assert.ok(compared > 1000, `only ${compared} counts compared`);
  assert.deepEqual(mismatches, []);
});
