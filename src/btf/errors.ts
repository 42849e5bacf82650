import { TsbpfError, type ErrorLocation } from '../errors.js';

/** Where in BTF something is wrong: a byte offset (in ErrorLocation) and/or a type id. */
export interface BtfErrorLocation extends ErrorLocation {
  typeId?: number;
}

/** Codes: btf/truncated, btf/bad-magic, btf/bad-version, btf/bad-header, btf/bad-kind, btf/bad-string,
 *  btf/bad-type-id, btf/bad-type, btf-ext/truncated, btf-ext/bad-header, btf-ext/bad-record,
 *  core/bad-access-string, core/bad-relo, core/bad-insn. */
export class BtfError extends TsbpfError {
  override name = 'BtfError';
  readonly typeId: number | undefined;
  /** The message without its location prefix. */
  readonly detail: string;

  constructor(code: string, detail: string, location: BtfErrorLocation = {}) {
    const { typeId, ...rest } = location;
    super(code, (typeId !== undefined ? `type [${typeId}]: ` : '') + detail, rest);
    this.typeId = typeId;
    this.detail = detail;
  }

  /** The same error with more location filled in (a file and section once the caller knows them). */
  withLocation(extra: BtfErrorLocation): BtfError {
    return new BtfError(this.code, this.detail, { ...this.location, typeId: this.typeId, ...extra });
  }
}
