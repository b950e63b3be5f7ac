/**
 * Bad input (the list): shape and rank mismatches, non-integer and negative dimensions,
 * data that does not fill the shape, tensors bigger than the device's maxStorageBufferBindingSize,
 * backward() on a non-scalar without a seed, labels outside [0, classes) that are not the ignore
 * index. Each must throw before any GPU work, with a message naming the op, the offending shapes
 * or values and what would be valid; "before any GPU work" is checked as: no tensor was created
 * (memoryStats().liveTensors unchanged) and no GPU buffer was allocated (buffersCreated and
 * inUseBytes unchanged).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';

let engine: hg.Engine;

beforeAll(async () => {
  engine = await hg.init();
});

/** Expect `fn` to throw a message matching every pattern, with no tensor or buffer made. */
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
  expect(after.liveTensors, `no tensor created or freed by: ${message}`).toBe(before.liveTensors);
  expect(after.liveBytes).toBe(before.liveBytes);
  expect(after.inUseBytes).toBe(before.inUseBytes);
  expect(after.buffersCreated).toBe(before.buffersCreated);
}

describe('shape and rank mismatches', () => {
  test('matmul: inner dimensions, with and without transpose flags', () => {
    const a = hg.zeros([2, 3]);
    const b = hg.zeros([4, 5]);
    rejects(
      () => hg.matmul(a, b),
      /^matmul: inner dimensions differ: a \[2, 3\] gives K = 3 and b \[4, 5\] gives K = 4/,
      /transA = false, transB = false: a is \[\.\.\., M, K\], b is \[\.\.\., K, N\]/,
    );
    rejects(() => hg.matmul(a, b, { transA: true }), /^matmul: inner dimensions differ: a \[2, 3\] gives K = 2 and b \[4, 5\] gives K = 4/, /a is \[\.\.\., K, M\]/);
    rejects(() => hg.matmul(a, b, { transB: true }), /^matmul: inner dimensions differ: a \[2, 3\] gives K = 3 and b \[4, 5\] gives K = 5/, /b is \[\.\.\., N, K\]/);
  });

  test('matmul: a batch above the device limit on workgroups per dimension', () => {
    const limit = engine.limits.maxComputeWorkgroupsPerDimension;
    const a = hg.zeros([limit + 1, 1, 1]);
    const b = hg.zeros([1, 1]);
    rejects(() => hg.matmul(a, b), new RegExp(`^matmul: batch of ${limit + 1} matrices is above this device's limit of ${limit}; split the batch`));
  });

  test('matmul: rank below 2', () => {
    const v = hg.zeros([3]);
    const m = hg.zeros([3, 2]);
    const s = hg.tensor(1);
    rejects(() => hg.matmul(v, m), /^matmul: both operands need rank ≥ 2 .*got a \[3\] and b \[3, 2\]/, /Reshape vectors to \[1, n\] or \[n, 1\]/);
    rejects(() => hg.matmul(m, s), /^matmul: both operands need rank ≥ 2 .*b \[\]/);
  });

  test('matmul: batch dimensions that differ', () => {
    const valid = /they must be equal, or one operand must be 2-D \(shared across the batch\)/;
    const [a2, b3, a23, b6, b32] = [
      [2, 3, 4],
      [3, 4, 5],
      [2, 3, 2, 4],
      [6, 4, 5],
      [3, 2, 4, 5],
    ].map((s) => hg.zeros(s)) as hg.Tensor[];
    rejects(() => hg.matmul(a2!, b3!), /^matmul: batch dimensions \[2\] of a \[2, 3, 4\] and \[3\] of b \[3, 4, 5\] differ/, valid);
    rejects(() => hg.matmul(a23!, b6!), /^matmul: batch dimensions \[2, 3\] of a \[2, 3, 2, 4\] and \[6\] of b \[6, 4, 5\] differ/, valid);
    // Same number of matrices but a different batch layout: [2, 3] vs [3, 2].
    rejects(() => hg.matmul(a23!, b32!), /^matmul: batch dimensions \[2, 3\] of a \[2, 3, 2, 4\] and \[3, 2\] of b \[3, 2, 4, 5\] differ/, valid);
  });

  test('broadcasting: every binary op names both shapes and the rule', () => {
    const a = hg.zeros([2, 3]);
    const b = hg.zeros([3, 2]);
    for (const [name, op] of [
      ['add', hg.add],
      ['sub', hg.sub],
      ['mul', hg.mul],
      ['div', hg.div],
    ] as const) {
      rejects(
        () => op(a, b),
        new RegExp(`^${name}: shapes \\[2, 3\\] and \\[3, 2\\] do not broadcast \\(dimension 0 of the result: 2 vs 3\\)`),
        /Each trailing dimension must match or be 1/,
      );
    }
    const c = hg.zeros([4, 2, 3]);
    const d = hg.zeros([4]);
    rejects(() => hg.add(c, d), /^add: shapes \[4, 2, 3\] and \[4\] do not broadcast \(dimension 2 of the result: 3 vs 4\)/);
    rejects(() => hg.expand(a, [4, 3, 3]), /^expand: cannot broadcast \[2, 3\] to \[4, 3, 3\]; each dimension must match or be 1/);
  });

  test('reductions and softmax: axes and ranks', () => {
    const x = hg.zeros([2, 3]);
    rejects(() => hg.sum(x, 2), /^sum: axis 2 is out of range for a tensor of rank 2 \(valid: -2\.\.1\)/);
    rejects(() => hg.mean(x, [0, -3]), /^mean: axis -3 is out of range for a tensor of rank 2 \(valid: -2\.\.1\)/);
    rejects(() => hg.sum(x, 0.5), /^sum: axis 0\.5 is out of range/);
    // An axis twice (also as -2 and 0) is refused, as PyTorch does, rather than summed once.
    rejects(() => hg.sum(x, [0, 0]), /^sum: axis 0 appears twice in \[0, 0\] for a tensor of rank 2; list each axis once\./);
    rejects(() => hg.mean(x, [-2, 0]), /^mean: axis 0 appears twice in \[-2, 0\]/);
    // A negative (or non-finite) std would negate the draws.
    rejects(() => hg.randn([4], { seed: 1, std: -1 }), /^randn\(\): std must be a finite number ≥ 0, got -1/);
    rejects(() => hg.randn([4], { seed: 1, std: NaN }), /^randn\(\): std must be a finite number ≥ 0, got NaN/);
    const s = hg.tensor(3);
    rejects(() => hg.softmax(s), /^softmax: needs rank ≥ 1 \(normalises the last axis\), got \[\]/);
    rejects(() => hg.crossEntropy(s, []), /^crossEntropy: logits need rank ≥ 1 \(\[\.\.\., classes\]\), got \[\]/);
  });

  test('operands that are not f32 tensors', () => {
    const x = hg.zeros([2]);
    rejects(() => hg.exp([1, 2] as unknown as hg.Tensor), /^exp: the input must be a Tensor, got \[object Array\]/);
    rejects(() => hg.add(x, 'a' as unknown as number), /^add: the second operand must be a Tensor, got string/);
    rejects(() => hg.mul(x, Number.NaN), /^mul: scalar operand must be a number, got NaN/);
    const labels = hg.Tensor.empty([2], 'test', 'i32');
    rejects(() => hg.exp(labels), /^exp: the input is an i32 index tensor; ops take f32 tensors/);
  });
});

describe('dimensions', () => {
  const makers: [string, (shape: number[]) => unknown][] = [
    ['zeros()', (s) => hg.zeros(s)],
    ['ones()', (s) => hg.ones(s)],
    ['full()', (s) => hg.full(s, 2)],
    ['rand()', (s) => hg.rand(s, { seed: 1 })],
    ['randn()', (s) => hg.randn(s, { seed: 1 })],
    ['tensor()', (s) => hg.tensor(new Float32Array(6), s)],
  ];
  for (const [name, make] of makers) {
    const op = name.replace(/[()]/g, '\\$&');
    test(`${name}: non-integer, negative, zero and non-number dimensions`, () => {
      rejects(() => make([2, 1.5]), new RegExp(`^${op}: shape \\[2, 1\\.5\\] has dimension 1 = 1\\.5; dimensions must be positive integers`));
      rejects(() => make([-2, -3]), new RegExp(`^${op}: shape \\[-2, -3\\] has dimension 0 = -2; dimensions must be positive integers`));
      rejects(() => make([3, Number.NaN]), new RegExp(`^${op}: shape \\[3, NaN\\] has dimension 1 = NaN`));
      rejects(() => make([6, 0]), new RegExp(`^${op}: shape \\[6, 0\\] has dimension 1 = 0; hemgpu has no empty tensors, every dimension must be ≥ 1`));
    });
  }

  test('reshape and expand targets', () => {
    const x = hg.zeros([2, 3]);
    rejects(() => hg.reshape(x, [3, 2.0001]), /^reshape: target shape \[3, 2\.0001\] has dimension 1 = 2\.0001; dimensions must be positive integers/);
    rejects(() => hg.reshape(x, [-3, -2]), /^reshape: target shape \[-3, -2\] has dimension 0 = -3/);
    rejects(() => hg.expand(x, [2, -3]), /^expand: target shape \[2, -3\] has dimension 1 = -3/);
  });
});

describe('data that does not match the shape', () => {
  test('tensor(): too few, too many, and the default shape', () => {
    rejects(
      () => hg.tensor([1, 2, 3], [2, 2]),
      /^tensor\(\): 3 values do not fill shape \[2, 2\], which holds 4\. Pass data of exactly that length, or the shape that matches the data\./,
    );
    rejects(() => hg.tensor(new Float32Array(7), [2, 3]), /^tensor\(\): 7 values do not fill shape \[2, 3\], which holds 6/);
    rejects(() => hg.tensor([[1, 2], [3]], [2, 2]), /^tensor\(\): 3 values do not fill shape \[2, 2\]/);
    rejects(() => hg.tensor(5, [2]), /^tensor\(\): 1 values do not fill shape \[2\], which holds 2/);
    rejects(() => hg.tensor('abc' as unknown as number[]), /^tensor\(\): data must be a Float32Array, a number or \(nested\) number arrays/);
  });

  test('write(): a length or type that does not match the tensor', () => {
    const t = hg.zeros([2, 2]);
    rejects(() => t.write(new Float32Array(3)), /^write\(\): 3 values for a tensor of shape \[2, 2\] \(4 elements\)/);
    rejects(() => t.write(new Int32Array(4)), /^write\(\): Int32Array data for a f32 tensor/);
  });
});

describe('tensors bigger than maxStorageBufferBindingSize', () => {
  test('creating one throws before allocating, naming the shape, the bytes and the limit', () => {
    const max = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
    const n = Math.floor(max / 4) + 1; // one f32 more than fits
    const limit = new RegExp(`more than this device allows in one buffer binding \\(maxStorageBufferBindingSize = ${max} bytes\\)`);
    rejects(() => hg.zeros([n]), new RegExp(`^zeros\\(\\): a tensor of shape \\[${n}\\] needs ${4 * n} bytes`), limit, /Split the work into smaller tensors/);
    rejects(() => hg.randn([n], { seed: 1 }), new RegExp(`^randn\\(\\): a tensor of shape \\[${n}\\] needs ${4 * n} bytes`), limit);
    rejects(() => hg.rand([2, Math.ceil(n / 2)], { seed: 1 }), /^rand\(\): a tensor of shape/, limit);
    rejects(() => hg.full([n], 1), /^full\(\): a tensor of shape/, limit);
  });

  test('an op whose output would be too big throws before allocating', () => {
    const max = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
    // [M, 1] · [1, N] with M·N·4 > max: small inputs, huge output.
    const m = 2 ** 15;
    const nCols = Math.floor(max / 4 / m) + 1;
    const a = hg.zeros([m, 1]);
    const b = hg.zeros([1, nCols]);
    const limit = /maxStorageBufferBindingSize = \d+ bytes/;
    rejects(() => hg.matmul(a, b), new RegExp(`^matmul: a tensor of shape \\[${m}, ${nCols}\\] needs ${4 * m * nCols} bytes`), limit);
    rejects(() => hg.add(a, b), new RegExp(`^add: a tensor of shape \\[${m}, ${nCols}\\]`), limit);
    rejects(() => hg.expand(b, [m, nCols]), /^expand: a tensor of shape/, limit);
  });
});

describe('reading', () => {
  test('item() needs exactly one element', async () => {
    const t = hg.zeros([2]);
    await expect(t.item()).rejects.toThrow(/^item\(\): tensor has shape \[2\]; item\(\) needs exactly one element/);
  });
});

describe('backward', () => {
  test('on a non-scalar without a seed', () => {
    const x = hg.zeros([2, 3], { requiresGrad: true });
    const y = hg.mul(x, 2);
    rejects(
      () => y.backward(),
      /^backward\(\): the tensor has shape \[2, 3\], not a scalar\. Pass a seed gradient of that shape \(t\.backward\(seed\)\), or reduce it first \(e\.g\. sum\(t\)\)\./,
    );
    const seed = hg.ones([3, 2]);
    rejects(() => y.backward(seed), /^backward\(\): seed gradient has shape \[3, 2\] but the tensor has shape \[2, 3\]; they must match\./);
    const plain = hg.sum(hg.zeros([2]));
    rejects(() => plain.backward(), /^backward\(\): this tensor \[\] does not require grad/);
  });
});

describe('cross-entropy labels', () => {
  test('a label outside [0, classes) that is not the ignore index', () => {
    const logits = hg.zeros([3, 4]);
    const valid = /Labels must be class indices or the ignore index\./;
    rejects(() => hg.crossEntropy(logits, [0, 4, 1]), /^crossEntropy: label 4 at position 1 is outside \[0, 4\) for logits \[3, 4\] and is not the ignore index \(-100\)/, valid);
    rejects(() => hg.crossEntropy(logits, [0, 1, -1]), /^crossEntropy: label -1 at position 2 is outside \[0, 4\)/, /not the ignore index \(-100\)/);
    rejects(() => hg.crossEntropy(logits, [0, 1.5, 2]), /^crossEntropy: label 1\.5 at position 1 is outside \[0, 4\)/);
    rejects(() => hg.crossEntropy(logits, [Number.NaN, 1, 2]), /^crossEntropy: label NaN at position 0/);
    rejects(() => hg.crossEntropy(logits, [0, -100, 2], { ignoreIndex: -1 }), /^crossEntropy: label -100 at position 1 is outside \[0, 4\) .*not the ignore index \(-1\)/);
    rejects(() => hg.crossEntropy(logits, Int32Array.from([3, 2, 9])), /^crossEntropy: label 9 at position 2/);
  });

  test('label counts and ignore indices that do not fit', () => {
    const logits = hg.zeros([2, 3, 4]);
    rejects(() => hg.crossEntropy(logits, [0, 1, 2]), /^crossEntropy: 3 labels for logits \[2, 3, 4\], which need 6 \(shape \[2, 3\]\)/);
    rejects(() => hg.crossEntropy(logits, new Array(6).fill(0), { ignoreIndex: 0.5 }), /^crossEntropy: ignoreIndex must be an integer, got 0\.5/);
    rejects(() => hg.crossEntropy(logits, null as unknown as number[]), /^crossEntropy: labels must be an array of integers of shape \[2, 3\]/);
  });
});
