/**
 * Ctrl-C and SIGTERM for the long-running commands (train, demo, ablate).
 *
 * The first SIGINT or SIGTERM asks the run to stop: a notice on its own line (the progress bar is
 * stopped first, so it cannot draw over it), the current step finishes (a run's first step, which
 * compiles the pipelines, is dropped instead and nothing new is written), a checkpoint is written
 * without the validation pass, and the command exits with 130 (SIGINT) or 143 (SIGTERM), the
 * shell's 128 + signal number. A second signal quits at once, without saving: it waits briefly for
 * the GPU work in flight and destroys the device before `process.exit`, since exiting while Dawn
 * still runs work can crash the process (a segfault). A checkpoint being written at that moment
 * is lost, but the previous one is intact: checkpoints are written to a temporary file and renamed.
 */
import { shutdown, sync } from '../device/engine.ts';

export interface Interrupts {
  /** The first signal received, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Called before a notice is written (the progress bar stops itself here). */
  beforeNotice: (() => void) | null;
  /**
   * Set by the console hooks while a run has not finished its first step: a stop then drops that
   * step (its recording compiles the GPU pipelines) and saves nothing new, and the notice says so.
   */
  beforeFirstStep: boolean;
  /** The exit status for the signal received: 130 for SIGINT, 143 for SIGTERM; 0 without one. */
  exitCode(): number;
  dispose(): void;
}

const CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };
const NAMES: Partial<Record<NodeJS.Signals, string>> = { SIGINT: 'Ctrl-C', SIGTERM: 'SIGTERM' };

/**
 * Wait up to `ms` for the submitted GPU work, then destroy the device: what a process does before
 * `process.exit`, since exiting while Dawn's (or SwiftShader's) threads still run work can crash it
 * (a segfault after a run stopped during its first step had already printed its last line).
 * bin/hemgpu.mjs calls it after every command; tests that run `main` in-process keep their engine.
 */
export async function releaseGpu(ms = 2000): Promise<void> {
  try {
    await Promise.race([sync(), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
  } catch {
    // No engine, or the device is lost: nothing left to wait for.
  }
  try {
    shutdown();
  } catch {
    // Already destroyed.
  }
}

/** Release the GPU (releaseGpu), then exit. */
async function exitCleanly(code: number): Promise<never> {
  await releaseGpu();
  process.exit(code);
}

/** Install the SIGINT/SIGTERM handlers of a command named `what` (e.g. 'hemgpu train'). */
/** What the notices say a stop does: the default is the trainer's (a checkpoint is saved). */
export interface StopWords {
  /** After "finishing this step, then …". */
  stopping: string;
  /** After "again — quitting now …". */
  again: string;
}

const CHECKPOINT_WORDS: StopWords = {
  stopping: 'saving a checkpoint (no validation pass) and exiting',
  again: 'without saving. The checkpoint on disk is the last complete one (a checkpoint being written is written to a temporary file and renamed, so the previous file is intact).',
};

export function handleInterrupts(what: string, words: StopWords = CHECKPOINT_WORDS): Interrupts {
  const state: Interrupts = {
    signal: null,
    beforeNotice: null,
    beforeFirstStep: false,
    exitCode: () => (state.signal ? (CODES[state.signal] ?? 130) : 0),
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
  const notice = (text: string): void => {
    state.beforeNotice?.();
    // \r and erase-line: start on a clean line even if something drew on this one.
    process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}\n${text}\n`);
  };
  function onSignal(sig: NodeJS.Signals): void {
    if (state.signal) {
      notice(`${what}: ${NAMES[sig] ?? sig} again — quitting now ${words.again}`);
      void exitCleanly(CODES[state.signal] ?? 130);
      return;
    }
    (state as { signal: NodeJS.Signals | null }).signal = sig;
    const doing = state.beforeFirstStep ? 'stopping before the first step ends (nothing new is saved) and exiting' : `finishing this step, then ${words.stopping}`;
    notice(`${what}: ${NAMES[sig] ?? sig} — ${doing}. ` + `${sig === 'SIGINT' ? 'Ctrl-C' : 'A second signal'} again quits at once without saving.`);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return state;
}
