import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Size } from '../../src/isa/index.js';
import { asm, BpfMap, BpfProgram, counterProgram, LinkType } from '../../src/linux/index.js';
import { attachSockmap, SockmapAttachment, sockmapAttachType } from '../../src/linux/attach-sockmap.js';
import { closeFd } from '../../src/linux/libc.js';
import { BpfLink } from '../../src/linux/link.js';
import { TsbpfError } from '../../src/errors.js';
import { addNetns, deleteNetns, netnsName, netnsSkipReason, readU64, u32 } from './support.js';
import { receiveTextEventually, sendText, tcpPair } from './attach-support.js';

/** Every socket lives in a namespace of our own, on its loopback. */
const ns = netnsName('sockmap');
before(() => {
  if (netnsSkipReason) return;
  addNetns(ns);
});
after(() => deleteNetns(ns));
const opts = { skip: netnsSkipReason };

const SK_PASS = 1;
const SK_DROP = 0;

/** A stream parser that counts in `slot` and says each skb is one whole message (returns skb->len). */
function parserProgram(mapFd: number, slot: number): ReturnType<typeof counterProgram> {
  const count = counterProgram(mapFd, 0, { slot });
  return [asm.ldx(Size.W, 6, 1, 0), ...count.slice(0, -2), asm.mov64Reg(0, 6), asm.exit()];
}

test('sk_skb stream parser + verdict on a sockmap see a real TCP stream on loopback; close detaches', opts, async () => {
  const [client, server] = tcpPair(ns, 7401);
  try {
    using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 2 });
    using sockmap = BpfMap.create({ type: 'SOCKMAP', keySize: 4, valueSize: 4, maxEntries: 2, name: 'socks' });
    using parser = BpfProgram.load({ type: 'SK_SKB', expectedAttachType: 'SK_SKB_STREAM_PARSER', insns: parserProgram(counts.fd, 0) });
    using verdict = BpfProgram.load({ type: 'SK_SKB', expectedAttachType: 'SK_SKB_STREAM_VERDICT', insns: counterProgram(counts.fd, SK_PASS, { slot: 1 }) });
    {
      using parserLink = attachSockmap(parser, sockmap, 'stream_parser');
      using _verdict = attachSockmap(verdict, sockmap, 'sk_skb/stream_verdict');
      if (parserLink instanceof BpfLink) {
        assert.equal(parserLink.info().type, LinkType.SOCKMAP);
        assert.equal(parserLink.info().progId, parser.id);
      }
      sockmap.update(u32(0), u32(server));
      assert.equal(sendText(client, 'hello'), 5);
      assert.equal(await receiveTextEventually(server, 5), 'hello', 'SK_PASS delivers the data');
      sockmap.delete(u32(0));
    }
    const parsed = readU64(counts.lookup(u32(0))!);
    const judged = readU64(counts.lookup(u32(1))!);
    assert.ok(parsed >= 1 && judged >= 1, `parser ran ${parsed}, verdict ${judged}`);
    assert.equal(sendText(client, 'again'), 5);
    assert.equal(await receiveTextEventually(server, 5), 'again');
    assert.equal(readU64(counts.lookup(u32(1))!), judged, 'socket out of the map: programs no longer run');
  } finally {
    closeFd(client);
    closeFd(server);
  }
});

test('sk_msg verdict on a sockhash: SK_DROP makes sendText() fail with EACCES, SK_PASS lets it through', opts, async () => {
  const [client, server] = tcpPair(ns, 7402);
  try {
    using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
    using sockhash = BpfMap.create({ type: 'SOCKHASH', keySize: 4, valueSize: 4, maxEntries: 2, name: 'sockh' });
    using drop = BpfProgram.load({ type: 'SK_MSG', expectedAttachType: 'SK_MSG_VERDICT', insns: counterProgram(counts.fd, SK_DROP) });
    using pass = BpfProgram.load({ type: 'SK_MSG', expectedAttachType: 'SK_MSG_VERDICT', insns: counterProgram(counts.fd, SK_PASS) });
    const attachment = attachSockmap(drop, sockhash, 'sk_msg');
    try {
      sockhash.update(u32(1), u32(client));
      assert.equal(sendText(client, 'blocked'), -13, 'EACCES');
      if (attachment instanceof BpfLink) {
        // LINK_UPDATE swaps the map's program; a socket takes the map's programs when it enters the map.
        attachment.update(pass);
        sockhash.delete(u32(1));
        sockhash.update(u32(1), u32(client));
        assert.equal(sendText(client, 'allowed'), 7);
        assert.equal(await receiveTextEventually(server, 7), 'allowed');
      } else {
        assert.ok(attachment instanceof SockmapAttachment);
      }
    } finally {
      attachment.close();
    }
    assert.ok(readU64(counts.lookup(u32(0))!) >= 1);
  } finally {
    closeFd(client);
    closeFd(server);
  }
});

test('sockmap hooks by any spelling; a non-sockmap map is refused with a typed error', opts, () => {
  assert.equal(sockmapAttachType('stream_verdict'), sockmapAttachType('sk_skb_stream_verdict'));
  assert.equal(sockmapAttachType('sk_msg'), sockmapAttachType('msg_verdict'));
  assert.equal(sockmapAttachType('sk_skb/verdict'), sockmapAttachType('skb_verdict'));
  assert.throws(() => sockmapAttachType('upside_down'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/attach-bad-attach-type');
  using array = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'SK_MSG', expectedAttachType: 'SK_MSG_VERDICT', insns: [asm.mov64Imm(0, SK_PASS), asm.exit()] });
  assert.throws(() => attachSockmap(prog, array, 'msg_verdict'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/attach-not-sockmap');
});
