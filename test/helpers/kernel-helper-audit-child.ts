import { HELPER_PROTOS } from '../../src/helpers/prototypes.js';
import { kernelHelperProbe } from './kernel-helper-audit.js';

/**
 * Run by kernel-table.test.ts under a loader without CAP_PERFMON and CAP_SYS_ADMIN: prints, as JSON,
 * the helpers with a prototype that such a loader may call from a socket filter.
 */
const kernelAllows = await kernelHelperProbe();
process.stdout.write(JSON.stringify(HELPER_PROTOS.filter((p) => kernelAllows('socket_filter', p.id)).map((p) => p.name)));
