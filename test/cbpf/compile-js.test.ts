import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { compileCbpfToJs, compileCbpfToSource } from '../../src/cbpf/compile-js.js';
import { prepareCbpf } from '../../src/cbpf/interpret.js';
import { filterCompiler } from '../../src/cbpf/filter-loader.js';
import { insn } from '../../src/cbpf/opcodes.js';
import { dltFromLinkType, readCapture } from '../../src/net/index.js';

test('forward-only programs compile to straight-line code, backward jumps to a dispatch loop', () => {
  const forward = compileCbpfToSource([insn(0x28, 0, 0, 12), insn(0x15, 0, 1, 0x800), insn(0x06, 0, 0, 1), insn(0x06, 0, 0, 0)]);
  assert.doesNotMatch(forward, /switch/);
  assert.match(forward, /break L3;/);
  const loop = compileCbpfToSource([insn(0x04, 0, 0, 1), insn(0x15, 1, 0, 3), insn(0x05, 0, 0, -3 >>> 0), insn(0x16, 0, 0, 0)]);
  assert.match(loop, /switch \(b\)/);
  assert.equal(compileCbpfToJs([insn(0x04, 0, 0, 1), insn(0x15, 1, 0, 3), insn(0x05, 0, 0, -3 >>> 0), insn(0x16, 0, 0, 0)])(new Uint8Array(0), 0), 3);
});

const EXPRESSIONS = ['ip', 'tcp port 80', 'udp and (port 53 or port 123)', 'host 10.0.0.1 or net 192.168.0.0/16', 'vlan and udp',
  'ip6 and icmp6', 'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn', 'tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420',
  'ip[6:2] & 0x1fff != 0', 'portrange 1000-2000', 'greater 200', 'ether multicast', 'arp or rarp', 'len > 100 and ip[8] < 64'];

test('differential over captures: compiled JavaScript returns what the interpreter returns (every 10th capture)', (t) => {
  const dir = corpus('pcap-filter', 'tcpdump-pcaps');
  if (!dir) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const compile = filterCompiler();
  let programs = 0;
  let packetsCompared = 0;
  readdirSync(dir).sort().forEach((file, i) => {
    if (i % 10 !== 0) return;
    const capture = readCapture(join(dir, file));
    for (const expr of EXPRESSIONS) {
      for (const optimize of [true, false]) {
        let prog;
        try {
          prog = compile(expr, { linkType: dltFromLinkType(capture.info.linkType), snaplen: capture.info.snaplen, optimize });
        } catch {
          continue; // not valid for this link type
        }
        programs++;
        const fast = compileCbpfToJs(prog);
        const slow = prepareCbpf(prog);
        for (const p of capture.packets) {
          packetsCompared++;
          const expected = slow.run(p.data, p.wireLength);
          if (fast(p.data, p.wireLength) !== expected) assert.fail(`${file} packet ${p.index} '${expr}' (optimize ${optimize}): compile-js ${fast(p.data, p.wireLength)}, interpreter ${expected}`);
        }
      }
    }
  });
  t.diagnostic(`${programs} programs, ${packetsCompared} packet runs compared`);
  assert.ok(programs > 250);
});
