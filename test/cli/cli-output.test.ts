/**
 * Honest output of the `hemgpu` command line (issue 11, point 8, and the flag half of point 7):
 * eval on a plain checkpoint, eval progress, class legends and samples from the dataset (VOC names
 * and palette, RGB images), demo --help, images/s without the warm-up step, the chart axes, and
 * our own messages for negative, fractional and missing flag values.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { TINY_RUN, withFlags } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { capture, usageErrorOf } from './run-cli.ts';
import { parseCheckpointList, parseIterationList } from '../../src/cli/eval.ts';
import { parseTrainFlags } from '../../src/cli/args.ts';
import { consoleHooks, printResult } from '../../src/cli/console.ts';
import { handleInterrupts } from '../../src/cli/interrupt.ts';
import { writeSamples } from '../../src/cli/figures.ts';
import { buildModel } from '../../src/train/setup.ts';
import { train, type TrainResult } from '../../src/train/trainer.ts';
import { VOC_CLASSES, vocColormap } from '../../src/data/voc-classes.ts';
import { lossChartSpec, miouChartSpec } from '../../src/viz/training-charts.ts';

const TINY = [...TINY_RUN, '--quiet'];
let dir: string;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-output-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('flag values', () => {
  test('negative, fractional and missing values get our message naming the flag and its range', () => {
    const bad: [string[], RegExp][] = [
      [['--steps', '-5'], /^--steps: expected an integer ≥ 1, got '-5'\.$/],
      [['--steps'], /^--steps: expected an integer ≥ 1, got nothing \(the flag needs a value\)\.$/],
      [['--steps', '--quiet'], /^--steps: expected an integer ≥ 1, got nothing/],
      [['--batch', '-2'], /^--batch: expected an integer ≥ 1, got '-2'\.$/],
      [['--lr', '-0.1'], /^--lr: expected a number > 0, got '-0.1'\.$/],
      [['--eta', '-.5'], /^--eta: expected a number > 0 and ≤ 1, got '-.5'\.$/],
      [['--seed', '-1'], /^--seed: expected an integer ≥ 0 and ≤ 4294967295, got '-1'\.$/],
      [['--warmup', '2.5'], /^--warmup: expected an integer ≥ 0, got '2.5'\.$/],
      [['--out'], /^--out: expected a path, got nothing/],
    ];
    for (const [argv, re] of bad) expect(usageErrorOf(argv).message, argv.join(' ')).toMatch(re);
    // A negative number where one is allowed still parses.
    expect(parseTrainFlags(['--em-gamma', '-1'])!.emGamma).toBe(-1);
    // The digit sizes' defaults shrink to a smaller canvas; given ones must fit it; VOC has no digits.
    expect([parseTrainFlags(['--size', '32'])!.minScale, parseTrainFlags(['--size', '32'])!.maxScale]).toEqual([20, 32]);
    expect(() => parseTrainFlags(['--size', '32', '--max-scale', '36'])).toThrow(/^--max-scale: expected an integer ≥ 20 and ≤ 32, got '36'\.$/);
    expect(parseTrainFlags(['--data', 'voc', '--voc-root', 'VOC', '--size', '32'])!.size).toBe(32);
  });

  test('eval: a negative --iterations gets the same message; exit 2', async () => {
    const r = await capture(['eval', '--checkpoint', 'x.safetensors', '--iterations', '-3']);
    expect(r.code).toBe(2);
    expect(r.text).toMatch(/--iterations: expected an integer ≥ 1 and ≤ 64, got '-3'/);
  });
});

describe('eval', () => {
  test('on a plain checkpoint: no "trained with T"; progress over the validation scenes; --iterations refused', async () => {
    const out = join(dir, 'plain');
    expect((await capture(['train', ...TINY, '--model', 'plain', '--steps', '1', '--out', out])).code).toBe(0);
    const ck = join(out, 'checkpoint.safetensors');
    const r = await capture(['eval', '--checkpoint', ck, '--batch', '1']);
    expect(r.code, r.text).toBe(0);
    expect(r.text).not.toMatch(/trained with T|evaluated with T/);
    expect(r.text).toMatch(/plain \(no EM unit\) on 4 validation scenes/);
    // Not a terminal here: a line per 10% of the scenes, ending at 4/4.
    expect(r.text).toMatch(/validation: 1\/4 scenes[\s\S]*validation: 4\/4 scenes/);
    const t = await capture(['eval', '--checkpoint', ck, '--iterations', '6']);
    expect(t.code).toBe(2);
    expect(t.text).toMatch(/--iterations: the plain model has no EM unit/);
  });
});

describe('eval over checkpoints and T_eval (Table 2)', () => {
  test('two seeds × T_eval 1-3: a line per evaluation and a table with the spread; the context task adds the region columns', async () => {
    const cks: string[] = [];
    for (const seed of ['1', '2']) {
      const out = join(dir, `t2-seed${seed}`);
      const r = await capture([
        'train',
        ...withFlags(TINY, [
          '--task',
          'context',
          '--min-digits',
          '2',
          '--max-digits',
          '3',
          '--fragment',
          '6',
          '--iterations',
          '2',
          '--steps',
          '1',
          '--seed',
          seed,
          '--out',
          out,
          '--size',
          '24',
          '--val-scenes',
          '8',
        ]),
      ]);
      expect(r.code, r.text).toBe(0);
      cks.push(join(out, 'checkpoint.safetensors'));
    }
    const r = await capture(['eval', '--checkpoint', cks.join(','), '--iterations', '1-3', '--batch', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.text.match(/T_eval \d: mIoU \d\.\d{4} {2}pixel accuracy \d\.\d{4} {2}pixel accuracy on fragments \d\.\d{4}, whole \d\.\d{4}/g)).toHaveLength(6);
    expect(r.text).toMatch(/hemnet, T_train 2, η 0\.5, 2 checkpoints; mean \(min–max, 2 seeds\)/);
    expect(r.text).toMatch(/\| T_eval \| mIoU \(%\) \| pixel accuracy \(%\) \| pixel accuracy on fragments \(%\) \| pixel accuracy on whole \(%\) \|/);
    expect(r.text).toMatch(/\| 2 \(= T_train\) \| \d+\.\d \(\d+\.\d–\d+\.\d, 2 seeds\) \|/);
    expect(r.text).toMatch(/^\| 3 \| /m);
    // The EM unit's diagnostics, per checkpoint, each figure beside what it is compared against.
    const diag = [
      ...r.text.matchAll(
        /EM unit on \d+ validation scenes \(T \d+\): mean max_k γ (\d\.\d{3}) \(uniform 1\/K = (\d\.\d{3})\), ρ = λmax\(Σ\)\/τ (\d+\.\d{2}) .*centred residual (\d\.\d{3}) \(1: global pooling\), bases' mean cosine (-?\d\.\d{3})/g,
      ),
    ];
    expect(diag).toHaveLength(2);
    for (const m of diag) {
      expect(Number(m[1])).toBeGreaterThanOrEqual(Number(m[2]));
      expect(Number(m[1])).toBeLessThanOrEqual(1);
    }
  });

  test('refused before any evaluation: a backwards range, a bad or empty entry, a repeated T_eval or checkpoint, checkpoints of different configurations', async () => {
    expect(parseIterationList('1-3,6,5')).toEqual([1, 2, 3, 6, 5]);
    // Each value once (a repeat would count as another row), and no empty entry.
    expect(() => parseIterationList('1-3,6,2')).toThrow("--iterations: T_eval 2 appears twice in '1-3,6,2'; list each T_eval once.");
    expect(() => parseIterationList('1,')).toThrow(/--iterations: an empty entry in '1,'/);
    // Bounded: a typo such as 1-1000 would unroll a thousand EM steps per scene.
    expect(parseIterationList('60-64')).toEqual([60, 61, 62, 63, 64]);
    expect(() => parseIterationList('1-1000')).toThrow('--iterations: the range 1-1000 goes past 64, the most EM iterations a flag accepts; end it at 64 or below.');
    expect(() => parseIterationList('65')).toThrow("--iterations: expected an integer ≥ 1 and ≤ 64, got '65'.");
    const trainT = await capture(['train', '--iterations', '1000']);
    expect([trainT.code, trainT.text]).toEqual([2, "--iterations: expected an integer ≥ 1 and ≤ 64, got '1000'."]);
    const ablateT = await capture(['ablate', '--t-train', '1,99']);
    expect([ablateT.code, ablateT.text]).toEqual([2, "--t-train: expected an integer ≥ 1 and ≤ 64, got '99'."]);
    expect(parseCheckpointList('a.safetensors,b/c.safetensors')).toEqual(['a.safetensors', 'b/c.safetensors']);
    const dup = await capture(['eval', '--checkpoint', 'x.safetensors,./x.safetensors']);
    expect([dup.code, dup.text]).toEqual([2, '--checkpoint: ./x.safetensors is given twice; each checkpoint counts as one seed, so list it once.']);
    const trailing = await capture(['eval', '--checkpoint', 'x.safetensors,']);
    expect([trailing.code, trailing.text]).toEqual([2, "--checkpoint: an empty entry in 'x.safetensors,'; give checkpoint paths separated by single commas."]);
    const back = await capture(['eval', '--checkpoint', 'x.safetensors', '--iterations', '5-2']);
    expect([back.code, back.text]).toEqual([2, '--iterations: the range 5-2 runs backwards; write it as 2-5.']);
    const bad = await capture(['eval', '--checkpoint', 'x.safetensors', '--iterations', '1,x']);
    expect(bad.text).toMatch(/^--iterations: expected an integer ≥ 1 and ≤ 64, got 'x'\.$/);
    const a = join(dir, 'mix-plain');
    const b = join(dir, 'mix-hem');
    expect((await capture(['train', ...TINY, '--model', 'plain', '--steps', '1', '--out', a])).code).toBe(0);
    expect((await capture(['train', ...TINY, '--steps', '1', '--out', b])).code).toBe(0);
    const mix = await capture(['eval', '--checkpoint', `${join(b, 'checkpoint.safetensors')},${join(a, 'checkpoint.safetensors')}`]);
    expect(mix.code).toBe(2);
    expect(mix.text).toMatch(
      /--checkpoint: .*mix-plain\/checkpoint\.safetensors has model plain but .*mix-hem\/checkpoint\.safetensors has hemnet; a table over checkpoints needs one configuration/,
    );
  });
});

describe('class legends and samples come from the dataset', () => {
  test('VOC: class names in the per-class IoU legend, not the digits', () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      const val = { count: 1, height: 16, width: 16, channels: 3, classes: 21, classNames: VOC_CLASSES, write() {} };
      printResult('hemnet', {
        steps: 1,
        miou: 0.1,
        pixelAccuracy: 0.5,
        regionAccuracy: {},
        imagesPerSecond: 1,
        checkpoint: 'c',
        interrupted: false,
        iou: new Array(21).fill(0.1),
        val,
      } as unknown as TrainResult);
    } finally {
      console.log = log;
    }
    const text = lines.join('\n');
    expect(text).toMatch(/; 1\.0 images\/s; checkpoint c$/m);
    expect(text).toMatch(/0 background, 1 aeroplane, 2 bicycle/);
    expect(text).toMatch(/20 tvmonitor/);
    expect(text).not.toMatch(/digits/);
  });

  test('VOC samples.png shows the RGB image in colour', async () => {
    // A yellow image (R = G = 1, B = 0): drawn in colour it has (255, 255, 0) pixels, which neither a
    // grey rendering of one channel nor any label colour (VOC's or the digits') can produce.
    const n = 2;
    const px = 16 * 16;
    const images = new Float32Array(n * px * 3);
    for (let i = 0; i < n * px; i++) images.set([1, 1, 0], 3 * i);
    const val = { images, labels: new Int32Array(n * px), count: n, height: 16, width: 16, channels: 3, classes: 21, classNames: VOC_CLASSES, palette: vocColormap(21) };
    const model = buildModel(parseTrainFlags([...TINY, '--model', 'plain'])!, val);
    const path = join(dir, 'samples.png');
    await writeSamples(path, model, val, 2);
    model.dispose();
    const png = PNG.sync.read(readFileSync(path));
    let yellow = 0;
    for (let i = 0; i < png.width * png.height; i++) {
      if (png.data[4 * i] === 255 && png.data[4 * i + 1] === 255 && png.data[4 * i + 2] === 0) yellow++;
    }
    expect(yellow).toBeGreaterThan(1000);
  });
});

describe('demo', () => {
  test('--help lists only the flags the demo takes, with the defaults it uses', async () => {
    const r = await capture(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.text).not.toMatch(/--model|--resume/);
    expect(r.text).toMatch(new RegExp(`--steps <value> .*\\(default ${hg.DEMO_STEPS.cpu} on a CPU driver, ${hg.DEMO_STEPS.gpu} on a GPU\\)`));
    expect(r.text).toMatch(/--optimizer <value> .*\(default adamw\)/);
    expect(r.text).toMatch(new RegExp(`--batch <value> .*\\(default ${hg.demoConfig().batch}\\)`));
    expect(r.text).toMatch(/--task <value> .*\(default context\)/);
    expect(r.text).toMatch(/--seeds <value> .*\(default 3\)/);
    expect(r.text).toMatch(/--quick/);
    const m = await capture(['demo', '--model', 'plain']);
    expect(m.code).toBe(2);
    expect(m.text).toMatch(/--model: the demo trains all four models \(hemnet, emanet, pooling, plain\)/);
  });
});

describe('repeated flags', () => {
  test('a flag given twice is refused naming its values, for every command, before any work', async () => {
    const r = await capture(['train', '--steps', '300', '--lr=0.1', '--steps=30']);
    expect([r.code, r.text]).toEqual([2, '--steps: given 2 times (300, 30); give it once.']);
    expect((await capture(['demo', '--quick', '--quick'])).text).toBe('--quick: given 2 times ((no value), (no value)); give it once.');
    for (const argv of [
      ['eval', '--batch', '2', '--batch', '4'],
      ['ablate', '--etas', '1', '--etas', '0.5'],
      ['structured', 'o2p', '--seeds', '1', '--seeds', '2'],
    ]) {
      expect((await capture(argv)).code, argv.join(' ')).toBe(2);
    }
  });
});

describe('--out paths', () => {
  test.runIf(existsSync('/proc/self'))('a path the OS cannot create is refused at once, naming the component (mkdir -p on /proc/x spun forever)', async () => {
    const t0 = performance.now();
    const r = await capture(['train', ...TINY, '--steps', '1', '--out', '/proc/hemgpu-no-such/run']);
    expect(r.code).toBe(2);
    expect(r.text).toBe('--out /proc/hemgpu-no-such/run: cannot create the directory (cannot create /proc/hemgpu-no-such (ENOENT)).');
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('ablate', () => {
  test('--help shows the defaults that run (the demo recipe, 400 steps on a CPU driver); flags a cell sets itself are refused, not ignored', async () => {
    const r = await capture(['ablate', '--help']);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/--steps <value> .*\(default 400 on a CPU driver, 1200 on a GPU\)/);
    expect(r.text).toMatch(/--optimizer <value> .*\(default adamw\)/);
    expect(r.text).toMatch(new RegExp(`--batch <value> .*\\(default ${hg.demoConfig().batch}\\)`));
    expect(r.text).not.toMatch(/--model|--eta |--iterations|--resume|--allow-change/);
    for (const [argv, message] of [
      [['--model', 'plain'], '--model: each cell trains hemnet (η < 1) or emanet (η = 1); choose the columns with --etas.'],
      [['--eta', '0.9'], '--eta: each column is an η; give them with --etas, e.g. --etas 0.5,1.'],
      [['--iterations=7'], '--iterations: each row is a T_train; give them with --t-train, e.g. --t-train 1,3,6.'],
      [['--resume', 'x.safetensors'], '--resume: the grid resumes by cell: rerun the same command with the same --out.'],
    ] as const) {
      const bad = await capture(['ablate', ...argv]);
      expect([bad.code, bad.text], argv.join(' ')).toEqual([2, message]);
    }
  });
});

describe('the stop notice', () => {
  test("says the first step is dropped while a run has not finished it, and 'finishing this step' after", () => {
    const notices: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((t: string | Uint8Array) => (notices.push(String(t)), true));
    // The handler is called directly (emitting SIGTERM on the process would reach the test runner's own listeners).
    const signal = (): void => (process.listeners('SIGTERM').at(-1) as (s: NodeJS.Signals) => void)('SIGTERM');
    try {
      for (const [steps, want] of [
        [0, /hemgpu train: SIGTERM — stopping before the first step ends \(nothing new is saved\) and exiting\./],
        [1, /hemgpu train: SIGTERM — finishing this step, then saving a checkpoint \(no validation pass\) and exiting\./],
      ] as const) {
        const interrupts = handleInterrupts('hemgpu train');
        const hooks = consoleHooks('hemnet', true, interrupts);
        try {
          hooks.onStart!({ step: 0, total: 5 });
          if (steps) hooks.onStep!({ step: 1, total: 5, loss: 1, lr: 0.01, imagesPerSecond: 1 });
          signal();
          expect(notices.join(''), `after ${steps} steps`).toMatch(want);
          expect(hooks.shouldStop!()).toBe(true);
        } finally {
          hooks.stop();
          interrupts.dispose();
          notices.length = 0;
        }
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe('timing and charts', () => {
  test('images/s leaves out the first step (pipeline warm-up) and the validations, and counts every later step', async () => {
    // Make step 1 slow (a 2.5 s stall, like pipeline compilation): the rate must not include it.
    // Step 3's 0.9 s stall must count: the rate is over steps 2-4, not the last step alone. The
    // validation passes between steps (a 2 s stall in each) are not training: they must not count.
    const stall = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const flags = parseTrainFlags([...TINY, '--model', 'plain', '--steps', '4', '--eval-every', '1'])!;
    const r = await train(
      { ...flags, out: join(dir, 'timing') },
      { onStep: ({ step }) => (step === 1 ? stall(2500) : step === 3 ? stall(900) : undefined), onEval: ({ step }) => (step < 4 ? stall(2000) : undefined) },
    );
    r.model.dispose();
    expect(r.secondsPerStep).toBeGreaterThan(0.3);
    expect(r.secondsPerStep).toBeLessThan(0.3 + 0.5);
    expect(r.imagesPerSecond).toBeCloseTo(flags.batch / r.secondsPerStep, 6);
  });

  test('loss and mIoU charts: x from step 1 to N, integer ticks', () => {
    const run = {
      name: 'a',
      history: {
        loss: [3, 2, 1],
        val: [
          { step: 2, miou: 0.1 },
          { step: 3, miou: 0.2 },
        ],
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const loss = lossChartSpec([run]) as any;
    expect((loss.data.values as { x: number }[]).map((v) => v.x)).toEqual([1, 2, 3]);
    expect(loss.encoding.x.axis).toMatchObject({ tickMinStep: 1, format: 'd' });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const miou = miouChartSpec([run]) as any;
    expect(miou.encoding.x.axis).toMatchObject({ tickMinStep: 1, format: 'd' });
  });
});
