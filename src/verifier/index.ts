export { verify, type VerifierProgram, type VerifierOptions, type VerifierResult, type VerifierError, type VerifierMapRef, type InitialRegister, type GlobalFunction, type GlobalArg, type FunctionInfo } from './verify.js';
export { funcInfoFromBtf, globalFunctionsFromBtf, programBtfFacts } from './global-functions.js';
