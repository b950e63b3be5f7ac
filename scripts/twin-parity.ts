/**
 * hemgpu's side of the PyTorch twin's parity check (scripts/twin-parity.sh runs the whole check).
 *
 *   node scripts/run.mjs scripts/twin-parity.ts export --out DIR
 *       per case (PARITY_CASES: hemnet, emanet, pooling, plain × sgd, adamw with the bases' plain
 *       average, and two with the old l2norm rule) DIR/<case>/{init,stepped,expect}.safetensors
 *       (scripts/twin-parity-export.ts says what they hold) and DIR/cases.json (the case names, in
 *       order); python/parity.py reads them.
 *   node scripts/run.mjs scripts/twin-parity.ts verify --dir DIR
 *       the checkpoints python/parity.py wrote back: roundtrip.safetensors must be byte-identical
 *       to stepped.safetensors, and it and torch-stepped.safetensors (the twin's own step) must
 *       load into a hemgpu model and optimizer (readWeights + loadWeights: checksums, metadata,
 *       shapes) and train one more step, to losses within 1e-3 of each other.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { adapterInfo, init, learningRate, loadWeights, makeOptimizer, readWeights, SegNet, trainStep } from '../src/index.node.ts';
import { exportParityCase, PARITY_CASES, parityCaseName, type ParityCase } from './twin-parity-export.ts';

const caseDir = (dir: string, c: ParityCase): string => join(dir, parityCaseName(c));

async function exportCases(out: string): Promise<void> {
  for (const c of PARITY_CASES) {
    const t0 = performance.now();
    const files = await exportParityCase(c);
    const dir = caseDir(out, c);
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `${name}.safetensors`), bytes);
    console.log(`twin-parity export: ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  writeFileSync(join(out, 'cases.json'), `${JSON.stringify(PARITY_CASES.map(parityCaseName))}\n`);
}

/** Load a checkpoint the twin wrote into hemgpu and train one step from it; returns the loss. */
async function loadAndStep(path: string, c: ParityCase): Promise<number> {
  const loaded = readWeights(new Uint8Array(readFileSync(path)), path);
  const cfg = loaded.config;
  const inChannels = loaded.checkpoint.tensors['param.stem0.conv.weight']!.shape[2]!;
  const classes = loaded.checkpoint.tensors['param.classifier.weight']!.shape[3]!;
  const model = new SegNet({
    model: c.model,
    inChannels,
    classes,
    channels: cfg.channels,
    bases: cfg.bases,
    eta: cfg.eta,
    iterations: cfg.iterations,
    seed: cfg.seed,
    width: cfg.width,
    dilation: cfg.dilation,
    emGamma: cfg.emGamma,
    basesAverage: cfg.basesAverage,
    dropout: 0,
  });
  const optimizer = makeOptimizer(model, cfg);
  try {
    loadWeights(loaded, model, optimizer);
    optimizer.setLr(learningRate(cfg, loaded.step));
    const n = 2;
    const x = Float32Array.from({ length: n * cfg.size * cfg.size * inChannels }, (_, i) => Math.sin(i * 0.37));
    const labels = Int32Array.from({ length: n * cfg.size * cfg.size }, (_, i) => i % classes);
    const loss = await trainStep(model, optimizer, { x, labels, n, height: cfg.size, width: cfg.size, channels: inChannels });
    if (!Number.isFinite(loss)) throw new Error(`${path}: a hemgpu step from it gave the loss ${loss}.`);
    return loss;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

async function verifyCases(dir: string): Promise<void> {
  for (const c of PARITY_CASES) {
    const d = caseDir(dir, c);
    const want = readFileSync(join(d, 'stepped.safetensors'));
    const back = readFileSync(join(d, 'roundtrip.safetensors'));
    if (!want.equals(back)) throw new Error(`${d}: roundtrip.safetensors (hemgpu → PyTorch → hemgpu) differs from stepped.safetensors.`);
    const a = await loadAndStep(join(d, 'roundtrip.safetensors'), c);
    const b = await loadAndStep(join(d, 'torch-stepped.safetensors'), c);
    // The twin's step differs from hemgpu's by float32 rounding (python/parity.py's 'train step'), so the next loss does too, barely.
    const rel = Math.abs(b - a) / Math.abs(a);
    if (!(rel <= 1e-3)) throw new Error(`${d}: the next step's loss from the twin's checkpoint is ${b}, from hemgpu's ${a} (relative difference ${rel}).`);
    console.log(
      `twin-parity verify: ${d}: round trip byte-identical (${want.byteLength} bytes); hemgpu loads it and the twin's own step and trains on: loss ${a.toFixed(6)} and ${b.toFixed(6)} (relative difference ${rel.toExponential(1)})`,
    );
  }
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' }, dir: { type: 'string' } } });
const [command] = positionals;
if (!((command === 'export' && values.out) || (command === 'verify' && values.dir))) {
  console.error('usage: node scripts/run.mjs scripts/twin-parity.ts export --out DIR | verify --dir DIR');
  process.exit(2);
}
try {
  await init();
  console.log(`twin-parity: hemgpu on ${adapterInfo().description || adapterInfo().device}`);
  if (command === 'export') await exportCases(values.out!);
  else await verifyCases(values.dir!);
} catch (err) {
  console.error(`twin-parity ${command}: ${(err as Error).message}`);
  process.exit(1);
}
process.exit(0); // Dawn can keep Node alive
