import { IMPORT_FN_NAMES, IMPORT_MODULE, IMPORT_SIGNATURES, IMPORT_TABLE_NAME, IMPORT_TYPE_OF } from './layout.js';
import { ByteWriter, ModuleBuilder, Op, ValType, encodeLocals } from './wasm.js';

/**
 * How a program's module reaches the JS side (helpers, faults, LD_ABS, checks): through
 * an imported table of wasm functions and `call_indirect`, not function imports. V8 compiles a
 * wasm-to-JS wrapper per imported function signature for every module it compiles, and again at
 * instantiation when a JS function's arity differs (~40 us each): with these imports, about half the
 * cost of loading a 1,000-instruction program. A table import costs nothing to compile. The table's functions are
 * a small fixed module's (the forwarders), each calling one of the program's JS functions: compiled
 * once per process, so its wrappers are too; each program instantiates it with its own functions.
 */

/** The JS functions behind the table, by name (IMPORT_FN_NAMES), as the program's loader supplies them. */
export type ImportFunctions = Record<(typeof IMPORT_FN_NAMES)[number], (...args: number[]) => number | undefined>;

let forwarders: WebAssembly.Module | undefined;

/** The table a program's module imports: slot k (ImportFn) forwards to functions[IMPORT_FN_NAMES[k]]. */
export function importTable(functions: ImportFunctions): WebAssembly.Table {
  forwarders ??= new WebAssembly.Module(encodeForwarders());
  const instance = new WebAssembly.Instance(forwarders, { [IMPORT_MODULE]: functions });
  return instance.exports[IMPORT_TABLE_NAME] as WebAssembly.Table;
}

/** Declare the import signatures as types 0, 1, 2 of a module (before any other type). */
export function declareImportTypes(m: ModuleBuilder): void {
  IMPORT_SIGNATURES.forEach(({ params, result }, index) => {
    const type = m.type(new Array<ValType>(params).fill(ValType.i32), result ? [ValType.i32] : []);
    if (type !== index) throw new Error('import signatures must be the first types of a module');
  });
}

/** Call the function in slot `fn` of the import table (its arguments are on the stack). */
export function callImport(w: ByteWriter, fn: number): void {
  w.byte(Op.i32_const); w.s32(fn);
  w.byte(Op.call_indirect); w.u32(IMPORT_TYPE_OF[fn]!); w.byte(0);
}

/** Imports the JS functions, defines one forwarder per slot, exports the table holding them. */
function encodeForwarders(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  declareImportTypes(m);
  IMPORT_FN_NAMES.forEach((name, k) => m.importFunction(IMPORT_MODULE, name, IMPORT_TYPE_OF[k]!));
  const own = IMPORT_FN_NAMES.map((_, k) => {
    const fn = m.declareFunction(IMPORT_TYPE_OF[k]!);
    const w = new ByteWriter(16);
    encodeLocals(w, []);
    for (let p = 0; p < IMPORT_SIGNATURES[IMPORT_TYPE_OF[k]!].params; p++) { w.byte(Op.local_get); w.u32(p); }
    w.byte(Op.call); w.u32(k);
    w.byte(Op.end);
    m.defineFunction(fn, w.finish());
    return fn;
  });
  m.table(own);
  m.exportTable(IMPORT_TABLE_NAME);
  return m.encode();
}
