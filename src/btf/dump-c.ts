/**
 * `bpftool btf dump file X format c`: the BTF as a compilable C header, in the order and spelling
 * libbpf's btf_dump produces (as of libbpf 1.1): types topologically ordered so that every embedded type
 * is defined before use, forward declarations where a pointer cycle needs one, name clashes renamed
 * `name___N`, explicit padding members and `__attribute__((packed))` where the layout requires them.
 * FUNC, VAR, DATASEC and DECL_TAG records are not printed.
 */
import type { Btf } from './btf.js';
import { BtfError } from './errors.js';
import { forEachTypeReference, type BtfComposite, type BtfEnum, type BtfEnum64, type BtfType } from './types.js';

const POINTER_BITS = 64;
const MAX_INDENT = 12;
/** Deeper nesting than any real BTF has means a reference cycle (malformed input). */
const MAX_DEPTH = 1000;
const MAX_PADDING_BITS = 1 << 20;

function tooDeep(id: number): never {
  throw new BtfError('btf/bad-type', 'type references nest too deep (a cycle?)', { typeId: id });
}

const enum Order {
  NotOrdered,
  Ordering,
  Ordered,
}
const enum Emit {
  NotEmitted,
  Emitting,
  Emitted,
}

const indent = (level: number): string => '\t'.repeat(Math.min(level, MAX_INDENT));
const isModifier = (t: BtfType): boolean =>
  t.kind === 'VOLATILE' || t.kind === 'CONST' || t.kind === 'RESTRICT' || t.kind === 'TYPE_TAG';

class CDumper {
  private readonly out: string[] = [];
  private readonly order: Uint8Array;
  private readonly emit: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly referenced: Uint8Array;
  private readonly nameResolved: Uint8Array;
  private readonly cachedNames: (string | undefined)[];
  private readonly typeNames = new Map<string, number>();
  private readonly identNames = new Map<string, number>();
  private queue: number[] = [];
  private declDepth = 0;
  private currentStruct = 0;

  constructor(private readonly btf: Btf) {
    const n = btf.typeCount;
    this.order = new Uint8Array(n);
    this.emit = new Uint8Array(n);
    this.fwdEmitted = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.nameResolved = new Uint8Array(n);
    this.cachedNames = new Array(n);
    this.order[0] = Order.Ordered;
    this.emit[0] = Emit.Emitted;
    this.markReferenced();
  }

  private t(id: number): BtfType {
    return this.btf.type(id) as BtfType;
  }

  private print(s: string): void {
    this.out.push(s);
  }

  text(): string {
    return this.out.join('');
  }

  private markReferenced(): void {
    const ref = (id: number): void => {
      this.referenced[id] = 1;
    };
    for (let id = this.btf.startId; id < this.btf.typeCount; id++) forEachTypeReference(this.t(id), ref);
  }

  dumpType(id: number): void {
    this.queue = [];
    this.orderType(id, false);
    for (const q of this.queue) this.emitType(q, 0);
  }

  /** Queues named definitions in dependency order; returns whether the type is a "strong" dependency. */
  private orderType(id: number, throughPointer: boolean, depth = 0): boolean {
    if (this.order[id] === Order.Ordered) return true;
    if (depth > MAX_DEPTH) tooDeep(id);
    const t = this.t(id);
    if (this.order[id] === Order.Ordering) {
      // A loop that a forward declaration resolves (pointer to a named struct).
      if ((t.kind === 'STRUCT' || t.kind === 'UNION') && throughPointer && t.name !== '') return false;
      throw new BtfError('btf/bad-type', 'unsatisfiable type cycle', { typeId: id });
    }
    switch (t.kind) {
      case 'INT':
      case 'FLOAT':
        this.order[id] = Order.Ordered;
        return false;
      case 'PTR': {
        const strong = this.orderType(t.type, true, depth + 1);
        this.order[id] = Order.Ordered;
        return strong;
      }
      case 'ARRAY':
        return this.orderType(t.type, false, depth + 1);
      case 'STRUCT':
      case 'UNION':
        if (throughPointer && t.name !== '') return false;
        this.order[id] = Order.Ordering;
        for (const m of t.members) this.orderType(m.type, false, depth + 1);
        if (t.name !== '') this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      case 'ENUM':
      case 'ENUM64':
      case 'FWD':
        if (t.name !== '' || !this.referenced[id]) this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      case 'TYPEDEF': {
        const strong = this.orderType(t.type, throughPointer, depth + 1);
        if (throughPointer && !strong) return false;
        this.queue.push(id);
        this.order[id] = Order.Ordered;
        return true;
      }
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
        return this.orderType(t.type, throughPointer, depth + 1);
      case 'FUNC_PROTO': {
        let strong = this.orderType(t.returnType, throughPointer, depth + 1);
        for (const p of t.params) if (this.orderType(p.type, throughPointer, depth + 1)) strong = true;
        return strong;
      }
      default:
        this.order[id] = Order.Ordered;
        return false;
    }
  }

  private static isBlacklisted(t: BtfType): boolean {
    return t.name === '__builtin_va_list';
  }

  private emitType(id: number, containerId: number, depth = 0): void {
    if (this.emit[id] === Emit.Emitted) return;
    if (depth > MAX_DEPTH) tooDeep(id);
    const topLevel = containerId === 0;
    const t = this.t(id);
    if (this.emit[id] === Emit.Emitting) {
      if (this.fwdEmitted[id]) return;
      if (t.kind === 'STRUCT' || t.kind === 'UNION') {
        if (id === containerId || t.name === '') return;
        this.print(this.structFwd(id, t) + ';\n\n');
        this.fwdEmitted[id] = 1;
      } else if (t.kind === 'TYPEDEF') {
        if (!CDumper.isBlacklisted(t)) {
          this.emitTypedefDef(id, t.type);
          this.print(';\n\n');
        }
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    switch (t.kind) {
      case 'INT':
        this.emit[id] = Emit.Emitted;
        break;
      case 'ENUM':
      case 'ENUM64':
        if (topLevel) {
          this.emitEnumDef(id, t, 0);
          this.print(';\n\n');
        }
        this.emit[id] = Emit.Emitted;
        break;
      case 'PTR':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'ARRAY':
        this.emitType(t.type, containerId, depth + 1);
        break;
      case 'FWD':
        this.print(this.fwdDef(id, t.fwdKind) + ';\n\n');
        this.emit[id] = Emit.Emitted;
        break;
      case 'TYPEDEF':
        this.emit[id] = Emit.Emitting;
        this.emitType(t.type, id, depth + 1);
        if (!this.fwdEmitted[id] && !CDumper.isBlacklisted(t)) {
          this.emitTypedefDef(id, t.type);
          this.print(';\n\n');
        }
        this.emit[id] = Emit.Emitted;
        break;
      case 'STRUCT':
      case 'UNION':
        this.emit[id] = Emit.Emitting;
        // A definition prints every member, so their types need definitions or declarations first.
        if (topLevel || t.name === '') {
          const inner = t.name === '' ? containerId : id;
          for (const m of t.members) this.emitType(m.type, inner, depth + 1);
        } else if (!this.fwdEmitted[id] && id !== containerId) {
          this.print(this.structFwd(id, t) + ';\n\n');
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.emitStructDef(id, t, 0);
          this.print(';\n\n');
          this.emit[id] = Emit.Emitted;
        } else {
          this.emit[id] = Emit.NotEmitted;
        }
        break;
      case 'FUNC_PROTO':
        this.emitType(t.returnType, containerId, depth + 1);
        for (const p of t.params) this.emitType(p.type, containerId, depth + 1);
        break;
      default:
        break;
    }
  }

  // --- names -------------------------------------------------------------------------------------

  private static countName(map: Map<string, number>, name: string): number {
    const n = (map.get(name) ?? 0) + 1;
    map.set(name, n);
    return n;
  }

  private resolveName(id: number, map: Map<string, number>): string {
    const t = this.t(id);
    if (t.name === '') return '';
    if (this.nameResolved[id]) return this.cachedNames[id] ?? t.name;
    this.nameResolved[id] = 1;
    if (t.kind === 'FWD' || (t.kind === 'ENUM' && t.values.length === 0)) return t.name;
    const dups = CDumper.countName(map, t.name);
    if (dups > 1) this.cachedNames[id] = `${t.name}___${dups}`;
    return this.cachedNames[id] ?? t.name;
  }

  private typeName(id: number): string {
    return this.resolveName(id, this.typeNames);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.identNames);
  }

  // --- definitions -------------------------------------------------------------------------------

  private structFwd(id: number, t: BtfComposite): string {
    const name = this.typeName(id);
    return (t.kind === 'STRUCT' ? 'struct' : 'union') + (t.name !== '' ? ' ' : '') + name;
  }

  private fwdDef(id: number, fwdKind: 'struct' | 'union'): string {
    return `${fwdKind} ${this.typeName(id)}`;
  }

  private emitTypedefDef(id: number, target: number): void {
    const name = this.identName(id);
    if (target === 0 && name === '__gnuc_va_list') {
      this.print('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.print('typedef ');
    this.emitTypeDecl(target, name, 0);
  }

  private emitEnumDef(id: number, t: BtfEnum | BtfEnum64, level: number): void {
    this.print('enum' + (t.name !== '' ? ' ' : '') + this.typeName(id));
    if (t.values.length === 0) return;
    this.print(' {');
    for (const v of t.values) {
      // Enumerators share the namespace of typedef names.
      const dups = CDumper.countName(this.identNames, v.name);
      const name = dups > 1 ? `${v.name}___${dups}` : v.name;
      const suffix = t.kind === 'ENUM64' ? (t.signed ? 'LL' : 'ULL') : '';
      this.print(`\n${indent(level + 1)}${name} = ${v.value}${suffix},`);
    }
    // libbpf 1.1 prints no mode(byte)/mode(word) attributes for odd-sized enums (later versions do).
    this.print(`\n${indent(level)}}`);
  }

  private isPacked(t: BtfComposite): boolean {
    let maxAlign = 1;
    for (const m of t.members) {
      const align = this.btf.resolveAlignment(m.type);
      if (align && m.bitfieldSize === 0 && m.bitOffset % (8 * align) !== 0) return true;
      maxAlign = Math.max(align, maxAlign);
    }
    return t.size % maxAlign !== 0;
  }

  private emitStructDef(id: number, t: BtfComposite, level: number): void {
    const isStruct = t.kind === 'STRUCT';
    this.currentStruct = id;
    const align = this.btf.resolveAlignment(id);
    const packed = isStruct && this.isPacked(t);
    this.print((isStruct ? 'struct' : 'union') + (t.name !== '' ? ' ' : '') + this.typeName(id) + ' {');
    let off = 0;
    let prevBitfield = false;
    for (const m of t.members) {
      const memberAlign = packed ? 1 : this.btf.resolveAlignment(m.type);
      const inBitfield = prevBitfield && m.bitfieldSize !== 0;
      this.emitBitPadding(off, m.bitOffset, memberAlign, inBitfield, level + 1);
      this.print(`\n${indent(level + 1)}`);
      this.emitTypeDecl(m.type, m.name, level + 1);
      if (m.bitfieldSize) {
        this.print(`: ${m.bitfieldSize}`);
        off = m.bitOffset + m.bitfieldSize;
        prevBitfield = true;
      } else {
        let size = 0;
        try {
          size = Math.max(0, this.btf.resolveSize(m.type));
        } catch {
          size = 0;
        }
        off = m.bitOffset + size * 8;
        prevBitfield = false;
      }
      this.print(';');
    }
    if (isStruct) this.emitBitPadding(off, t.size * 8, align, false, level + 1);
    if (t.members.length || t.size) this.print(`\n${indent(level)}}`);
    else this.print('}');
    if (packed) this.print(' __attribute__((packed))');
  }

  /** Explicit `type: bits;` members for a gap the compiler would not leave by natural alignment. */
  private emitBitPadding(curOff: number, nextOff: number, nextAlign: number, inBitfield: boolean, level: number): void {
    if (curOff >= nextOff) return;
    // Real layouts never leave megabit holes; a malformed offset or size would print millions of lines.
    if (nextOff - curOff > MAX_PADDING_BITS) {
      throw new BtfError('btf/bad-type', `${nextOff - curOff}-bit gap between members is implausible`, {
        typeId: this.currentStruct,
      });
    }
    const pads: [string, number][] = [['long', POINTER_BITS], ['int', 32], ['short', 16], ['char', 8]];
    const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;
    let padType = 'char';
    let padBits = 8;
    let newOff = curOff;
    for (const [name, bits] of pads) {
      padType = name;
      padBits = bits;
      newOff = roundUp(curOff, bits);
      if (newOff <= nextOff) break;
    }
    if (newOff > curOff && newOff <= nextOff) {
      if (
        inBitfield ||
        (newOff === nextOff && roundUp(curOff, nextAlign * 8) !== newOff) ||
        (newOff !== nextOff && nextOff - newOff <= newOff - curOff)
      ) {
        this.print(`\n${indent(level)}${padType}: ${inBitfield ? newOff - curOff : 0};`);
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      const bits = Math.min(nextOff - curOff, padBits);
      if (bits === padBits) {
        this.print(`\n${indent(level)}${padType}: ${padBits};`);
        curOff += bits;
        continue;
      }
      for (let i = pads.length - 1; i >= 0; i--) {
        const [name, size] = pads[i]!;
        if (size < bits) continue;
        this.print(`\n${indent(level)}${name}: ${bits};`);
        curOff += bits;
        break;
      }
    }
  }

  // --- declarators -------------------------------------------------------------------------------

  /** `<type> <name>` in C declarator syntax: pointers, arrays and function pointers wrap the name. */
  emitTypeDecl(id: number, fieldName: string, level: number): void {
    if (++this.declDepth > MAX_DEPTH) tooDeep(id);
    try {
      this.emitTypeDeclInner(id, fieldName, level);
    } finally {
      this.declDepth--;
    }
  }

  private emitTypeDeclInner(id: number, fieldName: string, level: number): void {
    const stack: number[] = [];
    for (;;) {
      stack.push(id);
      if (id === 0) break;
      if (stack.length > MAX_DEPTH) tooDeep(id);
      const t = this.t(id);
      if (
        t.kind === 'PTR' || t.kind === 'VOLATILE' || t.kind === 'CONST' || t.kind === 'RESTRICT' ||
        t.kind === 'FUNC_PROTO' || t.kind === 'TYPE_TAG'
      ) {
        id = t.kind === 'FUNC_PROTO' ? t.returnType : t.type;
      } else if (t.kind === 'ARRAY') {
        id = t.type;
      } else {
        break;
      }
    }
    this.emitTypeChain(stack, fieldName, level);
  }

  private emitMods(stack: number[]): void {
    while (stack.length) {
      const id = stack[stack.length - 1]!;
      if (id === 0) return;
      const t = this.t(id);
      if (t.kind === 'VOLATILE') this.print('volatile ');
      else if (t.kind === 'CONST') this.print('const ');
      else if (t.kind === 'RESTRICT') this.print('restrict ');
      else return;
      stack.pop();
    }
  }

  private dropMods(stack: number[]): void {
    while (stack.length) {
      const id = stack[stack.length - 1]!;
      if (id === 0 || !isModifier(this.t(id))) return;
      stack.pop();
    }
  }

  private emitName(name: string, lastWasPointer: boolean): void {
    this.print((name !== '' && !lastWasPointer ? ' ' : '') + name);
  }

  private emitTypeChain(stack: number[], fieldName: string, level: number): void {
    let lastWasPointer = true;
    while (stack.length) {
      const id = stack.pop()!;
      if (id === 0) {
        this.emitMods(stack);
        this.print('void');
        lastWasPointer = false;
        continue;
      }
      const t = this.t(id);
      switch (t.kind) {
        case 'INT':
        case 'FLOAT':
          this.emitMods(stack);
          this.print(t.name);
          break;
        case 'STRUCT':
        case 'UNION':
          this.emitMods(stack);
          if (t.name === '') this.emitStructDef(id, t, level);
          else this.print(this.structFwd(id, t));
          break;
        case 'ENUM':
        case 'ENUM64':
          this.emitMods(stack);
          if (t.name === '') this.emitEnumDef(id, t, level);
          else this.print(`enum ${this.typeName(id)}`);
          break;
        case 'FWD':
          this.emitMods(stack);
          this.print(this.fwdDef(id, t.fwdKind));
          break;
        case 'TYPEDEF':
          this.emitMods(stack);
          this.print(this.identName(id));
          break;
        case 'PTR':
          this.print(lastWasPointer ? '*' : ' *');
          break;
        case 'VOLATILE':
          this.print(' volatile');
          break;
        case 'CONST':
          this.print(' const');
          break;
        case 'RESTRICT':
          this.print(' restrict');
          break;
        case 'TYPE_TAG':
          this.emitMods(stack);
          this.print(` __attribute__((btf_type_tag("${t.name}")))`);
          break;
        case 'ARRAY': {
          this.dropMods(stack);
          if (stack.length === 0) {
            this.emitName(fieldName, lastWasPointer);
            this.print(`[${t.nelems}]`);
            return;
          }
          const next = stack[stack.length - 1]!;
          const multidim = next !== 0 && this.t(next).kind === 'ARRAY';
          if (fieldName !== '' && !lastWasPointer) this.print(' ');
          if (!multidim) this.print('(');
          this.emitTypeChain(stack, fieldName, level);
          if (!multidim) this.print(')');
          this.print(`[${t.nelems}]`);
          return;
        }
        case 'FUNC_PROTO': {
          this.dropMods(stack);
          if (stack.length) {
            this.print(' (');
            this.emitTypeChain(stack, fieldName, level);
            this.print(')');
          } else {
            this.emitName(fieldName, lastWasPointer);
          }
          this.print('(');
          const params = t.params;
          if (params.length === 0 || (params.length === 1 && params[0]!.type === 0)) {
            this.print('void)');
            return;
          }
          params.forEach((p, i) => {
            if (i > 0) this.print(', ');
            if (i === params.length - 1 && p.type === 0) this.print('...');
            else this.emitTypeDecl(p.type, p.name, level);
          });
          this.print(')');
          return;
        }
        default:
          return;
      }
      lastWasPointer = t.kind === 'PTR';
    }
    this.emitName(fieldName, lastWasPointer);
  }
}

/** The whole BTF (for split BTF: its own types) as bpftool's `format c` header. */
export function dumpBtfC(btf: Btf): string {
  const d = new CDumper(btf);
  const head =
    '#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n' +
    '#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n';
  for (let id = btf.startId; id < btf.typeCount; id++) d.dumpType(id);
  return (
    head +
    d.text() +
    '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n'
  );
}
