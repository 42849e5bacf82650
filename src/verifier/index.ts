export { verify, type VerifierProgram, type VerifierOptions, type VerifierResult, type VerifierError, type VerifierMapRef, type InitialRegister } from './verify.js';
