import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attrString, attrU32, attrU8, encodeMessage, nestedAttr, parseAttrs, parseErrorMessage, s32Attr, splitMessages, stringAttr, u32Attr, u8Attr,
} from '../../src/linux/netlink.js';
import { AttachError, parseTargetWords } from '../../src/linux/attach-object.js';

/** Message encoding and decoding, checked byte by byte against the netlink wire format (no kernel needed). */

test('a request: header, padded family header, attributes with nested ones flagged NLA_F_NESTED', () => {
  const bytes = encodeMessage(19, 0x5, 7, new Uint8Array([1, 2, 3]), [
    nestedAttr(43, [s32Attr(1, -1), u32Attr(3, 0x12)]),
    stringAttr(1, 'bpf'),
    u8Attr(2, 9),
  ]);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0, true), bytes.byteLength);
  assert.equal(bytes.byteLength, 16 + 4 + (4 + 8 + 8) + 8 + 8);
  assert.deepEqual([view.getUint16(4, true), view.getUint16(6, true), view.getUint32(8, true)], [19, 5, 7]);
  assert.deepEqual([...bytes.subarray(16, 20)], [1, 2, 3, 0]);
  // The nest: length 20, type 43 | 0x8000, then the two 8-byte attributes.
  assert.deepEqual([view.getUint16(20, true), view.getUint16(22, true)], [20, 43 | 0x8000]);
  assert.deepEqual([view.getUint16(24, true), view.getUint16(26, true), view.getInt32(28, true)], [8, 1, -1]);
  assert.deepEqual([view.getUint16(32, true), view.getUint16(34, true), view.getUint32(36, true)], [8, 3, 0x12]);
  // "bpf\0": length 8 exactly; the u8 attribute: length 5, padded to 8.
  assert.deepEqual([...bytes.subarray(40, 48)], [8, 0, 1, 0, 0x62, 0x70, 0x66, 0]);
  assert.deepEqual([...bytes.subarray(48, 56)], [5, 0, 2, 0, 9, 0, 0, 0]);

  const [message] = splitMessages(bytes);
  assert.equal(message!.type, 19);
  const attrs = parseAttrs(message!.body.subarray(4));
  assert.equal(attrString(attrs, 1), 'bpf');
  assert.equal(attrU8(attrs, 2), 9);
  const nested = parseAttrs(attrs.get(43)!);
  assert.equal(new DataView(nested.get(1)!.buffer, nested.get(1)!.byteOffset).getInt32(0, true), -1);
  assert.equal(attrU32(nested, 3), 0x12);
  assert.equal(attrU32(nested, 9), undefined);
});

test('an error reply: errno, and the extended-ack message after a capped echo', () => {
  const tlvs = encodeMessage(0, 0, 0, new Uint8Array(0), [stringAttr(1, 'XDP program already attached'), u32Attr(2, 36)]).subarray(16);
  const body = new Uint8Array(4 + 16 + tlvs.byteLength);
  const view = new DataView(body.buffer);
  view.setInt32(0, -16, true);
  view.setUint32(4, 48, true);
  body.set(tlvs, 20);
  const capped = { type: 2, flags: 0x100 | 0x200, seq: 1, body };
  assert.deepEqual(parseErrorMessage(capped), { errno: 16, kernelMessage: 'XDP program already attached' });
  assert.deepEqual(parseErrorMessage({ ...capped, flags: 0x100 }), { errno: 16 });
  // Two messages in one datagram, each padded to 4 bytes.
  const two = new Uint8Array([...encodeMessage(3, 2, 5, new Uint8Array([1]), []), ...encodeMessage(2, 0, 5, new Uint8Array(20), [])]);
  assert.deepEqual(splitMessages(two).map((m) => [m.type, m.seq, m.body.byteLength]), [[3, 5, 4], [2, 5, 20]]);
  assert.throws(() => splitMessages(new Uint8Array([40, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /malformed netlink message/);
});

test('command-line words for netlink XDP and tc filters', () => {
  assert.deepEqual(parseTargetWords(['xdp', 'dev', 'veth0', 'native', 'netlink']), { kind: 'xdp', interface: 'veth0', mode: 'native', via: 'netlink' });
  assert.deepEqual(parseTargetWords(['xdp', 'dev', 'veth0', 'netlink']), { kind: 'xdp', interface: 'veth0', via: 'netlink' });
  assert.deepEqual(parseTargetWords(['xdp', 'veth0', 'link', 'generic']), { kind: 'xdp', interface: 'veth0', mode: 'generic', via: 'link' });
  assert.deepEqual(parseTargetWords(['tc', 'ingress', 'dev', 'eth0']), { kind: 'tc', direction: 'ingress', interface: 'eth0' });
  assert.deepEqual(parseTargetWords(['tc', 'egress', 'dev', 'eth0', 'priority', '7', 'handle', '0x10']),
    { kind: 'tc', direction: 'egress', interface: 'eth0', priority: 7, handle: 16 });
  const bad = (e: unknown): boolean => e instanceof AttachError && e.code === 'linux/attach-bad-target';
  for (const words of [['xdp', 'dev', 'x', 'netlink', 'netlink'], ['xdp', 'dev', 'x', 'native', 'generic'], ['tc', 'dev', 'x'],
    ['tc', 'ingress', 'dev', 'x', 'priority'], ['tc', 'ingress', 'dev', 'x', 'priority', '70000'], ['tc', 'ingress', 'dev', 'x', 'handle', '0'],
    ['tc', 'ingress', 'dev', 'x', 'weight', '1']]) {
    assert.throws(() => parseTargetWords(words), bad, words.join(' '));
  }
});
