import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { ethernet, ipv4, udp, writeCapture, readCapture } from '../../src/net/index.js';
import { fixturesDir } from '../support/paths.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, readStdin: async () => Buffer.alloc(0), isTTY: false };
  const code = await main(argv, io);
  return { code, out, err };
}

const fixture = (name: string) => join(fixturesDir, 'progs', name);
const packet = (dst: string) => ethernet({ type: 0x0800, payload: ipv4({ src: '10.5.5.5', dst, payload: udp({ srcPort: 4, dstPort: 53, payload: new Uint8Array(8) }) }) });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('obj show lists programs, maps and globals (text and JSON)', async () => {
  const text = await cli('obj', 'show', fixture('calls_globals.bpf.o'));
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /xdp_calls\s+section xdp\s+type xdp/);
  assert.match(text.out, /calls weigh, classify|calls classify, weigh/);
  assert.match(text.out, /\.rodata\+0\s+multiplier/);
  const json = JSON.parse((await cli('obj', 'show', fixture('xdp_firewall.bpf.o'), '--json')).out);
  assert.deepEqual(json.maps.map((m: { name: string }) => m.name).sort(), ['deny_v4', 'deny_v6', 'flows', 'proto_counts']);
  assert.equal(json.programs[0].type, 'xdp');
});

test('test-run prints the verdict, the rewritten packet and decoded maps', async () => {
  const r = await cli('test-run', fixture('tc_rewrite.bpf.o'), '--data', hex(packet('10.0.0.1')), '--json');
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out);
  assert.equal(json.retval, 0);
  assert.equal(json.verdict, 'TC_ACT_OK');
  assert.match(json.data_out, /0a000002/, 'destination rewritten to 10.0.0.2');
  assert.deepEqual(json.maps['.bss'][0].value, { rewritten: 1 });
});

test('run over a capture counts verdicts and writes the passed packets', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-run-'));
  try {
    const input = join(dir, 'in.pcap');
    const truncatedIpv4 = new Uint8Array(20);
    truncatedIpv4[12] = 0x08;
    const frames = [packet('10.0.0.1'), packet('10.0.0.3'), truncatedIpv4, packet('10.0.0.1')];
    writeFileSync(input, writeCapture({ format: 'pcap', linkType: 1 }, frames.map((data) => ({ data, wireLength: data.length, seconds: 1, nanos: 0 }))));
    const out = join(dir, 'out.pcap');
    const r = await cli('run', fixture('xdp_firewall.bpf.o'), '--pcap', input, '--out', out, '--json', '--maps');
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(r.out);
    assert.equal(json.packets, 4);
    assert.deepEqual(json.verdicts, { XDP_PASS: 3, XDP_DROP: 1 });
    assert.equal(readCapture(readFileSync(out)).packets.length, 3);
    assert.equal(json.maps.flows.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('map dump after running a packet through the program', async () => {
  const r = await cli('map', 'dump', fixture('loop.bpf.o'), '--data', hex(packet('10.0.0.1')), '--map', '.bss', '--json');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out)['.bss'][0].value, { primes: 168 });
});

test('btf dump prints bpftool-style raw types', async () => {
  const r = await cli('btf', 'dump', fixture('xdp_firewall.bpf.o'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^\[1\] /);
  assert.match(r.out, /STRUCT 'flow_key' size=16 vlen=6/);
});

test('bad input: a missing file, a non-ELF file and a wrong flag exit 2 with a clear message', async () => {
  const missing = await cli('obj', 'show', '/nonexistent/x.o');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read object \/nonexistent\/x.o: no such file/);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-bad-'));
  try {
    writeFileSync(join(dir, 'junk.o'), 'not an elf file at all');
    const junk = await cli('obj', 'show', join(dir, 'junk.o'));
    assert.equal(junk.code, 2);
    assert.match(junk.err, /junk\.o/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const flag = await cli('test-run', fixture('loop.bpf.o'), '--bogus');
  assert.equal(flag.code, 2);
  assert.match(flag.err, /Unknown option '--bogus'/);
});

test('disasm --source interleaves the C source lines from BTF line_info', async () => {
  const r = await cli('disasm', '--source', fixture('loop.bpf.o'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^; bpf_loop\(i, is_prime_step, &c, 0\);$/m);
  assert.match(r.out, /^; primes = count;$/m);
});

test('test-run shows bpf_printk output as trace lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-printk-'));
  try {
    const source = join(dir, 'printk.bpf.c');
    writeFileSync(source, '');
    // A prebuilt object is not needed: calls_globals has no printk, so use the runtime directly.
    const { Runtime } = await import('../../src/runtime/index.js');
    const { assemble } = await import('../../src/isa/asm.js');
    const runtime = new Runtime();
    // "n=%d\n" on the stack, then bpf_trace_printk(fmt, 6, 42).
    const program = runtime.loadProgram(assemble(`
      r1 = 0x000a64253d6e ll
      *(u64 *)(r10 - 8) = r1
      r1 = r10
      r1 += -8
      r2 = 6
      r3 = 42
      call 6
      r0 = 2
      exit`), { type: 'xdp' });
    program.testRun({ data: new Uint8Array(14) });
    assert.match(runtime.services.traceLog[0]!, /bpf_trace_printk: n=42\n?$/);
    runtime.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every command in tsbpf --help loads and prints its own usage', async () => {
  const { COMMANDS } = await import('../../src/cli/main.js');
  for (const { name } of COMMANDS) {
    const r = await cli(name, '--help');
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    assert.match(r.out, new RegExp(`usage: tsbpf ${name}\\b`), name);
  }
});
