/**
 * Checkpoints as bytes and the browser-safe training run (issue 12, point 2): saveWeights gives
 * exactly the bytes the Node trainer writes, a save → read → load → save round trip is bit-exact,
 * corrupt bytes are refused naming their source, another model shape is refused naming both, and
 * a TrainingRun resumed from bytes continues exactly.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { flags, TINY_RUN } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags } from '../../src/cli/args.ts';

let dir: string;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-weights-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const TINY = [...TINY_RUN, ...flags('--lr 0.01 --quiet')];

function tiny(extra: string[], out: string): hg.TrainConfig {
  return { ...parseTrainFlags([...TINY, ...extra])!, out };
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));

describe('saveWeights / readWeights / loadWeights', () => {
  test('saveWeights gives the bytes the Node trainer writes as checkpoint.safetensors for the same run, bit for bit', async () => {
    const config = tiny(['--steps', '3', '--eval-every', '2'], join(dir, 'cli'));
    const r = await hg.train(config);
    r.model.dispose();
    const file = readFileSync(join(config.out, 'checkpoint.safetensors'));
    const run = new hg.TrainingRun(config, hg.loadData(config));
    const losses: number[] = [];
    while (run.completed < config.steps) {
      losses.push((await run.step()).loss);
      if (run.completed === 2) await run.evaluate();
    }
    await run.evaluate();
    expect(losses).toEqual(r.history.loss);
    const bytes = await run.saveWeights();
    expect(bytes.byteLength).toBe(file.byteLength);
    expect(bytesEqual(bytes, file)).toBe(true);
    run.dispose();
  });

  test('save → read → load into a fresh model and optimizer → save is bit-exact; loadWeights gives step, config and history', async () => {
    const config = tiny(['--steps', '4', '--optimizer', 'adamw'], join(dir, 'round'));
    const run = new hg.TrainingRun(config, hg.loadData(config));
    await run.step();
    await run.step();
    const bytes = await run.saveWeights();
    const loaded = hg.readWeights(bytes, 'round.safetensors');
    expect(loaded.step).toBe(2);
    // The whole TrainConfig (the CLI's own fields, such as quiet, left out).
    expect(loaded.config).toEqual(Object.fromEntries(Object.keys(hg.demoConfig()).map((k) => [k, config[k as keyof hg.TrainConfig]])));
    expect(loaded.history.loss).toEqual(run.history.loss);
    const data = hg.loadData(config);
    const model = hg.buildModel(config, data.train);
    const opt = hg.makeOptimizer(model, config);
    const back = hg.loadWeights(loaded, model, opt);
    expect(back.step).toBe(2);
    const again = await hg.saveWeights({ model, optimizer: opt, step: back.step, config: back.config, history: back.history });
    expect(bytesEqual(again, bytes)).toBe(true);
    // Weights only (no optimizer): the parameters match too.
    const model2 = hg.buildModel(config, data.train);
    hg.loadWeights(loaded, model2);
    for (const [k, p] of model2.parameters()) expect(await p.read()).toEqual(await run.model.parameters().get(k)!.read());
    for (const m of [model, model2]) m.dispose();
    opt.dispose();
    run.dispose();
  });

  test('a TrainingRun resumed from bytes continues exactly (losses and bytes as the uninterrupted run)', async () => {
    const config = tiny(['--steps', '4'], join(dir, 'resume'));
    const straight = new hg.TrainingRun(config, hg.loadData(config));
    for (let i = 0; i < 4; i++) await straight.step();
    const half = new hg.TrainingRun(config, hg.loadData(config));
    await half.step();
    await half.step();
    const resumed = new hg.TrainingRun(config, hg.loadData(config));
    resumed.resume(hg.readWeights(await half.saveWeights(), 'half'));
    expect(resumed.completed).toBe(2);
    await resumed.step();
    await resumed.step();
    expect(resumed.history.loss).toEqual(straight.history.loss);
    expect(bytesEqual(await resumed.saveWeights(), await straight.saveWeights())).toBe(true);
    await expect(resumed.step()).rejects.toThrow('TrainingRun.step: the run is complete (4 of 4 steps)');
    for (const r of [straight, half, resumed]) r.dispose();
  });

  test('corrupt, truncated or foreign bytes are refused with an error naming the source; another model shape names both', async () => {
    const config = tiny(['--steps', '2'], join(dir, 'bad'));
    const run = new hg.TrainingRun(config, hg.loadData(config));
    await run.step();
    const bytes = await run.saveWeights();
    const flipped = bytes.slice();
    flipped[flipped.byteLength - 5]! ^= 0x40;
    expect(() => hg.readWeights(flipped, 'upload.safetensors')).toThrow(
      /^upload\.safetensors: checksum mismatch in tensor '.*' \(stored .*\): the payload is corrupt; nothing was loaded\.$/,
    );
    expect(() => hg.readWeights(bytes.subarray(0, bytes.byteLength - 100), 'upload.safetensors')).toThrow(/^upload\.safetensors: /);
    expect(() => hg.readWeights(bytes.subarray(0, 5), 'short.safetensors')).toThrow(/^short\.safetensors: the file is too short \(5 bytes\)/);
    expect(() => hg.readWeights([1, 2] as unknown as Uint8Array, 'x')).toThrow("x: readWeights expects the checkpoint's bytes as a Uint8Array");
    const loaded = hg.readWeights(bytes, 'mine.safetensors');
    const other = hg.buildModel({ ...config, channels: 12 }, run.train);
    expect(() => hg.loadWeights(loaded, other)).toThrow(
      /^mine\.safetensors: the checkpoint holds a hemnet \(channels 8, bases 4, width 32, dilation 1\), this model is a hemnet \(channels 12, bases 4, width 32, dilation 1\); their parameters differ \(first: '.*' in the checkpoint, '.*' in the model\)\. .* Nothing was loaded\.$/,
    );
    other.dispose();
    await expect(hg.saveWeights({ ...run.state(), stepp: 1 } as never)).rejects.toThrow("saveWeights: unknown option 'stepp'");
    run.dispose();
  });
});
