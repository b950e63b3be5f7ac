/**
 * No value ignored without a word (issue 11, points 4, 6 and the library half of 7):
 * Tensor.write() takes what tensor() takes and converts it; backward() through a used graph is
 * refused unless retained; tensor() and zeros() refuse non-numbers, ragged and mis-nested data
 * and infer a nested array's shape; crossEntropy refuses a Tensor of labels naming the fix; the
 * HEMGPU_* environment variables are checked. Every refusal comes before any GPU work.
 * (Mistyped options objects: test/tensor/options.test.ts.)
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { nodeProvider } from '../../src/device/node.ts';

beforeAll(async () => {
  await hg.init();
});

/** Expect `fn` to throw a message matching every pattern, with no tensor or GPU buffer made. */
function rejects(fn: () => unknown, ...patterns: RegExp[]): void {
  const before = hg.memoryStats();
  let message = '';
  try {
    fn();
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message, 'expected a throw').not.toBe('');
  for (const p of patterns) expect(message).toMatch(p);
  const after = hg.memoryStats();
  expect(after.liveTensors, `no tensor created by: ${message}`).toBe(before.liveTensors);
  expect(after.buffersCreated).toBe(before.buffersCreated);
  expect(after.inUseBytes).toBe(before.inUseBytes);
}

const values = async (t: hg.Tensor): Promise<number[]> => Array.from(await t.read());

describe('Tensor.write() takes what tensor() takes', () => {
  test('a Float64Array is converted, not reinterpreted', async () => {
    const t = hg.zeros([3]);
    t.write(Float64Array.of(1, 2, 3));
    expect(await values(t)).toEqual([1, 2, 3]);
  });

  test('number arrays, nested arrays of the tensor shape, and a number for one element', async () => {
    const t = hg.zeros([2, 2]);
    t.write([1, 2, 3, 4]);
    expect(await values(t)).toEqual([1, 2, 3, 4]);
    t.write([
      [5, 6],
      [7, 8],
    ]);
    expect(await values(t)).toEqual([5, 6, 7, 8]);
    const s = hg.zeros([]);
    s.write(2.5);
    expect(await s.item()).toBe(2.5);
  });

  test('an i32 tensor takes an Int32Array or integer arrays', async () => {
    const t = hg.Tensor.empty([3], 'test', 'i32');
    t.write([-1, 0, 7]);
    expect(Array.from(new Int32Array((await t.read()).buffer))).toEqual([-1, 0, 7]);
    rejects(() => t.write([1.5, 0, 1]), /^write\(\): element 0 = 1.5 is not a 32-bit integer/);
    rejects(() => t.write(Float32Array.of(1, 2, 3)), /^write\(\): Float32Array data for a i32 tensor; pass an Int32Array or integer arrays/);
  });

  test('anything else is refused before any GPU work', () => {
    const t = hg.zeros([2, 2]);
    rejects(() => t.write([1, 2, 3]), /^write\(\): 3 values for a tensor of shape \[2, 2\] \(4 elements\)/);
    rejects(() => t.write(['a', 2, 3, 4] as never), /^write\(\): data\[0\] is 'a' \(a string\); data must hold numbers only/);
    rejects(() => t.write([1, null, 3, 4] as never), /^write\(\): data\[1\] is null/);
    rejects(() => t.write([[1, 2, 3, 4]]), /^write\(\): nested data has shape \[1, 4\] but the shape is \[2, 2\]/);
    rejects(() => t.write(new Uint8Array(4) as never), /^write\(\): data must be a Float32Array, a number or \(nested\) number arrays, or a Float64Array; got Uint8Array data/);
    rejects(() => t.write('abcd' as never), /^write\(\): data must be a Float32Array, a number or \(nested\) number arrays, or a Float64Array; got 'abcd' \(a string\)/);
  });
});

describe('backward() through a graph a second time', () => {
  test('is refused, naming the op, before any GPU work', async () => {
    const x = hg.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = hg.sum(hg.mul(x, x));
    y.backward();
    expect(await values(x.grad!)).toEqual([2, 4, 6]);
    rejects(() => y.backward(), /^backward\(\): trying to backward through the graph a second time: op 'sum' \(tensor #\d+ \[\]\) was already used/, /retainGraph: true/);
    expect(await values(x.grad!)).toEqual([2, 4, 6]);
  });

  test('a second loss over a used subgraph is refused too (as in PyTorch)', () => {
    const x = hg.tensor([1, 2], [2], { requiresGrad: true });
    const h = hg.mul(x, 2);
    hg.sum(h).backward();
    const other = hg.sum(hg.exp(h));
    rejects(() => other.backward(), /op 'mul' .* was already used by an earlier backward\(\)/);
  });

  test('retainGraph keeps it: the second pass accumulates (gradients doubled), the third is refused', async () => {
    const x = hg.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = hg.sum(hg.mul(x, x));
    y.backward({ retainGraph: true });
    const once = await values(x.grad!);
    y.backward();
    expect(await values(x.grad!)).toEqual(once.map((v) => 2 * v));
    expect(() => y.backward()).toThrow(/second time/);
    const z = hg.mul(x, 3);
    x.zeroGrad();
    const seed = hg.tensor([1, -1, 2], [3]);
    z.backward(seed, { retainGraph: true });
    z.backward(seed);
    expect(await values(x.grad!)).toEqual([6, -6, 12]);
    expect(() => z.backward(seed, { retain: true } as never)).toThrow(/^backward\(\): unknown option 'retain' \(options: retainGraph\)/);
  });

  test('ops that keep saved state (fused HEM, conv2d, batchNorm, maxPool2d) backward twice with retainGraph', async () => {
    const rng = (n: number, s: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s));
    const x = hg.tensor(rng(1 * 6 * 6 * 4, 1), [1, 6, 6, 4], { requiresGrad: true });
    const w = hg.tensor(rng(3 * 3 * 4 * 4, 2), [3, 3, 4, 4], { requiresGrad: true });
    const mu0 = hg.tensor(rng(3 * 4, 3), [3, 4], { requiresGrad: true });
    const state = hg.batchNormState(4);
    const run = (): hg.Tensor => {
      const c = hg.conv2d(x, w, { padding: 1 });
      const b = hg.batchNorm(c, hg.ones([4]), hg.zeros([4]), state, { training: true });
      const p = hg.maxPool2d(b, { kernel: 2 });
      const r = hg.hem(hg.reshape(p, [1, 9, 4]), mu0, { fused: true });
      return hg.sum(hg.mul(r.out, r.out));
    };
    const loss = run();
    loss.backward({ retainGraph: true });
    const once = await Promise.all([x, w, mu0].map((t) => values(t.grad!)));
    loss.backward();
    const twice = await Promise.all([x, w, mu0].map((t) => values(t.grad!)));
    for (const [i, g] of once.entries()) {
      expect(g.some((v) => v !== 0)).toBe(true);
      expect(twice[i]).toEqual(g.map((v) => 2 * v));
    }
  });
});

describe('tensor() and zeros() input cases', () => {
  test('non-numbers are refused naming the element', () => {
    rejects(() => hg.tensor(['a', 'b'] as never, [2]), /^tensor\(\): data\[0\] is 'a' \(a string\); data must hold numbers only/);
    rejects(() => hg.tensor([1, null] as never, [2]), /^tensor\(\): data\[1\] is null; data must hold numbers only/);
    rejects(
      () =>
        hg.tensor([
          [1, 2],
          [3, undefined],
        ] as never),
      /^tensor\(\): data\[1\]\[1\] is undefined/,
    );
    rejects(() => hg.tensor([1, [2]] as never), /^tensor\(\): data\[1\] is an array but data\[0\] is a number/);
  });

  test('nested arrays give their shape; ragged ones are refused naming where', async () => {
    const t = hg.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(await values(t)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(hg.tensor([[[1], [2]]]).shape).toEqual([1, 2, 1]);
    expect(hg.tensor([1, 2, 3, 4], [2, 2]).shape).toEqual([2, 2]); // flat data fills any shape of its size
    expect(hg.tensor(Float64Array.of(1, 2, 3)).shape).toEqual([3]);
    rejects(
      () =>
        hg.tensor([
          [1, 2, 3],
          [4, 5],
        ]),
      /^tensor\(\): ragged nested arrays: data\[1\] has shape \[2\] but data\[0\] has shape \[3\]/,
    );
    rejects(
      () =>
        hg.tensor(
          [
            [1, 2, 3],
            [4, 5, 6, 7],
          ],
          [7],
        ),
      /^tensor\(\): ragged nested arrays: data\[1\] has shape \[4\]/,
    );
    rejects(
      () =>
        hg.tensor(
          [
            [1, 2],
            [3, 4],
          ],
          [4],
        ),
      /^tensor\(\): nested data has shape \[2, 2\] but the shape is \[4\]; pass nested data of that shape, or flat data to fill it/,
    );
    rejects(() => hg.tensor([]), /^tensor\(\): data is an empty array/);
  });

  test('a string dimension is named as a string', () => {
    rejects(() => hg.zeros(['3'] as never), /^zeros\(\): shape has dimension 0 = '3' \(a string\); dimensions must be positive integer numbers \(write 3 without quotes\)/);
    rejects(() => hg.tensor([1, 2], [null] as never), /^tensor\(\): shape has dimension 0 = null \(null\)/);
  });
});

describe('crossEntropy labels', () => {
  test('a Tensor of labels is refused, naming the fix', () => {
    const logits = hg.zeros([2, 3]);
    const f = hg.tensor([0, 1]);
    rejects(
      () => hg.crossEntropy(logits, f as never),
      /^crossEntropy: labels are host integers \(an Int32Array or a number array\) of shape \[2\], got a f32 Tensor \[2\]/,
      /Int32Array\.from\(await labels\.read\(\)\)/,
    );
    const i = hg.Tensor.empty([2], 'test', 'i32').write(Int32Array.of(0, 1));
    rejects(() => hg.crossEntropy(logits, i as never), /got an i32 Tensor \[2\]/);
  });

  test('host labels with the ignore label still work', async () => {
    const logits = hg.tensor([2, 0, 0, 5, 1, 0], [2, 3]);
    const both = await hg.crossEntropy(logits, Int32Array.of(0, 255), { ignoreIndex: 255 }).item();
    const first = await hg.crossEntropy(hg.tensor([2, 0, 0], [1, 3]), [0]).item();
    expect(both).toBeCloseTo(first, 6);
  });
});

describe('HEMGPU_* environment variables', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['HEMGPU_SWIFTSHADER_ICD', 'HEMGPU_ROBUSTNESS', 'HEMGPU_ADAPTER']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  test('HEMGPU_SWIFTSHADER_ICD naming a missing file is an init error naming it', async () => {
    process.env.HEMGPU_SWIFTSHADER_ICD = '/nonexistent.json';
    expect(() => nodeProvider.resolveOptions({})).toThrow(/^hemgpu init: HEMGPU_SWIFTSHADER_ICD=\/nonexistent\.json does not exist\. Point it at a vk_swiftshader_icd\.json/);
    await expect(hg.createEngine()).rejects.toThrow(/HEMGPU_SWIFTSHADER_ICD=\/nonexistent\.json does not exist/);
  });

  test('HEMGPU_ROBUSTNESS takes auto, on, off (1, 0) and refuses the rest naming them', () => {
    process.env.HEMGPU_ROBUSTNESS = 'maybe';
    expect(() => nodeProvider.resolveOptions({})).toThrow(/^hemgpu init: HEMGPU_ROBUSTNESS='maybe' is not a valid value; use auto, on or off/);
    for (const [v, want] of [
      ['on', true],
      ['1', true],
      ['off', false],
      ['0', false],
      ['auto', 'auto'],
      ['', 'auto'],
    ] as const) {
      process.env.HEMGPU_ROBUSTNESS = v;
      expect(nodeProvider.resolveOptions({}).robustness).toBe(want);
    }
  });

  test('HEMGPU_ADAPTER is strict too', () => {
    process.env.HEMGPU_ADAPTER = 'fast';
    expect(() => nodeProvider.resolveOptions({})).toThrow(/^hemgpu init: unknown adapter 'fast' \(from HEMGPU_ADAPTER\); use 'auto', 'gpu' or 'swiftshader'/);
  });
});
