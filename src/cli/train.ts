/**
 * `hemgpu train`: one model, from scratch or resumed (src/cli/resume.ts); a checkpoint, the loss
 * and mIoU curves, samples and result.json in --out. It never replaces another run's checkpoint.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adapterInfo } from '../index.node.ts';
import { startEngine } from './start-engine.ts';
import { TRAIN_SPEC, UsageError, parseTrainFlags, usage, type Spec, type TrainFlags } from './args.ts';
import { train, type TrainResult } from '../train/trainer.ts';
import { resumeFlags } from './resume.ts';
import { figurePaths, writeLossCurves, writeMiouCurves, writeSamples } from './figures.ts';
import { consoleHooks, printResult } from './console.ts';
import type { Interrupts } from './interrupt.ts';
import { lockOutDir } from './out-dir.ts';

/** train's flags: the training flags and --overwrite. */
export const TRAIN_CMD_SPEC: Spec = {
  ...TRAIN_SPEC,
  overwrite: { type: 'boolean', help: "replace the checkpoint --out already holds (without it, train refuses a directory holding another run's checkpoint)" },
};

export async function cmdTrain(argv: string[], interrupts: Interrupts | null): Promise<void> {
  const parsed = parseTrainFlags(argv, 'train', TRAIN_CMD_SPEC);
  if (!parsed) {
    console.log(usage('train', 'Train one segmentation model (hemnet, emanet, pooling or plain) on digit scenes or PASCAL VOC.', TRAIN_CMD_SPEC));
    return;
  }
  // --resume: the checkpoint's config, with the explicit flags the rules allow (src/cli/resume.ts).
  const flags = parsed.resume ? await resumeFlags(parsed) : parsed;
  refuseOtherCheckpoint(flags);
  const unlock = lockOutDir(flags.out, 'train');
  try {
    await startEngine();
    console.log(`hemgpu train: ${flags.model} on ${adapterInfo().description || adapterInfo().device}; output ${flags.out}`);
    const hooks = consoleHooks(flags.model, flags.quiet, interrupts);
    let r: TrainResult;
    try {
      r = await train(flags, hooks);
    } finally {
      hooks.stop();
    }
    printResult(flags.model, r);
    if (r.interrupted) {
      // Saved; the figures and result.json wait for a finished run.
      r.model.dispose();
      return;
    }
    const figs = figurePaths(flags.out);
    await writeLossCurves(figs.loss!, [{ name: flags.model, history: r.history }]);
    if (r.history.val.length > 1) await writeMiouCurves(figs.miou!, [{ name: flags.model, history: r.history }]);
    await writeSamples(figs.samples!, r.model, r.val);
    writeFileSync(
      join(flags.out, 'result.json'),
      JSON.stringify({ flags, miou: r.miou, iou: r.iou, steps: r.steps, imagesPerSecond: r.imagesPerSecond, history: r.history }, null, 2),
    );
    r.model.dispose();
  } finally {
    unlock();
  }
}

/**
 * A run never replaces another run's checkpoint: --out holding a checkpoint is refused, before
 * any GPU work, unless this run resumes that very checkpoint or --overwrite is given.
 */
function refuseOtherCheckpoint(flags: TrainFlags): void {
  const existing = join(flags.out, 'checkpoint.safetensors');
  if (!existsSync(existing) || flags.overwrite) return;
  if (flags.resume !== null && resolve(flags.resume) === resolve(existing)) return;
  throw new UsageError(
    `--out ${flags.out}: it holds the checkpoint of another run (${existing}), which this run would replace. ` +
      `Continue that run with --resume ${existing}, give another --out, or add --overwrite to replace it.`,
  );
}
