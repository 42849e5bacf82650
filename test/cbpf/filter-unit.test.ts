import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, compileFilterToCfg, FilterError, FilterSyntaxError } from '../../src/cbpf/filter/index.js';
import { formatImage } from '../../src/cbpf/image.js';
import { tokenize } from '../../src/cbpf/filter/lexer.js';

const listing = (expr: string, linkType: string | number = 'EN10MB'): string =>
  formatImage(compileFilter(expr, { linkType, optimize: false }));

test('lexer: longest match, keywords, named numbers, addresses', () => {
  const kinds = tokenize('tcp[tcpflags] & tcp-syn != 0 and host 10.0.0.1 and ether src 0:1:2:3:4:5 and ip6 host ::1')
    .map((t) => `${t.kind}:${t.text}`);
  assert.deepEqual(kinds.slice(0, 9), ['KW:tcp', 'OP:[', 'NUM:tcpflags', 'OP:]', 'OP:&', 'NUM:tcp-syn', 'OP:!=', 'NUM:0', 'KW:and']);
  assert.ok(kinds.includes('HID:10.0.0.1'));
  assert.ok(kinds.includes('EID:0:1:2:3:4:5'));
  assert.ok(kinds.includes('HID6:::1'));
  assert.deepEqual(tokenize('portrange 25-53').map((t) => t.kind), ['KW', 'ID', 'EOF']);
});

test('tcp port 80 on Ethernet matches libpcap', () => {
  assert.equal(listing('ip'), '(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0\n');
  const prog = compileFilter('tcp port 80', { optimize: false });
  assert.equal(prog.length, 22);
});

test('qualifiers carry over: host a or b', () => {
  assert.equal(listing('host 1.2.3.4 or 5.6.7.8'), listing('host 1.2.3.4 or host 5.6.7.8'));
  assert.equal(listing('tcp port 1 or 2'), listing('tcp port 1 or tcp port 2'));
});

test('syntax errors are typed and carry the column', () => {
  assert.throws(() => compileFilter('tcp and and udp'), (e: unknown) => {
    assert.ok(e instanceof FilterSyntaxError);
    assert.equal(e.code, 'FILTER_SYNTAX');
    assert.equal(e.location.column, 9);
    return true;
  });
  assert.throws(() => compileFilter('ether host 1.2.3.4 and port 70000'), FilterError);
  // Semantic errors point at the primitive they concern.
  assert.throws(() => compileFilter('tcp and host no-such-host.invalid'), (e: unknown) => {
    assert.ok(e instanceof FilterError && !(e instanceof FilterSyntaxError));
    assert.equal(e.reason, "unknown host 'no-such-host.invalid'");
    assert.equal(e.location.column, 14);
    return true;
  });
  assert.throws(() => compileFilter('wlan addr1 1:2:3:4:5:6', { linkType: 'EN10MB' }), FilterError);
});

test('link types by name and number give the same code', () => {
  assert.equal(listing('ip', 'RAW'), listing('ip', 12));
  assert.equal(listing('ip', 'LINUX_SLL'), listing('ip', 113));
});

test('compileFilterToCfg exposes the CFG with a root block', () => {
  const cfg = compileFilterToCfg('udp', { linkType: 'EN10MB' });
  assert.ok(cfg.root.stmts.length > 0);
  assert.ok(cfg.root.jt && cfg.root.jf);
});

test('1,000 host/port pairs compile in under a second of CPU time', (t) => {
  const expr = Array.from({ length: 1000 }, (_, i) => `(host 10.${(i >> 8) & 255}.${i & 255}.1 and port ${1000 + i})`).join(' or ');
  // CPU time, best of three: other processes on a busy machine stretch the wall-clock time, not the work.
  const times: number[] = [];
  let length = 0;
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    const prog = compileFilter(expr, { optimize: false });
    const cpu = process.cpuUsage(start);
    times.push((cpu.user + cpu.system) / 1000);
    length = prog.length;
    // Long jumps are split with `ja` like libpcap.
    assert.ok(prog.every((p) => p.jt <= 255 && p.jf <= 255));
  }
  t.diagnostic(`1000 host/port pairs: ${length} instructions, unoptimised, in ${times.map((ms) => ms.toFixed(0)).join(' / ')} ms of CPU (first run cold)`);
  assert.ok(Math.min(...times) < 1000, `took ${times.join(', ')} ms`);
});
