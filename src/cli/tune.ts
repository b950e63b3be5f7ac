/**
 * `hemgpu tune`: time the matmul tile shapes and HEM kernel paths on this adapter, install and
 * store the fastest (src/ops/tuning.ts), and print what was timed. The CLI's other commands, and
 * `init({ tune: true })`, start from the stored winners. --show prints the stored record without
 * timing; without --refresh, winners already stored for this adapter are shown, not timed again.
 */
import { adapterInfo, init } from '../index.node.ts';
import { tune } from '../ops/tuning.ts';
import { getTuningStore, storedTuning, tuningKey, type TuningRecord } from '../ops/tuning-store.ts';
import { HEMGPU_VERSION } from '../version.ts';
import { parse, usage, UsageError, type Spec } from './args.ts';

const TUNE_SPEC: Spec = {
  refresh: { type: 'boolean', help: 'time the candidates even where winners are stored for this adapter' },
  show: { type: 'boolean', help: 'print the stored winners for this adapter without timing anything' },
  quick: { type: 'boolean', help: 'small shapes, one repetition (a smoke test: the winners are noisier)' },
};

const WHAT = 'Time the matmul tile shapes and the HEM kernel paths on this adapter; keep the fastest for init({ tune: true }) and the CLI.';

function describe(r: TuningRecord): string {
  const rows = (ts: { ms: number; config: unknown }[]): string => ts.map((t) => `  ${t.ms.toFixed(2).padStart(9)} ms  ${JSON.stringify(t.config)}`).join('\n');
  const shapes = r.timings.matmulShapes;
  const classes = shapes ? `matmul, narrow products (fastest first):\n${rows(shapes.narrow)}\nmatmul, small outputs (fastest first):\n${rows(shapes.small)}\n` : '';
  const winners = r.matmulShapes
    ? `matmul ${JSON.stringify(r.matmul)} (narrow ${JSON.stringify(r.matmulShapes.narrow ?? 'default')}, small ${JSON.stringify(r.matmulShapes.small ?? 'default')})`
    : `matmul ${JSON.stringify(r.matmul)}`;
  return `timed ${r.date} by hemgpu ${r.version}\nmatmul (fastest first):\n${rows(r.timings.matmul)}\n${classes}HEM forward+backward (fastest first):\n${rows(r.timings.hem)}\nwinners: ${winners}, HEM ${JSON.stringify(r.hem)}`;
}

export async function runTune(argv: string[]): Promise<void> {
  const v = parse('tune', TUNE_SPEC, argv);
  if (v.help) {
    console.log(usage('tune', WHAT, TUNE_SPEC));
    return;
  }
  if (v.show && (v.refresh || v.quick)) throw new UsageError('--show prints the stored winners and times nothing; leave out --refresh and --quick.');
  const store = getTuningStore();
  await init();
  console.log(`hemgpu tune: ${tuningKey(adapterInfo())}`);
  const stored = v.refresh ? null : await storedTuning();
  if (v.show) {
    console.log(
      stored
        ? `stored in ${store!.where}, ${describe(stored)}`
        : `nothing stored for this adapter and hemgpu ${HEMGPU_VERSION}${store ? ` in ${store.where}` : ''}; run hemgpu tune.`,
    );
    return;
  }
  if (stored) {
    console.log(`already stored in ${store!.where} (--refresh times again): ${describe(stored)}`);
    return;
  }
  const record = await tune({ quick: v.quick === true });
  console.log(`${describe(record)}\n${store ? `stored in ${store.where}` : 'not stored (no store on this platform)'}`);
}
