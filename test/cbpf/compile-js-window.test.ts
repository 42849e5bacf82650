import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { compileCbpfToSource, compileCbpfToWindowJs } from '../../src/cbpf/compile-js.js';
import { prepareCbpf } from '../../src/cbpf/interpret.js';
import { filterCompiler } from '../../src/cbpf/filter-loader.js';
import { insn } from '../../src/cbpf/opcodes.js';
import { dltFromLinkType, readCapture } from '../../src/net/index.js';

test('constant-offset loads share one bounds check per block, dropped where every path already checked', () => {
  const source = compileCbpfToSource(filterCompiler()('tcp port 80', { linkType: 1 }));
  // IPv4 path: ip[9] (byte 23) is checked once; the fragment field (20..21) and the header length (14) need no check.
  assert.match(source, /if \(n < 24\) return 0;\n {2}A = p\[23\];/);
  assert.doesNotMatch(source, /if \(n < 22\)|if \(n < 15\)/);
  // Loads past the end still reject: ether[12:2] on a 13-byte packet.
  const window = compileCbpfToWindowJs([insn(0x28, 0, 0, 12), insn(0x06, 0, 0, 1)]);
  assert.equal(window(new Uint8Array(64), 10, 13, 13), 0);
  assert.equal(window(new Uint8Array(64), 10, 14, 14), 1);
});

const EXPRESSIONS = ['ip', 'tcp port 80', 'udp and (port 53 or port 123)', 'vlan and udp', 'ip6 and icmp6',
  'tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420', 'ip[6:2] & 0x1fff != 0', 'geneve and tcp', 'len > 100 and ip[8] < 64',
  'ether[0:4] = 0xffffffff', 'ip protochain 6'];

test('window entry: the same values as the interpreter on packets inside a larger buffer (every 7th capture)', (t) => {
  const dir = corpus('pcap-filter', 'tcpdump-pcaps');
  if (!dir) return t.skip(missingCorpus('pcap-filter/tcpdump-pcaps'));
  const compile = filterCompiler();
  let runs = 0;
  readdirSync(dir).sort().forEach((file, i) => {
    if (i % 7 !== 0) return;
    const capture = readCapture(join(dir, file));
    // Every packet at offset 5 of a buffer with 0xff bytes around it: a missed bounds check reads them.
    const windows = capture.packets.map((p) => {
      const buffer = new Uint8Array(p.data.length + 80).fill(0xff);
      buffer.set(p.data, 5);
      return buffer;
    });
    for (const expr of EXPRESSIONS) {
      for (const optimize of [true, false]) {
        let prog;
        try {
          prog = compile(expr, { linkType: dltFromLinkType(capture.info.linkType), snaplen: capture.info.snaplen, optimize });
        } catch {
          continue;
        }
        const fast = compileCbpfToWindowJs(prog);
        const slow = prepareCbpf(prog);
        capture.packets.forEach((p, j) => {
          runs++;
          const expected = slow.run(p.data, p.wireLength);
          const got = fast(windows[j]!, 5, p.data.length, p.wireLength);
          if (got !== expected) assert.fail(`${file} packet ${p.index} '${expr}' (optimize ${optimize}): window ${got}, interpreter ${expected}`);
        });
      }
    }
  });
  t.diagnostic(`${runs} packet runs compared`);
  assert.ok(runs > 1000);
});
