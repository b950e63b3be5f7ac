/**
 * The `hemgpu` command line: train, eval, ablate, demo, structured, tune (one file each).
 * `hemgpu <command> --help` for each.
 * Usage errors (bad flags) exit with status 2 and a message naming the flag; other failures
 * exit with status 1.
 */
import { UsageError } from './args.ts';
import { handleInterrupts } from './interrupt.ts';
import { cmdTrain } from './train.ts';
import { runAblation, ABLATE_SPEC } from './ablate.ts';
import { DEMO_SPEC, runDemo } from './demo.ts';
import { runEval } from './eval.ts';
import { STRUCTURED_STOP, runStructured } from './structured.ts';
import { runTune } from './tune.ts';

const COMMANDS = `usage: hemgpu <command> [flags]

commands:
  demo     train hemnet, emanet, pooling and plain on the context task over 3 seeds; print mIoU and the EM diagnostics; write figures
  train    train one model (checkpoints, --resume, Ctrl-C saves)
  eval     mIoU and per-class IoU of a checkpoint, optionally at other numbers of EM iterations (Table 2)
  ablate   the paper's T × η ablation (Table 1) at small scale
  structured  o2p | ncuts: second-order pooling and normalized-cuts layers trained end to end, vs their baselines, over seeds
  tune     time the matmul tile shapes and HEM kernel paths on this adapter; keep the fastest for init({ tune: true })

hemgpu <command> --help describes each command's flags.`;

/** train's flags: the training flags and --overwrite. */
/**
 * A flag given twice on the command line is refused (node's parser would silently take the last
 * value, so `--steps 300 … --steps 30` would train 30). Only the user's argv is checked: the
 * commands put their recipe's flags before it themselves.
 */
function refuseRepeatedFlags(argv: readonly string[]): void {
  const values = new Map<string, string[]>();
  argv.forEach((a, i) => {
    if (!a.startsWith('--') || a === '--') return;
    const [name, inline] = [a.slice(2).split('=')[0]!, a.includes('=') ? a.slice(a.indexOf('=') + 1) : undefined];
    const value = inline ?? (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[i + 1]! : '');
    values.set(name, [...(values.get(name) ?? []), value]);
  });
  for (const [name, vs] of values) {
    if (vs.length > 1) throw new UsageError(`--${name}: given ${vs.length} times (${vs.map((v) => (v === '' ? '(no value)' : v)).join(', ')}); give it once.`);
  }
}

/**
 * Run a command; the exit status: 0, 1 (a failure), 2 (a usage error), 130 (stopped by Ctrl-C
 * after saving) or 143 (stopped by SIGTERM after saving).
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const long = command === 'train' || command === 'demo' || command === 'ablate' || command === 'structured';
  const interrupts =
    long && !rest.includes('--help') && !rest.includes('-h') ? handleInterrupts(`hemgpu ${command}`, command === 'structured' ? STRUCTURED_STOP : undefined) : null;
  try {
    refuseRepeatedFlags(rest);
    switch (command) {
      case 'train':
        await cmdTrain(rest, interrupts);
        break;
      case 'eval':
        await runEval(rest);
        break;
      case 'ablate':
        await runAblation(rest, interrupts);
        break;
      case 'demo':
        await runDemo(rest, interrupts);
        break;
      case 'structured':
        await runStructured(rest, interrupts);
        break;
      case 'tune':
        await runTune(rest);
        break;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(COMMANDS);
        break;
      default:
        throw new UsageError(`hemgpu: unknown command '${command}'.\n\n${COMMANDS}`);
    }
    return interrupts?.exitCode() ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    console.error(`hemgpu ${command}: ${(err as Error).message}`);
    return 1;
  } finally {
    interrupts?.dispose();
  }
}

export { ABLATE_SPEC, DEMO_SPEC };
export { releaseGpu } from './interrupt.ts';
