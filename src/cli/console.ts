/** Console output while training: a progress bar on a terminal, a line every 10% otherwise. */
import cliProgress from 'cli-progress';
import type { TrainHooks, TrainResult } from '../train/trainer.ts';

/** Console hooks: a progress bar on a terminal, a line every 10% otherwise; Ctrl-C stops after saving. */
export function consoleHooks(label: string, quiet: boolean): TrainHooks & { stop(): void } {
  let stopRequested = false;
  let bar: cliProgress.SingleBar | null = null;
  let lastPrinted = -1;
  const onSigint = (): void => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    process.stderr.write(`\n${label}: Ctrl-C — saving a checkpoint after this step (Ctrl-C again to quit now)\n`);
  };
  process.on('SIGINT', onSigint);
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
    onEval({ step, miou }) {
      if (!quiet && !bar) console.log(`${label}: step ${step}  validation mIoU ${miou.toFixed(4)}`);
    },
    onCheckpoint(path, step) {
      if (!quiet && !bar) console.log(`${label}: checkpoint ${path} (step ${step})`);
    },
    shouldStop: () => stopRequested,
    stop() {
      bar?.stop();
      bar = null;
      process.off('SIGINT', onSigint);
    },
  };
}

export function printResult(label: string, r: TrainResult): void {
  console.log(
    `${label}: ${r.interrupted ? 'interrupted at' : 'trained'} step ${r.steps}; validation mIoU ${r.miou.toFixed(4)}, pixel accuracy ${r.pixelAccuracy.toFixed(4)}; ` +
      `${r.imagesPerSecond.toFixed(1)} images/s; checkpoint ${r.checkpoint}`,
  );
  console.log(`  per-class IoU (0 = background, 1..10 = digits 0..9): ${r.iou.map((v) => (Number.isNaN(v) ? '  -  ' : v.toFixed(3))).join(' ')}`);
}

