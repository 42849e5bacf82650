import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { asm, attachRawTracepoint, BpfMap, BpfProgram, BpfSyscallError } from '../../src/linux/index.js';
import { skipReason, u32 } from './support.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('10,000 map create/close cycles leave no file descriptor behind', { skip: skipReason }, () => {
  const before = openFds();
  for (let i = 0; i < 10_000; i++) {
    const map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
    map.update(u32(0), u32(i));
    map.close();
    map.close();
  }
  assert.equal(openFds(), before);
});

test('programs, links, `using` scopes and failed calls leak nothing either', { skip: skipReason }, () => {
  const before = openFds();
  for (let i = 0; i < 500; i++) {
    using prog = BpfProgram.load({ type: 'SOCKET_FILTER', insns: [asm.mov64Imm(0, 0), asm.exit()] });
    using copy = BpfProgram.fromId(prog.id)!;
    using map = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 4, maxEntries: 1 });
    using mapCopy = BpfMap.fromId(map.id)!;
    assert.equal(copy.type, prog.type);
    assert.equal(mapCopy.keySize, 4);
  }
  // Attaching a raw tracepoint waits for RCU on detach (~15 ms each): fewer rounds.
  for (let i = 0; i < 50; i++) {
    using prog = BpfProgram.load({ type: 'RAW_TRACEPOINT', insns: [asm.mov64Imm(0, 0), asm.exit()] });
    using _link = attachRawTracepoint(prog, 'sys_exit');
  }
  for (let i = 0; i < 500; i++) {
    assert.throws(() => BpfProgram.load({ type: 'XDP', insns: [asm.exit()] }));
    assert.throws(() => BpfMap.create({ type: 'HASH', keySize: 0, valueSize: 0, maxEntries: 0 }), BpfSyscallError);
  }
  assert.equal(openFds(), before);
});
