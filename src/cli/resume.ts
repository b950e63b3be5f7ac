/**
 * `hemgpu train --resume`: a checkpoint is the run. The flags left out take the checkpoint's
 * stored config (not the CLI defaults); a training flag given with another value is refused,
 * naming the flag and both values, unless --allow-change names it (or is 'all'); the trainer
 * then records each change in the checkpoint's history. Flags that do not change training
 * (--out, --eval-every, --checkpoint-every, --quiet) may differ freely.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadCheckpoint } from '../io/checkpoint-file.ts';
import { verifyCheckpoint } from '../train/checkpoint-verify.ts';
import { MODEL_SHAPE_FIELDS, settingEntries, type TrainConfig } from '../train/config.ts';
import { UsageError, type TrainFlags } from './args.ts';

/** The flags a resumed run trains with: the checkpoint's config, with the explicit flags the rules allow. */
export async function resumeFlags(flags: TrainFlags): Promise<TrainFlags> {
  const path = flags.resume!;
  if (!existsSync(path)) throw new Error(`--resume: no checkpoint at ${path}.`);
  const info = verifyCheckpoint(await loadCheckpoint(path), path);
  const saved = info.config;
  const out: Record<string, unknown> = { ...flags };
  const refused: string[] = [];
  for (const [k, spec] of settingEntries()) {
    const key = k as keyof TrainConfig;
    if (key === 'resume') continue;
    // Without --out a resumed run writes beside the checkpoint it resumes, wherever that has moved
    // (not into the directory recorded in it, which may hold another run by now).
    if (key === 'out' && !flags.given.includes('out')) {
      out.out = dirname(path);
      continue;
    }
    if (!flags.given.includes(spec.flag)) {
      out[key] = saved[key];
      continue;
    }
    if (!spec.training || flags[key] === saved[key]) continue;
    if (MODEL_SHAPE_FIELDS.includes(key)) {
      refused.push(
        `--${spec.flag}: the checkpoint ${path} was trained with --${spec.flag} ${String(saved[key])}; given ${String(flags[key])}. ` +
          `Its weights have the shape --${spec.flag} ${String(saved[key])} gives, so a resumed run cannot change it (not with --allow-change either): leave --${spec.flag} out, or train a new run without --resume.`,
      );
      continue;
    }
    if (flags.allowChange === 'all' || flags.allowChange.includes(spec.flag)) continue;
    refused.push(
      `--${spec.flag}: the checkpoint ${path} was trained with --${spec.flag} ${String(saved[key])}; given ${String(flags[key])}. ` +
        `Leave --${spec.flag} out to continue with ${String(saved[key])}, or pass --allow-change ${spec.flag} to continue with ${String(flags[key])} (recorded in the checkpoint's history)` +
        (key === 'steps' || key === 'warmup' || key === 'lr'
          ? '; the poly learning-rate schedule is planned over --steps, so a changed schedule does not repeat an uninterrupted run.'
          : '.'),
    );
  }
  if (refused.length) throw new UsageError(refused.join('\n'));
  return out as unknown as TrainFlags;
}
