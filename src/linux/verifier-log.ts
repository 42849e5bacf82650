/**
 * Reading the kernel verifier's log: its closing statistics lines and the line that says why a
 * program was refused (the last line that is not a statistic).
 */

export interface VerifierLogSummary {
  /** `processed N insns`, when the log got that far. */
  processedInsns?: number;
  /** `verification time N usec` (log level with BPF_LOG_STATS, 4). */
  timeUs?: number;
  /** `stack depth A+B...` as printed. */
  stackDepth?: string;
  /** The last line that is not a statistic: on failure, the reason. */
  lastLine: string;
}

const STATS_LINE = /^(processed \d+ insns|verification time \d+ usec|stack depth [\d+]+|max_states_per_insn|\s*$)/;

export function summarizeVerifierLog(log: string): VerifierLogSummary {
  const lines = log.split('\n');
  const processed = /processed (\d+) insns/.exec(log);
  const time = /verification time (\d+) usec/.exec(log);
  const stack = /stack depth ([\d+]+)/.exec(log);
  let lastLine = '';
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!STATS_LINE.test(line)) {
      lastLine = line.trim();
      break;
    }
  }
  return {
    ...(processed ? { processedInsns: Number(processed[1]) } : {}),
    ...(time ? { timeUs: Number(time[1]) } : {}),
    ...(stack ? { stackDepth: stack[1]! } : {}),
    lastLine,
  };
}
