export * from './types.js';
export { openObject, type OpenObjectOptions } from './open.js';
export { isDataSection } from './maps.js';
export { editMap, objectMap, type MapEdit } from './edit.js';
export * from './decode.js';
export { KCONFIG_MAP } from './externs.js';
export { kconfigValue, kernelVersionCode, parseKernelConfig, type KernelDescription } from './kconfig.js';
