import { TsbpfError } from '../../errors.js';

/**
 * A pcap-filter expression that cannot be compiled. `message` carries libpcap's wording (so users of
 * tcpdump recognise it); `location.column` is the 1-based column of the offending token when known.
 */
export class FilterError extends TsbpfError {
  override name = 'FilterError';
  /** libpcap's error text without the location prefix. */
  readonly reason: string;
  constructor(reason: string, column?: number, code = 'FILTER_SEMANTIC') {
    super(code, reason, column === undefined ? {} : { line: 1, column });
    this.reason = reason;
  }
}

/** The expression does not parse (libpcap: "can't parse filter expression: syntax error"). */
export class FilterSyntaxError extends FilterError {
  override name = 'FilterSyntaxError';
  constructor(reason: string, column?: number) {
    super(reason, column, 'FILTER_SYNTAX');
  }
}
