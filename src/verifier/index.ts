export { verify, type VerifierProgram, type VerifierOptions, type VerifierResult, type VerifierError, type VerifierMapRef } from './verify.js';
