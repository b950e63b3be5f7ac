/** Console output while training: a progress bar on a terminal, a line every 10% otherwise. */
import cliProgress from 'cli-progress';
import type { TrainHooks, TrainResult } from '../train/trainer.ts';
import type { Dataset } from '../train/batch.ts';
import type { Interrupts } from './interrupt.ts';
import { formatEmDiagnostics } from '../train/em-diagnostics.ts';

/**
 * Console hooks: a progress bar on a terminal, a line every 10% otherwise. With `interrupts`, a
 * signal stops training after the current step (the trainer then saves); the bar is stopped
 * before the notice is written, and the rest of the run reports in plain lines.
 */
export function consoleHooks(label: string, quiet: boolean, interrupts: Interrupts | null = null): TrainHooks & { stop(): void } {
  let bar: cliProgress.SingleBar | null = null;
  let lastPrinted = -1;
  if (interrupts) {
    interrupts.beforeNotice = () => {
      bar?.stop();
      bar = null;
    };
    // The run these hooks report has not finished a step yet (setup, then the compiling first step).
    interrupts.beforeFirstStep = true;
  }
  return {
    onStart({ step, total }) {
      if (quiet) return;
      if (process.stderr.isTTY) {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] step {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, step, { loss: '-', ips: '-' });
      }
    },
    onStep({ step, total, loss, imagesPerSecond }) {
      if (interrupts) interrupts.beforeFirstStep = false;
      if (quiet) return;
      if (bar) bar.update(step, { loss: loss.toFixed(4), ips: imagesPerSecond.toFixed(1) });
      else {
        const decile = Math.floor((10 * step) / total);
        if (decile !== lastPrinted || step === total) {
          lastPrinted = decile;
          console.log(`${label}: step ${step}/${total}  loss ${loss.toFixed(4)}  ${imagesPerSecond.toFixed(1)} img/s`);
        }
      }
    },
    onEval({ step, miou, em }) {
      if (quiet || bar) return;
      console.log(`${label}: step ${step}  validation mIoU ${miou.toFixed(4)}`);
      if (em) console.log(`${label}: step ${step}  ${formatEmDiagnostics(em)}`);
    },
    onCheckpoint(path, step) {
      if ((!quiet && !bar) || interrupts?.signal) console.log(`${label}: checkpoint ${path} (step ${step})`);
    },
    shouldStop: () => (interrupts?.signal ?? null) !== null,
    stop() {
      bar?.stop();
      bar = null;
      if (interrupts) {
        interrupts.beforeNotice = null;
        interrupts.beforeFirstStep = false;
      }
    },
  };
}

/** The legend of per-class IoU lists: the dataset's class names, or the digit scenes' classes. */
export function classLegend(d: Pick<Dataset, 'classes' | 'classNames'>): string {
  if (d.classNames) return d.classNames.map((n, i) => `${i} ${n}`).join(', ');
  return '0 = background, 1..10 = digits 0..9';
}

export function printResult(label: string, r: TrainResult): void {
  if (r.interrupted) {
    console.log(
      r.checkpoint === null
        ? `${label}: stopped before its first step; nothing was written.`
        : `${label}: interrupted at step ${r.steps} (no validation pass); checkpoint ${r.checkpoint}; continue with --resume ${r.checkpoint}`,
    );
    return;
  }
  console.log(
    `${label}: ${r.interrupted ? 'interrupted at' : 'trained'} step ${r.steps}; validation mIoU ${r.miou.toFixed(4)}, pixel accuracy ${r.pixelAccuracy.toFixed(4)}; ` +
      // A resumed run with no step left (or one step: the first, which compiles the pipelines, is not timed) has no speed to report.
      `${r.imagesPerSecond > 0 ? `${r.imagesPerSecond.toFixed(1)} images/s` : 'no step timed in this run'}; checkpoint ${r.checkpoint}`,
  );
  console.log(`  per-class IoU (${classLegend(r.val)}): ${r.iou.map((v) => (Number.isNaN(v) ? '  -  ' : v.toFixed(3))).join(' ')}`);
  const regions = regionLine(r.regionAccuracy);
  if (regions) console.log(`  ${regions}`);
  if (r.em) console.log(`  ${formatEmDiagnostics(r.em)}`);
}

/** "pixel accuracy on fragments 0.612, whole 0.901" for a dataset with regions (the context task), else ''. */
export function regionLine(acc: Record<string, number>): string {
  const parts = Object.entries(acc).map(([k, v]) => `${k} ${v.toFixed(4)}`);
  return parts.length ? `pixel accuracy on ${parts.join(', ')}` : '';
}

/** Progress of a validation pass (hemgpu eval): a bar on a terminal, a line every 10% otherwise. */
export function evalProgress(total: number): { update(done: number): void; stop(): void } {
  let bar: cliProgress.SingleBar | null = null;
  let lastPrinted = 0;
  if (process.stderr.isTTY) {
    bar = new cliProgress.SingleBar({ format: 'validation [{bar}] {value}/{total} scenes | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
  }
  return {
    update(done) {
      if (bar) bar.update(done);
      else {
        const decile = Math.floor((10 * done) / total);
        if (decile > lastPrinted || done === total) {
          lastPrinted = decile;
          console.log(`validation: ${done}/${total} scenes`);
        }
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
