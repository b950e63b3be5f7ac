/**
 * The CLI's tests' two ways in: `capture` runs `main` in-process with what it prints, and
 * `usageErrorOf` the UsageError a train command line raises.
 */
import { expect } from 'vitest';
import { UsageError, parseTrainFlags } from '../../src/cli/args.ts';

/** Run `hemgpu <argv>` in-process: its exit code and everything it printed (stdout and stderr). */
export async function capture(argv: string[]): Promise<{ code: number; text: string }> {
  // Loaded on first use: the flag checks alone (usageErrorOf) need none of the commands.
  const { main } = await import('../../src/cli/main.ts');
  const lines: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  console.error = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, text: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** The UsageError `hemgpu train <argv>`'s flags raise (the test fails when they parse). */
export function usageErrorOf(argv: string[]): UsageError {
  let err: unknown = null;
  try {
    parseTrainFlags(argv);
  } catch (e) {
    err = e;
  }
  expect(err, `${argv.join(' ')} should be refused`).toBeInstanceOf(UsageError);
  return err as UsageError;
}
