import { ByteWriter, Op, ValType } from './wasm.js';

/**
 * One JS-to-wasm call site for every program. V8 makes a JS call into wasm cheap only where the call
 * site always sees the same wasm function; calling each program's own `run` export from the one
 * `run` method made that site polymorphic as soon as two programs ran in a process, and every run paid
 * the generic wrapper. Instead the programs' entries sit in a table, and JS calls one small exported
 * function that jumps to the entry by slot (call_indirect, a wasm-to-wasm call).
 *
 * The table holds at most MAX_SLOTS entries (each keeps its instance alive): past that, registering
 * takes over the slot registered longest ago, telling its owner, which registers again at its next run.
 */

/** A module's exported entry: (budget, registers given, runs) -> fuel left (see compile.ts). */
export type ProgramEntry = (budget: number, given: number, runs: number) => number;

/** Who registered an entry: told when its slot is taken over. */
export interface EntryOwner {
  entryEvicted(): void;
}

const IMPORT_MODULE = 'entries';
const INITIAL_SLOTS = 16;
const MAX_SLOTS = 256;

let table: WebAssembly.Table | undefined;
let enter: ((slot: number, budget: number, given: number, runs: number) => number) | undefined;
/** Who registered each slot. */
const owners: (EntryOwner | undefined)[] = [];
const freeSlots: number[] = [];
let nextSlot = 0;
/** The next slot to take over when all are in use (round robin: the oldest registration). */
let evictAt = 0;

function instantiate(): WebAssembly.Table {
  const created = new WebAssembly.Table({ element: 'anyfunc', initial: INITIAL_SLOTS });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(encodeModule()), { [IMPORT_MODULE]: { table: created } });
  enter = instance.exports.enter as (slot: number, budget: number, given: number, runs: number) => number;
  return created;
}

/** A slot for `owner`'s entry, until `releaseEntry` or `owner.entryEvicted()`. */
export function registerEntry(owner: EntryOwner, entry: ProgramEntry): number {
  table ??= instantiate();
  let taken = freeSlots.pop();
  if (taken === undefined && nextSlot < MAX_SLOTS) taken = nextSlot++;
  if (taken === undefined) {
    taken = evictAt;
    evictAt = (evictAt + 1) % MAX_SLOTS;
    owners[taken]!.entryEvicted();
  }
  if (taken >= table.length) table.grow(Math.min(MAX_SLOTS, 2 * table.length) - table.length);
  table.set(taken, entry);
  owners[taken] = owner;
  return taken;
}

/** Give `owner`'s slot back (when it still holds it). */
export function releaseEntry(owner: EntryOwner, slot: number): void {
  if (slot < 0 || owners[slot] !== owner) return;
  table!.set(slot, null);
  owners[slot] = undefined;
  freeSlots.push(slot);
}

/** Run the entry in `slot` `runs` times (its repeat loop, compile.ts). */
export function enterProgram(slot: number, budget: number, given: number, runs: number): number {
  return enter!(slot, budget, given, runs);
}

const CALL_INDIRECT = 0x11;
const FUNCREF = 0x70;

/**
 * The module, written out (ModuleBuilder has no tables): type 0 = an entry (f64, i32, i32) -> f64,
 * type 1 = enter (i32 slot, f64, i32, i32) -> f64, the imported table, and enter = call_indirect type 0
 * of slot.
 */
function encodeModule(): Uint8Array<ArrayBuffer> {
  const out = new ByteWriter(128);
  out.append(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  const section = (id: number, fill: (w: ByteWriter) => void): void => {
    const w = new ByteWriter(64);
    fill(w);
    out.byte(id);
    out.u32(w.length);
    out.append(w.finish());
  };
  const funcType = (w: ByteWriter, params: number[], result: number): void => {
    w.byte(0x60);
    w.u32(params.length);
    for (const p of params) w.byte(p);
    w.u32(1);
    w.byte(result);
  };
  section(1, (w) => {
    w.u32(2);
    funcType(w, [ValType.f64, ValType.i32, ValType.i32], ValType.f64);
    funcType(w, [ValType.i32, ValType.f64, ValType.i32, ValType.i32], ValType.f64);
  });
  section(2, (w) => {
    w.u32(1);
    w.name(IMPORT_MODULE);
    w.name('table');
    w.byte(0x01); // a table
    w.byte(FUNCREF);
    w.byte2(0x00, 0x00); // limits: no maximum, minimum 0
  });
  section(3, (w) => { w.u32(1); w.u32(1); });
  section(7, (w) => { w.u32(1); w.name('enter'); w.byte(0x00); w.u32(0); });
  section(10, (w) => {
    const body = new ByteWriter(16);
    body.u32(0); // no locals
    body.byte2(Op.local_get, 1);
    body.byte2(Op.local_get, 2);
    body.byte2(Op.local_get, 3);
    body.byte2(Op.local_get, 0);
    body.byte(CALL_INDIRECT);
    body.byte2(0, 0); // type 0, table 0
    body.byte(Op.end);
    w.u32(1);
    w.u32(body.length);
    w.append(body.finish());
  });
  return out.finish();
}
