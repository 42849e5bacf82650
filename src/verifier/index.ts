export { verify, type VerifierProgram, type VerifierOptions, type VerifierResult, type VerifierError, type VerifierMapRef, type InitialRegister, type GlobalFunction, type GlobalArg } from './verify.js';
export { globalFunctionsFromBtf } from './global-functions.js';
