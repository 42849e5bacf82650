import { existsSync } from 'node:fs';
import { BtfError, btfFromElf, dumpBtfC, dumpBtfRaw, parseBtf, type Btf } from '../../btf/index.js';
import { parseElf } from '../../elf/index.js';
import { TsbpfError } from '../../errors.js';
import { EXIT_OK, UsageError, type Command } from '../command.js';
import { parseCommandArgs, readInputFile } from '../object-args.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

const usage = `usage: tsbpf btf dump (OBJ | vmlinux | FILE) [--format raw|c]

Prints BTF types the way \`bpftool btf dump file\` does: raw (default) lists every type with its id;
c prints C declarations. OBJ is an ELF object (its .BTF section), \`vmlinux\` the running kernel's
${VMLINUX}, FILE a raw BTF blob.`;

export function loadBtfFrom(path: string): Btf {
  const file = path === 'vmlinux' ? VMLINUX : path;
  if (path === 'vmlinux' && !existsSync(VMLINUX)) throw new TsbpfError('cli/no-vmlinux', `${VMLINUX} does not exist: this kernel has no BTF`);
  const bytes = readInputFile(file, 'BTF source');
  if (bytes[0] === 0x7f && bytes[1] === 0x45) {
    const btf = btfFromElf(parseElf(bytes, { fileName: file }));
    if (!btf) throw new TsbpfError('cli/no-btf', `${file} has no .BTF section`);
    return btf;
  }
  try {
    return parseBtf(bytes);
  } catch (e) {
    if (e instanceof BtfError) throw e.withLocation({ file });
    throw e;
  }
}

export const command: Command = {
  name: 'btf',
  summary: 'dump BTF types from an object or vmlinux',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, { format: { type: 'string', default: 'raw' } });
    const [sub, path, ...rest] = positionals;
    if (sub !== 'dump' || path === undefined || rest.length) throw new UsageError('expected: btf dump OBJ');
    if (values.format !== 'raw' && values.format !== 'c') throw new UsageError(`--format must be raw or c, not ${values.format}`);
    const btf = loadBtfFrom(path);
    io.stdout(values.format === 'c' ? dumpBtfC(btf) : dumpBtfRaw(btf));
    return EXIT_OK;
  },
};
