/**
 * Training through the shared API, with no CLI and no files (what a browser page does): a
 * TrainConfig builds the data, model and optimizer; scheduledStep/trainStep train; a checkpoint
 * goes through safetensors bytes in memory and the run resumes from it exactly; a non-finite loss
 * leaves the weights alone; evaluate reports the metrics. Also: a checkpoint written by the
 * trainer before the restructure (commit 4ad1b4d, test/fixtures/segnet-4ad1b4d.safetensors)
 * still loads and resumes, and `--model emanet` with an explicit `--eta` ≠ 1 is refused. And the
 * README's example, examples/train-segnet.ts, runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags } from '../../src/cli/args.ts';
import { joinParts } from '../../src/io/safetensors.ts';

let dir = '';
beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-train-step-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURE = new URL('../fixtures/segnet-4ad1b4d.safetensors', import.meta.url).pathname;

const CONFIG: hg.TrainConfig = {
  model: 'hemnet',
  eta: 0.5,
  iterations: 2,
  bases: 4,
  channels: 8,
  width: 4,
  dilation: 1,
  emGamma: 1,
  basesAverage: 'plain',
  data: 'digits',
  vocRoot: null,
  size: 16,
  trainScenes: 8,
  valScenes: 4,
  minDigits: 1,
  maxDigits: 2,
  minScale: 8,
  maxScale: 14,
  threshold: 0.5,
  maxOverlap: 1,
  task: 'digits',
  fragment: 12,
  bgKeep: 0.5,
  optimizer: 'adamw',
  lr: 0.01,
  warmup: 1,
  steps: 4,
  batch: 2,
  seed: 7,
  dataSeed: 0,
  out: '',
  resume: null,
  evalEvery: 0,
  checkpointEvery: 0,
};

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The checkpoint of a run as safetensors bytes, through the byte codec only. */
async function checkpointBytes(model: hg.SegNet, opt: hg.Optimizer<object>, step: number, history: hg.History): Promise<Uint8Array> {
  let parts: Uint8Array[] = [];
  await hg.writeTrainingCheckpoint(model, opt, step, CONFIG, history, async (input) => {
    parts = hg.encodeSafetensors(await hg.readToHost(input), input.metadata);
  });
  return joinParts(parts);
}

describe('training with the shared API', () => {
  const data = hg.digitSceneData(CONFIG, hg.mnistDigits());

  it('a run stopped, checkpointed to bytes and resumed repeats the uninterrupted run exactly', async () => {
    const straight = hg.buildModel(CONFIG, data.train);
    const opt = hg.makeOptimizer(straight, CONFIG);
    const want: number[] = [];
    for (let s = 0; s < CONFIG.steps; s++) want.push((await hg.scheduledStep(straight, opt, data.train, CONFIG, s)).loss);
    opt.dispose();

    const first = hg.buildModel(CONFIG, data.train);
    const opt1 = hg.makeOptimizer(first, CONFIG);
    const history: hg.History = { loss: [], lr: [], val: [] };
    for (let s = 0; s < 2; s++) {
      const r = await hg.scheduledStep(first, opt1, data.train, CONFIG, s);
      history.loss.push(r.loss);
      history.lr.push(r.lr);
    }
    const bytes = await checkpointBytes(first, opt1, 2, history);
    opt1.dispose();
    first.dispose();

    const ck = hg.decodeSafetensors(bytes);
    const resumed = hg.buildModel(CONFIG, data.train);
    const opt2 = hg.makeOptimizer(resumed, CONFIG);
    const r = hg.restoreModel(ck, 'in memory', resumed, CONFIG);
    hg.restoreOptimizer(ck, opt2);
    expect(r.step).toBe(2);
    expect(r.history.loss).toEqual(history.loss);
    const got = [...r.history.loss];
    for (let s = r.step; s < CONFIG.steps; s++) got.push((await hg.scheduledStep(resumed, opt2, data.train, CONFIG, s)).loss);
    opt2.dispose();
    expect(got).toEqual(want);
    for (const [k, p] of straight.parameters()) expect(bits(await resumed.parameters().get(k)!.read()), k).toEqual(bits(await p.read()));
    straight.dispose();
    resumed.dispose();
  });

  it('trainStep: the weights move and the gradients are cleared; a non-finite loss changes nothing', async () => {
    const model = hg.buildModel(CONFIG, data.train);
    const opt = new hg.SGD([...model.parameters().values()], { lr: 0.1 });
    const idx = hg.batchIndices(data.train.count, 2, 0, 1);
    const { x, labels } = hg.gatherBatch(data.train, idx);
    const batch = { x, labels, n: 2, height: 16, width: 16, channels: 1 };
    const w = model.parameters().get('classifier.weight')!;
    const before = await w.read();
    const loss = await hg.trainStep(model, opt, batch, { dropoutSeed: 3 });
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    const after = await w.read();
    expect(bits(after)).not.toEqual(bits(before));
    for (const [k, p] of model.parameters()) expect(p.grad, k).toBeNull();

    opt.setLr(1e38);
    await hg.trainStep(model, opt, batch); // weights to ~1e38: the next loss overflows
    const huge = await w.read();
    let err: unknown = null;
    try {
      await hg.trainStep(model, opt, batch);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(hg.NonFiniteLossError);
    expect((err as Error).message).toMatch(/^the loss is (NaN|Infinity|-Infinity); training stopped before updating the weights\.$/);
    expect(bits(await w.read())).toEqual(bits(huge));
    for (const [k, p] of model.parameters()) expect(p.grad, k).toBeNull();
    opt.dispose();
    model.dispose();
  });

  it("trainStep's pause: a step it lets run equals a plain step; one it stops is dropped before the update (StepStopped), the weights and gradients as before", async () => {
    const model = hg.buildModel(CONFIG, data.train);
    const twin = hg.buildModel(CONFIG, data.train);
    const opt = new hg.SGD([...model.parameters().values()], { lr: 0.1 });
    const opt2 = new hg.SGD([...twin.parameters().values()], { lr: 0.1 });
    const idx = hg.batchIndices(data.train.count, 2, 0, 1);
    const { x, labels } = hg.gatherBatch(data.train, idx);
    const batch = { x, labels, n: 2, height: 16, width: 16, channels: 1 };
    const w = model.parameters().get('classifier.weight')!;
    // Never stopped: the same loss and weights as the step without a pause (twins: the same initial weights).
    let pauses = 0;
    const a = await hg.trainStep(model, opt, batch, { dropoutSeed: 3, pause: async () => (pauses++, false) });
    const b = await hg.trainStep(twin, opt2, batch, { dropoutSeed: 3 });
    expect(pauses).toBeGreaterThanOrEqual(1);
    expect(a).toBe(b);
    expect(bits(await w.read())).toEqual(bits(await twin.parameters().get('classifier.weight')!.read()));
    // Stopped at the pause after the forward: no update, no gradients, no tensor left behind.
    const before = await w.read();
    const live = hg.memoryStats().liveTensors;
    pauses = 0;
    await expect(hg.trainStep(model, opt, batch, { pause: async () => ++pauses > 0 })).rejects.toBeInstanceOf(hg.StepStopped);
    expect(pauses).toBe(1);
    expect(bits(await w.read())).toEqual(bits(before));
    for (const [k, p] of model.parameters()) expect(p.grad, k).toBeNull();
    expect(hg.memoryStats().liveTensors).toBe(live);
    opt.dispose();
    opt2.dispose();
    model.dispose();
    twin.dispose();
  });

  it('evaluate: mean IoU over the classes present, per-class IoU, pixel accuracy', async () => {
    const model = hg.buildModel(CONFIG, data.val);
    const r = await hg.evaluate(model, data.val, { batch: 3 });
    expect(r.iou).toHaveLength(11);
    const present = r.iou.filter((v) => !Number.isNaN(v));
    expect(r.miou).toBeCloseTo(present.reduce((a, b) => a + b, 0) / present.length, 12);
    expect(r.pixelAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.pixelAccuracy).toBeLessThanOrEqual(1);
    expect(model.training).toBe(true); // restored after evaluating in eval mode
    model.dispose();
  });

  it("evaluate: pixel accuracy on the dataset's regions (complementary regions add up to the pixel accuracy); a wrong-size mask is refused first", async () => {
    const model = hg.buildModel(CONFIG, data.val);
    const val = data.val as hg.DigitSceneDataset;
    const n = val.labels.length;
    const left = new Uint8Array(n).map((_, i) => (i % val.width < val.width / 2 ? 1 : 0));
    const right = left.map((v) => 1 - v);
    const r = await hg.evaluate(model, { ...val, regions: { left, right, all: new Uint8Array(n).fill(1), none: new Uint8Array(n) } }, { batch: 3 });
    expect(r.regionAccuracy.all).toBeCloseTo(r.pixelAccuracy, 12);
    expect(r.regionAccuracy.none).toBeNaN();
    const nl = left.reduce((a, v) => a + v, 0);
    expect((r.regionAccuracy.left! * nl + r.regionAccuracy.right! * (n - nl)) / n).toBeCloseTo(r.pixelAccuracy, 12);
    expect((await hg.evaluate(model, data.val, { batch: 3 })).regionAccuracy).toEqual({});
    await expect(hg.evaluate(model, { ...val, regions: { bad: new Uint8Array(5) } })).rejects.toThrow(
      /evaluate: region 'bad' has 5 mask entries; \d+ samples of \d+×\d+ need \d+\./,
    );
    expect(model.training).toBe(true);
    model.dispose();
  });
});

describe('compatibility', () => {
  it('a checkpoint written by the trainer at 4ad1b4d loads, evaluates and resumes', async () => {
    const ck = await hg.loadCheckpoint(FIXTURE);
    const saved = JSON.parse(ck.metadata.flags!) as hg.TrainConfig;
    expect(saved).toMatchObject({ model: 'hemnet', channels: 8, width: 4, steps: 2 });
    const { val } = hg.loadData(saved);
    // Written before basesAverage existed: it trained with the l2-normalised average, and loads with it.
    expect(saved.basesAverage).toBeUndefined();
    const model = hg.buildModel(saved, val);
    expect(model.em!.em.basesAverage).toBe('l2norm');
    const r = hg.restoreModel(ck, FIXTURE, model, saved);
    expect(r.step).toBe(2);
    for (const [k, p] of model.parameters()) expect(bits(await p.read()), k).toEqual(bits(ck.tensors[`param.${k}`]!.data as Float32Array));
    const e = await hg.evaluate(model, val);
    expect(e.miou).toBeGreaterThanOrEqual(0);
    model.dispose();
    const run = await hg.train({ ...saved, steps: 3, out: join(dir, 'resumed'), resume: FIXTURE });
    expect(run.history.loss).toHaveLength(3);
    expect(run.history.loss.slice(0, 2)).toEqual(r.history.loss);
    expect(run.model.em!.em.basesAverage).toBe('l2norm');
    // The resumed run's checkpoint records the rule it trained with.
    const resumed = await hg.loadCheckpoint(run.checkpoint!);
    expect(JSON.parse(resumed.metadata.flags!)).toMatchObject({ basesAverage: 'l2norm' });
    run.model.dispose();
  });

  it('--model emanet with an explicit --eta other than 1 is refused, plain with any; without one, or emanet with 1, it is accepted', () => {
    expect(() => parseTrainFlags(['--model', 'emanet', '--eta', '0.3'])).toThrow(
      "--eta: emanet is EMANet's EM unit, η = 1 by definition; --eta 0.3 applies to hemnet and pooling only (leave it out or use --model hemnet).",
    );
    // plain has no EM unit: a given --eta would be ignored, so it is refused.
    expect(() => parseTrainFlags(['--model', 'plain', '--eta', '0.3'])).toThrow(
      '--eta: plain has no EM unit, so no η; leave --eta out (or choose a model with one: hemnet and pooling).',
    );
    expect(parseTrainFlags(['--model', 'pooling', '--eta', '0.3'])).toMatchObject({ model: 'pooling', eta: 0.3 });
    expect(parseTrainFlags(['--model', 'emanet'])).toMatchObject({ model: 'emanet', eta: 0.5 });
    expect(parseTrainFlags(['--model', 'emanet', '--eta', '1'])).toMatchObject({ model: 'emanet', eta: 1 });
    expect(parseTrainFlags(['--model', 'hemnet', '--eta', '0.3'])).toMatchObject({ model: 'hemnet', eta: 0.3 });
  });
});

describe('the README example', () => {
  it('examples/train-segnet.ts trains and evaluates (its own process)', () => {
    const root = new URL('../..', import.meta.url).pathname;
    const out = execFileSync(process.execPath, ['scripts/run.mjs', 'examples/train-segnet.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(out).toMatch(/^step 1: loss \d+\.\d{4}$/m);
    expect(out).toMatch(/^step 16: loss \d+\.\d{4}$/m);
    expect(out).toMatch(/^validation mIoU \d\.\d{4}, pixel accuracy \d\.\d{4}$/m);
  });
});
