import { TsbpfError, type ErrorLocation } from '../errors.js';

/**
 * A capture file that cannot be read (further). Codes: net/bad-magic, net/truncated,
 * net/bad-header, net/bad-block, net/bad-packet, net/no-interface, net/unsupported.
 * `location.packet` is the index of the packet that could not be read; packets before it were fine.
 */
export class CaptureError extends TsbpfError {
  override name = 'CaptureError';
  constructor(code: string, message: string, location: ErrorLocation = {}) {
    super(code, message, location);
  }
}
