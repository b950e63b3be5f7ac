/**
 * Training reliability (issue 4): exact resume, flat GPU memory over 200 steps, refusal of
 * corrupt, truncated and mismatched checkpoints without overwriting anything, a non-finite loss,
 * and the ablation's --quick smoke run. A tiny configuration (16×16 scenes, 8 channels) keeps it fast.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { flags, TINY_RUN } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags, type TrainFlags } from '../../src/cli/args.ts';
import { batchIndices, train } from '../../src/train/trainer.ts';
import { ablatePlan, runAblation } from '../../src/cli/ablate.ts';
import { formatSpread, halfWidth95 } from '../../src/train/stats.ts';
import { capture } from '../cli/run-cli.ts';
import { figureStem } from '../../src/cli/eval.ts';
import { existsSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

let dir: string;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-train-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const TINY = [...TINY_RUN, ...flags('--lr 0.01 --quiet')];

function tiny(extra: string[] = []): TrainFlags {
  return parseTrainFlags([...TINY, ...extra])!;
}

async function savedWeights(checkpoint: string): Promise<Record<string, Float32Array>> {
  const ck = await hg.loadCheckpoint(checkpoint);
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(ck.tensors)) out[k] = t.data as Float32Array;
  return out;
}

describe('training', () => {
  test('batch order is a pure function of (seed, step): epochs are seeded permutations', () => {
    expect(batchIndices(10, 4, 3, 7)).toEqual(batchIndices(10, 4, 3, 7));
    expect(batchIndices(10, 4, 3, 7)).not.toEqual(batchIndices(10, 4, 3, 8));
    // Steps 0..4 of batch 4 over 10 samples cover every sample exactly twice (two epochs).
    const counts = new Array(10).fill(0);
    for (let s = 0; s < 5; s++) for (const i of batchIndices(10, 4, s, 7)) counts[i]++;
    expect(counts).toEqual(new Array(10).fill(2));
  });

  test('a stop requested before the first step writes nothing (fresh) and leaves a resumed checkpoint as it was', async () => {
    const out = join(dir, 'stop-at-once');
    const fresh = await train({ ...tiny(['--steps', '5']), out }, { shouldStop: () => true });
    fresh.model.dispose();
    expect([fresh.interrupted, fresh.steps, fresh.checkpoint]).toEqual([true, 0, null]);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
    const done = await train({ ...tiny(['--steps', '2']), out });
    done.model.dispose();
    const before = readFileSync(done.checkpoint!);
    const resumed = await train({ ...tiny(['--steps', '4']), out, resume: done.checkpoint }, { shouldStop: () => true });
    resumed.model.dispose();
    expect([resumed.interrupted, resumed.steps, resumed.checkpoint]).toEqual([true, 2, done.checkpoint]);
    expect(readFileSync(done.checkpoint!).equals(before)).toBe(true);
  });

  test("a stop requested during this process's first step (its recording compiles the pipelines) abandons it: nothing written, a resumed checkpoint left as it was, no tensor leaked", async () => {
    const out = join(dir, 'stop-in-step-1');
    const live = hg.memoryStats().liveTensors;
    // shouldStop's first call is before the first step; the second is the first step's pause after its forward.
    let calls = 0;
    const stopSecond = (): boolean => ++calls === 2;
    const fresh = await train({ ...tiny(['--steps', '5']), out }, { shouldStop: stopSecond });
    fresh.model.dispose();
    expect([fresh.interrupted, fresh.steps, fresh.checkpoint, calls]).toEqual([true, 0, null, 2]);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
    expect(hg.memoryStats().liveTensors).toBe(live);
    const done = await train({ ...tiny(['--steps', '2']), out });
    done.model.dispose();
    const before = readFileSync(done.checkpoint!);
    calls = 0;
    const resumed = await train({ ...tiny(['--steps', '4']), out, resume: done.checkpoint }, { shouldStop: stopSecond });
    resumed.model.dispose();
    expect([resumed.interrupted, resumed.steps, resumed.checkpoint, resumed.history.loss.length]).toEqual([true, 2, done.checkpoint, 2]);
    expect(readFileSync(done.checkpoint!).equals(before)).toBe(true);
    // Later steps do not pause: while step 1 is done, shouldStop is polled once, after it.
    let done1 = 0;
    const polls = [0, 0, 0, 0];
    const later = await train({ ...tiny(['--steps', '3']), out: join(dir, 'stop-later') }, { onStep: (i) => void (done1 = i.step), shouldStop: () => (polls[done1]!++, false) });
    later.model.dispose();
    expect(polls[0]).toBeGreaterThanOrEqual(2);
    expect(polls.slice(1, 3)).toEqual([1, 1]); // (after the last step the final validation polls too)
  });

  for (const model of ['hemnet', 'emanet', 'plain'] as const) {
    test(`${model}: 2n steps straight = n steps, stop, resume, n steps (losses to 1e-5, weights, buffers and optimizer state)`, async () => {
      const n = 3;
      const straight = await train({ ...tiny(['--model', model, '--steps', String(2 * n)]), out: join(dir, `${model}-straight`) });
      straight.model.dispose();
      // Interrupt after n steps (as Ctrl-C does: a checkpoint is written, training returns).
      let done = 0;
      const first = await train(
        { ...tiny(['--model', model, '--steps', String(2 * n)]), out: join(dir, `${model}-split`) },
        { onStep: (i) => void (done = i.step), shouldStop: () => done >= n },
      );
      first.model.dispose();
      expect(first.interrupted).toBe(true);
      expect(first.steps).toBe(n);
      const ckPath = join(dir, `${model}-split`, 'checkpoint.safetensors');
      const resumed = await train({ ...tiny(['--model', model, '--steps', String(2 * n)]), out: join(dir, `${model}-split`), resume: ckPath });
      resumed.model.dispose();
      expect(resumed.history.loss.length).toBe(2 * n);
      for (let i = 0; i < 2 * n; i++) expect(Math.abs(resumed.history.loss[i]! - straight.history.loss[i]!), `loss ${i}`).toBeLessThanOrEqual(1e-5);
      const a = await savedWeights(straight.checkpoint!);
      const b = await savedWeights(resumed.checkpoint!);
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const k of Object.keys(a)) expect(Array.from(b[k]!), k).toEqual(Array.from(a[k]!));
    });
  }

  test('GPU memory is flat across 200 training steps', async () => {
    const samples: { step: number; live: number; bytes: number; buffers: number }[] = [];
    const r = await train(
      { ...tiny(['--steps', '200']), out: join(dir, 'memory') },
      {
        onStep: (i) => {
          if (i.step === 10 || i.step === 100 || i.step === 200) {
            const m = hg.memoryStats();
            samples.push({ step: i.step, live: m.liveTensors, bytes: m.liveBytes, buffers: m.buffersCreated });
          }
        },
      },
    );
    r.model.dispose();
    expect(samples).toHaveLength(3);
    for (const s of samples.slice(1)) {
      expect(s.live, `live tensors at step ${s.step}`).toBe(samples[0]!.live);
      expect(s.bytes, `live bytes at step ${s.step}`).toBe(samples[0]!.bytes);
      expect(s.buffers, `GPU buffers created by step ${s.step}`).toBe(samples[0]!.buffers);
    }
  }, 300_000);

  describe('bad checkpoints are refused and nothing is overwritten', () => {
    let good: string;
    let goodBytes: Buffer;
    const outDir = (): string => join(dir, 'refuse-out');

    beforeAll(async () => {
      const r = await train({ ...tiny(['--steps', '2']), out: join(dir, 'good') });
      r.model.dispose();
      good = r.checkpoint!;
      goodBytes = readFileSync(good);
      mkdirSync(outDir(), { recursive: true });
      copyFileSync(good, join(outDir(), 'checkpoint.safetensors'));
    });

    const attempt = async (resume: string, extra: string[] = []): Promise<string> => {
      let message = '';
      try {
        const r = await train({ ...tiny(['--steps', '4', ...extra]), out: outDir(), resume });
        r.model.dispose();
      } catch (err) {
        message = (err as Error).message;
      }
      // Whatever happened, the checkpoint already in the output directory is untouched.
      expect(readFileSync(join(outDir(), 'checkpoint.safetensors')).equals(goodBytes)).toBe(true);
      return message;
    };

    test('truncated file', async () => {
      const p = join(dir, 'truncated.safetensors');
      writeFileSync(p, goodBytes.subarray(0, Math.floor(goodBytes.length / 2)));
      expect(await attempt(p)).toMatch(/truncated\.safetensors/);
    });

    test('corrupt header', async () => {
      const p = join(dir, 'corrupt.safetensors');
      const bad = Buffer.from(goodBytes);
      bad.write('#', 8 + 2); // inside the JSON header
      writeFileSync(p, bad);
      expect(await attempt(p)).toMatch(/corrupt\.safetensors/);
    });

    test('a checkpoint of another model shape', async () => {
      expect(await attempt(good, ['--channels', '12'])).toMatch(/trained with --channels 8, not 12/);
      expect(await attempt(good, ['--model', 'plain'])).toMatch(/trained with --model hemnet, not plain/);
    });

    test('a missing checkpoint', async () => {
      expect(await attempt(join(dir, 'nope.safetensors'))).toMatch(/--resume: no checkpoint at .*nope\.safetensors/);
    });
  });

  test('a non-finite loss stops training with a clear message and keeps the last good checkpoint', async () => {
    const out = join(dir, 'nan');
    let message = '';
    try {
      const r = await train({ ...tiny(['--steps', '20', '--lr', '1e30', '--checkpoint-every', '1']), out });
      r.model.dispose();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/the loss is (NaN|Infinity|-Infinity); training stopped before updating the weights/);
    expect(message).toMatch(/last good checkpoint is .*checkpoint\.safetensors/);
    const ck = await hg.loadCheckpoint(join(out, 'checkpoint.safetensors'));
    const step = Number(ck.metadata.step);
    expect(step).toBeGreaterThanOrEqual(1);
    for (const v of JSON.parse(ck.metadata.history!).loss as number[]) expect(Number.isFinite(v)).toBe(true);
  });

  test('trains on a PASCAL VOC directory (JPEG images, greyscale PNG masks, 255 = ignore)', async () => {
    const root = join(dir, 'voc');
    for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation']) mkdirSync(join(root, d), { recursive: true });
    const ids = ['a', 'b', 'c', 'd', 'e'];
    ids.forEach((id, n) => {
      const w = 24 + 4 * n;
      const h = 20 + 2 * n;
      const rgb = Buffer.alloc(w * h * 4);
      const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, inputHasAlpha: false });
      const mask = Buffer.alloc(w * h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const inside = x > w / 4 && x < (3 * w) / 4 && y > h / 4 && y < (3 * h) / 4;
          const edge = inside && (x === Math.ceil(w / 4) || y === Math.ceil(h / 4));
          const i = y * w + x;
          rgb.writeUInt32BE(inside ? 0xc8503cff : 0x1e1e1eff, 4 * i);
          mask[i] = edge ? 255 : inside ? 1 + n : 0;
        }
      png.data = mask;
      writeFileSync(join(root, 'JPEGImages', `${id}.jpg`), jpeg.encode({ data: rgb, width: w, height: h }, 95).data);
      writeFileSync(join(root, 'SegmentationClass', `${id}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
    });
    writeFileSync(join(root, 'ImageSets/Segmentation/train.txt'), 'a\nb\nc\n');
    writeFileSync(join(root, 'ImageSets/Segmentation/val.txt'), 'd\ne\n');
    // TINY's digit-scene flags would be refused with --data voc (it has no use for them).
    const digitOnly = ['--train-scenes', '--min-scale', '--max-scale'];
    const vocTiny = TINY.filter((a, i) => !digitOnly.includes(a) && !digitOnly.includes(TINY[i - 1]!));
    const r = await train({ ...parseTrainFlags([...vocTiny, '--data', 'voc', '--voc-root', root, '--steps', '3'])!, out: join(dir, 'voc-run') });
    r.model.dispose();
    expect(r.history.loss).toHaveLength(3);
    for (const v of r.history.loss) expect(Number.isFinite(v)).toBe(true);
    expect(r.iou).toHaveLength(21);
    expect(r.miou).toBeGreaterThanOrEqual(0);
  });

  test('hemgpu ablate --quick runs the reduced grid and writes the table and CSV', async () => {
    const out = join(dir, 'ablate');
    const cells = await runAblation(['--quick', '--out', out, '--steps', '3', ...TINY.filter((a) => a !== '--quiet')]);
    // 2 T × 2 η cells, plus the best cell again with a second seed.
    expect(cells).toHaveLength(5);
    // --quick shrinks only what is not given: --steps 3 and TINY's 12 training scenes hold.
    expect(JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8')).shared).toMatchObject({ steps: 3, trainScenes: 12, valScenes: 4, batch: 2 });
    const md = readFileSync(join(out, 'ablation.md'), 'utf8');
    expect(md).toMatch(/\| T_train \\ η \| 0\.4 \| 1\.0 \(EMANet\) \|/);
    expect(md).toMatch(/2 seeds/);
    // The two seeds' range is labelled as a range (min–max), not as "±" (an interval needs 3 seeds).
    expect(
      md
        .split('\n')
        .filter((l) => /^\| \d/.test(l))
        .join('\n'),
    ).not.toMatch(/±/);
    expect(md).toMatch(/\d+\.\d \(\d+\.\d–\d+\.\d, 2 seeds\)/);
    const csv = readFileSync(join(out, 'ablation.csv'), 'utf8').trim().split('\n');
    // The demo's recipe, which ablate takes its defaults from, is the context task: its region accuracies are columns.
    expect(csv[0]).toBe('T,eta,seed,miou,fragments,whole,maxGamma,residual,rho,seconds');
    expect(csv).toHaveLength(6);
    // Each cell's EM diagnostics: max_k γ between uniform (1/K) and one-hot.
    for (const c of cells) {
      expect(c.maxGamma).toBeGreaterThanOrEqual(1 / 16 - 1e-6);
      expect(c.maxGamma).toBeLessThanOrEqual(1);
    }
  }, 120_000);

  test('hemgpu ablate --t-train and --etas choose the grid; bad lists are usage errors before any training', async () => {
    const out = join(dir, 'ablate-grid');
    const cells = await runAblation(['--quick', '--t-train', '3', '--etas', '0.5,1', '--second-seeds', '0', '--out', out, ...TINY.filter((a) => a !== '--quiet')]);
    expect(cells.map((c) => [c.T, c.eta])).toEqual([
      [3, 0.5],
      [3, 1],
    ]);
    const md = readFileSync(join(out, 'ablation.md'), 'utf8');
    expect(md).toMatch(/^Validation mIoU[^\n]*\n\n\| T_train \\ η \| 0\.5 \| 1\.0 \(EMANet\) \|\n\| --- \| --- \| --- \|\n\| 3 \| \d+\.\d \| \d+\.\d \|\n\n/);
    expect(md).toMatch(/The EM unit's mean max_k γ after training/);
    // Resumable by cell: a cell missing from the CSV is trained again, the others are kept as they were.
    const csvPath = join(out, 'ablation.csv');
    const lines = readFileSync(csvPath, 'utf8').trim().split('\n');
    writeFileSync(csvPath, `${[lines[0], lines[1]].join('\n')}\n`);
    const log: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((m: unknown) => void log.push(String(m)));
    let resumed: Awaited<ReturnType<typeof runAblation>>;
    try {
      resumed = await runAblation(['--quick', '--t-train', '3', '--etas', '0.5,1', '--second-seeds', '0', '--out', out, ...TINY.filter((a) => a !== '--quiet')]);
    } finally {
      spy.mockRestore();
    }
    expect(log[0]).toBe(`resuming the grid in ${out}: 1 of its 2 runs are in ablation.csv (skipped); 1 to go.`);
    // The missing cell's directory holds its finished checkpoint: resumed (no step left), validated again, the same mIoU.
    expect(log.filter((l) => /^T=3 η=1 seed \d+: resuming .*checkpoint\.safetensors$/.test(l))).toHaveLength(1);
    expect(log.filter((l) => /^T=3 η=.*mIoU/.test(l))).toHaveLength(1);
    expect(resumed.map((c) => [c.T, c.eta])).toEqual([
      [3, 0.5],
      [3, 1],
    ]);
    const after = readFileSync(csvPath, 'utf8').trim().split('\n');
    expect(after[1]).toBe(lines[1]);
    expect(after[2]!.split(',').slice(0, 9)).toEqual(lines[2]!.split(',').slice(0, 9));
    // A grid written before a setting existed (here --data-seed) resumes: it trained with the setting's absent value.
    const jsonPath = join(out, 'ablation.json');
    const stored = JSON.parse(readFileSync(jsonPath, 'utf8')) as { shared: Record<string, unknown> };
    expect(stored.shared.dataSeed).toBe(0);
    delete stored.shared.dataSeed;
    writeFileSync(jsonPath, JSON.stringify(stored));
    const again: string[] = [];
    const spy2 = vi.spyOn(console, 'log').mockImplementation((m: unknown) => void again.push(String(m)));
    try {
      await runAblation(['--quick', '--t-train', '3', '--etas', '0.5,1', '--second-seeds', '0', '--out', out, ...TINY.filter((a) => a !== '--quiet')]);
    } finally {
      spy2.mockRestore();
    }
    expect(again[0]).toBe(`resuming the grid in ${out}: 2 of its 2 runs are in ablation.csv (skipped); 0 to go.`);
    // The same directory with another shared flag is refused before any training, naming it.
    await expect(
      runAblation(['--quick', '--t-train', '3', '--etas', '0.5,1', '--second-seeds', '0', '--out', out, ...TINY.filter((a) => a !== '--quiet'), '--lr', '0.02']),
    ).rejects.toThrow(`--lr: the cells in ${out} were trained with --lr 0.01; this grid asks for 0.02. Give the same flags to continue that grid, or another --out for a new one.`);
    writeFileSync(csvPath, `${lines[0]}\nnot,a,cell\n`);
    await expect(runAblation(['--quick', '--t-train', '3', '--etas', '0.5,1', '--second-seeds', '0', '--out', out, ...TINY.filter((a) => a !== '--quiet')])).rejects.toThrow(
      /ablation\.csv line 2 is not a cell/,
    );
    await expect(runAblation(['--etas', '0.5,0'])).rejects.toThrow(/^--etas: expected a number > 0 and ≤ 1, got '0'\.$/);
    await expect(runAblation(['--t-train', '2,x'])).rejects.toThrow(/^--t-train: expected an integer ≥ 1 and ≤ 64, got 'x'\.$/);
    await expect(runAblation(['--t-train', '1,3,1'])).rejects.toThrow(/^--t-train: '1,3,1' lists a value twice; give each once\.$/);
  }, 120_000);

  test("hemgpu ablate: a cell stopped part-way resumes from its checkpoint (the result of an uninterrupted cell); a checkpoint with other flags in a cell's directory is refused, its bytes kept", async () => {
    const out = join(dir, 'ablate-partial');
    const argv = ['--quick', '--t-train', '2', '--etas', '0.5', '--second-seeds', '0', '--steps', '3', '--out', out, ...TINY.filter((a) => a !== '--quiet')];
    const { base } = ablatePlan(argv, true);
    const cell: TrainFlags = { ...base, model: 'hemnet', eta: 0.5, iterations: 2, out: join(out, `T2-eta0.5-seed${base.seed}`) };
    // What Ctrl-C during the cell leaves: its checkpoint at step 1 of 3.
    let steps = 0;
    const partial = await train(cell, { shouldStop: () => steps >= 1, onStep: () => void steps++ });
    partial.model.dispose();
    expect([partial.interrupted, partial.steps]).toEqual([true, 1]);
    const whole = await train({ ...cell, out: join(dir, 'ablate-partial-whole') });
    whole.model.dispose();
    const log: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((m: unknown) => void log.push(String(m)));
    let cells: Awaited<ReturnType<typeof runAblation>>;
    try {
      cells = await runAblation(argv);
    } finally {
      spy.mockRestore();
    }
    expect(log).toContain(`T=2 η=0.5 seed ${base.seed}: resuming ${join(cell.out, 'checkpoint.safetensors')}`);
    expect(cells.map((c) => c.miou)).toEqual([whole.miou]);
    expect(hg.verifyCheckpoint(await hg.loadCheckpoint(join(cell.out, 'checkpoint.safetensors')), 'x').step).toBe(3);
    // Another grid's cell (another --lr) in a cell's directory: refused before any training.
    const other = join(dir, 'ablate-foreign');
    mkdirSync(join(other, `T2-eta0.5-seed${base.seed}`), { recursive: true });
    const foreign = await train({ ...cell, lr: 0.02, out: join(dir, 'ablate-foreign-src') });
    foreign.model.dispose();
    const target = join(other, `T2-eta0.5-seed${base.seed}`, 'checkpoint.safetensors');
    copyFileSync(foreign.checkpoint!, target);
    const bytes = readFileSync(target);
    const otherArgv = argv.map((a) => (a === out ? other : a));
    await expect(runAblation(otherArgv)).rejects.toThrow(
      `${target}: a checkpoint trained with --lr 0.02 (this cell: 0.01), not this grid's cell, which would replace it. Move it away, or give another --out.`,
    );
    expect(readFileSync(target).equals(bytes)).toBe(true);
    expect(existsSync(join(other, 'ablation.json'))).toBe(false);
  }, 120_000);

  test('hemgpu ablate --seeds 3: every cell over three seeds, the 95 % interval in the table; bad seed flags are usage errors', async () => {
    const out = join(dir, 'ablate-seeds');
    const ctx = ['--task', 'context', '--fragment', '6', '--min-digits', '2'];
    const cells = await runAblation(['--quick', '--seeds', '3', '--out', out, ...ctx, ...TINY.filter((a) => a !== '--quiet')]);
    // 2 T × 2 η cells × 3 seeds, and no second-seed reruns.
    expect(cells).toHaveLength(12);
    const seedsOf = (T: number, eta: number): number[] =>
      cells
        .filter((c) => c.T === T && c.eta === eta)
        .map((c) => c.seed)
        .sort();
    const s0 = cells[0]!.seed;
    expect(seedsOf(1, 0.4)).toEqual([s0, s0 + 1, s0 + 2]);
    const md = readFileSync(join(out, 'ablation.md'), 'utf8');
    expect(md).toMatch(/\d+\.\d ± \d+\.\d \(\d+\.\d–\d+\.\d, 3 seeds\)/);
    const csv = readFileSync(join(out, 'ablation.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(13);
    // The context task: the fragment and whole-digit accuracies as CSV columns and as tables of their own.
    expect(csv[0]).toBe('T,eta,seed,miou,fragments,whole,maxGamma,residual,rho,seconds');
    expect(md).toMatch(
      /Validation pixel accuracy \(%\) on the fragments pixels;[^\n]*\n\n\| T_train \\ η \| 0\.4 \| 1\.0 \(EMANet\) \|\n\| --- \| --- \| --- \|\n\| 1 \| \d+\.\d ± /,
    );
    expect(md).toMatch(/Validation pixel accuracy \(%\) on the whole pixels;/);
    await expect(runAblation(['--quick', '--seeds', '3', '--second-seeds', '2'])).rejects.toThrow(/--second-seeds: applies with --seeds 1 only/);
    await expect(runAblation(['--quick', '--seeds', '0'])).rejects.toThrow(/--seeds: expected an integer ≥ 1, got '0'/);
    // The interval: t(0.975, 2) · sd / √3 for 1, 2, 3 is 4.303 / √3.
    expect(halfWidth95([1, 2, 3])).toBeCloseTo(4.303 / Math.sqrt(3), 10);
    expect(halfWidth95([5])).toBeNaN();
    expect([formatSpread([]), formatSpread([NaN]), formatSpread([56.71, NaN]), formatSpread([1, 3]), formatSpread([1, 2, 3], 2)]).toEqual([
      '-',
      '-',
      '56.7',
      '2.0 (1.0–3.0, 2 seeds)',
      `2.00 ± ${(4.303 / Math.sqrt(3)).toFixed(2)} (1.00–3.00, 3 seeds)`,
    ]);
  }, 240_000);

  test('the CLI: train writes a checkpoint, figures and result.json; eval reports mIoU at another T; bad input exits 2', async () => {
    const out = join(dir, 'cli');
    /** `hemgpu <argv>` in-process: expects exit code `code` and returns what it printed. */
    const run = async (argv: string[], code: number): Promise<string> => {
      const r = await capture(argv);
      expect(r.code, r.text).toBe(code);
      return r.text;
    };
    await run(['train', ...TINY, '--steps', '2', '--out', out], 0);
    for (const f of ['checkpoint.safetensors', 'loss.png', 'samples.png', 'result.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const evalText = await run(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--iterations', '1'], 0);
    expect(evalText).toMatch(/evaluated with T = 1 on 4 validation scenes/);
    expect(evalText).toMatch(/mIoU \d\.\d{4}/);
    // --figures: Fig. 4 and the samples of the checkpoint, named after its directory; a file given as the directory is refused before any checkpoint is read.
    const figs = join(dir, 'eval-figures');
    const figText = await run(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--figures', figs], 0);
    for (const f of ['cli-attention.png', 'cli-samples.png']) expect(existsSync(join(figs, f)), f).toBe(true);
    expect(figText).toMatch(/figures .*cli-attention\.png, .*cli-samples\.png/);
    // EMANet's unit gets Fig. 4 too (at its own η = 1, not the config's 0.5); plain, with no unit, only samples.
    for (const model of ['emanet', 'plain']) await run(['train', ...TINY, '--model', model, '--steps', '1', '--out', join(dir, model)], 0);
    const emaFigs = join(dir, 'eval-figures-ema');
    for (const model of ['emanet', 'plain']) await run(['eval', '--checkpoint', join(dir, model, 'checkpoint.safetensors'), '--figures', emaFigs], 0);
    for (const f of ['emanet-attention.png', 'emanet-samples.png', 'plain-samples.png']) expect(existsSync(join(emaFigs, f)), f).toBe(true);
    expect(existsSync(join(emaFigs, 'plain-attention.png'))).toBe(false);
    expect(await run(['eval', '--checkpoint', join(dir, 'missing.safetensors'), '--figures', join(out, 'result.json')], 2)).toMatch(
      /--figures: '.*result\.json' is a file, not a directory\./,
    );
    expect(figureStem(['a/run/checkpoint.safetensors', 'b/other/checkpoint.safetensors'], 1)).toBe('other');
    expect(figureStem(['a/run/checkpoint.safetensors', 'b/run/checkpoint.safetensors'], 1)).toBe('run-2');
    expect(await run(['train', '--model', 'resnet'], 2)).toMatch(/--model: unknown value 'resnet'/);
    expect(await run(['eval'], 2)).toMatch(/--checkpoint: the checkpoint to evaluate is required/);
    expect(await run(['frobnicate'], 2)).toMatch(/unknown command 'frobnicate'/);
    await run(['eval', '--checkpoint', join(dir, 'missing.safetensors')], 1);
    // The demo, reduced to a smoke run: four models, a summary, the figures.
    const demoOut = join(dir, 'demo');
    const demoText = await run(
      ['demo', '--quick', '--quiet', '--out', demoOut, '--size', '16', '--min-scale', '8', '--max-scale', '14', '--train-scenes', '8', '--val-scenes', '4'],
      0,
    );
    for (const f of ['demo.json', 'loss.png', 'gradient-flow.png', 'attention.png', 'samples.png']) expect(existsSync(join(demoOut, f)), f).toBe(true);
    const summary = JSON.parse(readFileSync(join(demoOut, 'demo.json'), 'utf8')) as { results: Record<string, { miou: number }>; flags: Record<string, unknown> };
    expect(Object.keys(summary.results)).toEqual(['hemnet', 'emanet', 'pooling', 'plain']);
    // --quick shrinks only what is not given: the given scene counts hold, the steps and batch shrink.
    expect(summary.flags).toMatchObject({ trainScenes: 8, valScenes: 4, steps: 3, batch: 4, evalEvery: 0 });
    // The closing line lists the figures written, and only those (--quick writes no miou.png).
    const figures = /figures \(seed \d+\) in .*?: (.*)$/m.exec(demoText)![1]!.split(', ');
    expect(figures).not.toContain('miou.png');
    for (const f of figures) expect(existsSync(join(demoOut, f)), f).toBe(true);
    // A second demo into that --out would replace its checkpoints: refused before any work,
    // the bytes untouched; --overwrite replaces them.
    const demoArgs = ['demo', '--quick', '--quiet', '--out', demoOut, '--size', '16', '--min-scale', '8', '--max-scale', '14', '--train-scenes', '8', '--val-scenes', '4'];
    const hemCk = join(demoOut, 'hemnet', 'checkpoint.safetensors');
    const before = readFileSync(hemCk);
    expect(await run(demoArgs, 2)).toBe(
      `--out ${demoOut}: it holds the checkpoints of an earlier run (${hemCk} and 3 more), which this demo would replace. ` +
        'Give another --out, or add --overwrite to replace them (npm run demo -- --overwrite).',
    );
    expect(readFileSync(hemCk).equals(before)).toBe(true);
    await run([...demoArgs, '--seed', '2', '--overwrite'], 0);
    expect(readFileSync(hemCk).equals(before)).toBe(false);
    // --seeds 2 on the context task: every model twice, a table with each model's spread and its fragment accuracy.
    const seedsOut = join(dir, 'demo-seeds');
    const tinyDemo = flags('--size 16 --min-scale 8 --max-scale 14 --train-scenes 8 --val-scenes 4 --task context --fragment 6 --min-digits 2');
    const text = await run(['demo', '--quick', '--quiet', '--seeds', '2', '--seed', '5', '--out', seedsOut, ...tinyDemo], 0);
    for (const m of ['hemnet', 'emanet', 'pooling', 'plain'])
      for (const sd of [5, 6]) expect(existsSync(join(seedsOut, `${m}-seed${sd}`, 'checkpoint.safetensors')), `${m} ${sd}`).toBe(true);
    const multi = JSON.parse(readFileSync(join(seedsOut, 'demo.json'), 'utf8')) as {
      seeds: number[];
      results: Record<string, { miou: number; seeds: { seed: number; miou: number; regionAccuracy: Record<string, number> }[] }>;
    };
    expect(multi.seeds).toEqual([5, 6]);
    const hem = multi.results.hemnet!;
    expect(hem.seeds.map((x) => x.seed)).toEqual([5, 6]);
    expect(hem.miou).toBeCloseTo((hem.seeds[0]!.miou + hem.seeds[1]!.miou) / 2, 12);
    expect(Object.keys(hem.seeds[0]!.regionAccuracy).sort()).toEqual(['fragments', 'whole']);
    expect(text).toMatch(/seeds 5–6, context task/);
    expect(text).toMatch(
      /\| model \| validation mIoU \(%\), 2 seeds \| pixel accuracy on fragments \(%\) \| pixel accuracy on whole \(%\) \| mean max_k γ \(1\/K\) \| centred residual \| images\/s \|/,
    );
    expect(text).toMatch(/^\| plain \| \d+\.\d\d \(\d+\.\d\d–\d+\.\d\d, 2 seeds\) \| .* \| - \(no EM unit\) \| - \| /m);
    expect(text).toMatch(/^\| pooling \| .* \| 1\.000 \(1\.000–1\.000\) \(1\.000\) \| /m);
    expect(await run(['demo', '--seeds', '0'], 2)).toMatch(/--seeds: expected an integer ≥ 1, got '0'/);
  });
});
