/**
 * `hemgpu tune`: time the matmul tile shapes and HEM kernel paths on this adapter, install and
 * store the fastest (src/ops/tuning.ts), and print what was timed. Later runs with
 * `init({ tune: true })` start from the stored winners. --show prints the stored record without
 * timing; --refresh times again where one is stored.
 */
import { adapterInfo, init } from '../index.node.ts';
import { getTuningStore, tuneCached, tuningKey, type TuningRecord } from '../ops/tuning.ts';
import { HEMGPU_VERSION } from '../version.ts';
import { parse, usage, UsageError, type Spec } from './args.ts';

const TUNE_SPEC: Spec = {
  refresh: { type: 'boolean', help: 'time the candidates even where winners are stored for this adapter' },
  show: { type: 'boolean', help: 'print the stored winners for this adapter without timing anything' },
  quick: { type: 'boolean', help: 'small shapes, one repetition (a smoke test: the winners are noisier)' },
};

const WHAT = 'Time the matmul tile shapes and the HEM kernel paths on this adapter; keep the fastest for init({ tune: true }).';

function describe(r: TuningRecord): string {
  const matmul = r.timings.matmul.map((t) => `  ${t.ms.toFixed(2).padStart(9)} ms  ${JSON.stringify(t.config)}`).join('\n');
  const hem = r.timings.hem.map((t) => `  ${t.ms.toFixed(2).padStart(9)} ms  ${JSON.stringify(t.config)}`).join('\n');
  return `timed ${r.date} by hemgpu ${r.version}\nmatmul (fastest first):\n${matmul}\nHEM forward+backward (fastest first):\n${hem}\nwinners: matmul ${JSON.stringify(r.matmul)}, HEM ${JSON.stringify(r.hem)}`;
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
  const key = tuningKey(adapterInfo());
  console.log(`hemgpu tune: ${key}`);
  if (v.show) {
    const r = store ? await store.load(key, HEMGPU_VERSION) : null;
    console.log(r ? `stored in ${store!.where}, ${describe(r)}` : `nothing stored for this adapter and hemgpu ${HEMGPU_VERSION}${store ? ` in ${store.where}` : ''}; run hemgpu tune.`);
    return;
  }
  const { record, cached, where } = await tuneCached({ quick: v.quick === true, refresh: v.refresh === true });
  console.log(cached ? `already stored in ${where} (--refresh times again): ${describe(record)}` : `${describe(record)}\nstored in ${where}`);
}
