/**
 * matmul: forward and backward against the float64 reference, for odd shapes (1, 3, 7, 33, 129,
 * 257, primes, non-multiples of the register tiles), all four transpose combinations, batched
 * operands and a shared 2-D (or batch-1) operand on either side; gradients also against central
 * finite differences for small shapes.
 *
 * Tolerances (see helpers.ts): an output element is a sum of T products of f32 inputs, so
 * |C_gpu − C| ≤ γ_{T+1} · (|A|·|B|) elementwise, whatever the summation order or fma use
 * (T = K for the forward pass, N for dA, and M·batch for the gradient of a shared operand, which
 * sums over the batch too). Integer inputs in [-3, 3] make every product and partial sum an exact
 * f32 integer (|sum| ≤ 257·9 ≪ 2^24), so those tests demand bit-exact results.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { engine } from '../../src/device/engine.ts';
import { matmulProduct, SPLIT_FILL, splitsFor } from '../../src/kernels/matmul.ts';
import { matmulConfig, NARROW_MATMUL_CONFIG, setTunedMatmulConfig, SMALL_BLOCKED_MATMUL_CONFIG, SMALL_MATMUL_CONFIG, WIDE_MATMUL_CONFIG } from '../../src/kernels/matmul-config.ts';
import {
  Rng,
  abs,
  dot,
  expectClose,
  expectExact,
  gamma,
  nd,
  numericGrad,
  read,
  readGrad,
  refMatmul,
  refMatmulGrad,
  sizeOf,
  upload,
  type MatmulOpts,
  type Nd,
  type Shape,
} from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const COMBOS: MatmulOpts[] = [
  { transA: false, transB: false },
  { transA: true, transB: false },
  { transA: false, transB: true },
  { transA: true, transB: true },
];

function name(o: MatmulOpts): string {
  return `transA=${o.transA ? 1 : 0} transB=${o.transB ? 1 : 0}`;
}

/** Stored shapes of A and B for a logical [M, K] × [K, N] product under the flags. */
function stored(M: number, K: number, N: number, o: MatmulOpts, batchA: Shape = [], batchB: Shape = []): [number[], number[]] {
  return [
    [...batchA, ...(o.transA ? [K, M] : [M, K])],
    [...batchB, ...(o.transB ? [N, K] : [K, N])],
  ];
}

/** Number of products summed into one element of dA / dB (all batches, for shared operands). */
function gradTerms(aShape: Shape, bShape: Shape, M: number, N: number): { ta: number; tb: number } {
  const ba = sizeOf(aShape.slice(0, -2));
  const bb = sizeOf(bShape.slice(0, -2));
  const batch = Math.max(ba, bb);
  return { ta: N * (ba === 1 ? batch : 1), tb: M * (bb === 1 ? batch : 1) };
}

interface Case {
  aShape: number[];
  bShape: number[];
  opts: MatmulOpts;
  M: number;
  N: number;
  K: number;
}

function makeCase(M: number, K: number, N: number, opts: MatmulOpts, batchA: Shape = [], batchB: Shape = []): Case {
  const [aShape, bShape] = stored(M, K, N, opts, batchA, batchB);
  return { aShape, bShape, opts, M, N, K };
}

/** Forward (and optionally backward) of one case against the reference with γ bounds. */
async function check(c: Case, rng: Rng, withGrad: boolean): Promise<void> {
  const a = nd(rng.f32(sizeOf(c.aShape)), c.aShape);
  const b = nd(rng.f32(sizeOf(c.bShape)), c.bShape);
  const ta = upload(a, undefined, withGrad);
  const tb = upload(b, undefined, withGrad);
  const out = hg.matmul(ta, tb, c.opts);
  const ref = refMatmul(a, b, c.opts);
  expect(out.shape).toEqual(ref.shape);
  const mag = refMatmul(abs(a), abs(b), c.opts);
  const label = `matmul ${JSON.stringify(c.aShape)}×${JSON.stringify(c.bShape)} ${name(c.opts)}`;
  expectClose(await read(out), ref.data, {
    atol: 0,
    rtol: 0,
    bound: mag.data.map((m) => gamma(c.K + 1) * m),
    shape: ref.shape,
    label,
  });
  if (!withGrad) return;
  const g = nd(rng.f32(sizeOf(ref.shape)), ref.shape);
  out.backward(upload(g));
  const rg = refMatmulGrad(a, b, g, c.opts);
  const mg = refMatmulGrad(abs(a), abs(b), abs(g), c.opts);
  const { ta: na, tb: nb } = gradTerms(c.aShape, c.bShape, c.M, c.N);
  expectClose(await readGrad(ta, 'a'), rg.da.data, {
    atol: 0,
    rtol: 0,
    bound: mg.da.data.map((m) => gamma(na + 1) * m),
    shape: c.aShape,
    label: `${label}: dA`,
  });
  expectClose(await readGrad(tb, 'b'), rg.db.data, {
    atol: 0,
    rtol: 0,
    bound: mg.db.data.map((m) => gamma(nb + 1) * m),
    shape: c.bShape,
    label: `${label}: dB`,
  });
}

describe('matmul forward, 2-D', () => {
  // [M, K, N]: ones, primes, the odd sizes of the issue, and sizes around the 4×4 / 8×8 register
  // tiles and the workgroup tiles, on both sides of the M·N ≤ 64² small-matrix switch.
  const SHAPES: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 1],
    [1, 1, 9],
    [3, 1, 3],
    [3, 5, 7],
    [7, 3, 1],
    [1, 257, 3],
    [2, 33, 5],
    [13, 17, 19],
    [31, 37, 41],
    [33, 33, 33],
    [64, 64, 64],
    [65, 63, 65],
    [129, 7, 5],
    [4, 9, 129],
    [129, 33, 129],
    [257, 3, 17],
    // K and N multiples of 4 (and M for transA): the vec4 'tiled4' path, with ragged M where the
    // flags allow it.
    [4, 4, 4],
    [1, 4, 4],
    [5, 8, 12],
    [8, 12, 16],
    [33, 4, 4],
    [65, 64, 68],
    [129, 36, 132],
    [257, 32, 260],
  ];
  for (const [M, K, N] of SHAPES) {
    test(`[${M}×${K}]·[${K}×${N}], all four transpose combinations`, async () => {
      const rng = new Rng(M * 1000003 + K * 1009 + N);
      for (const o of COMBOS) await check(makeCase(M, K, N, o), rng, false);
    });
  }

  test('257×257×257 (every flag combination) with random floats', async () => {
    const rng = new Rng(257);
    for (const o of COMBOS) await check(makeCase(257, 257, 257, o), rng, false);
  });

  test('integer data is bit-exact for odd shapes up to 257', async () => {
    const rng = new Rng(11);
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [7, 3, 1],
      [33, 129, 7],
      [129, 257, 33],
      [257, 1, 257],
      [257, 257, 3],
      [129, 256, 132],
      [36, 8, 260],
    ];
    for (const [M, K, N] of shapes) {
      for (const o of COMBOS) {
        const c = makeCase(M, K, N, o);
        const a = nd(rng.ints(sizeOf(c.aShape), -3, 3), c.aShape);
        const b = nd(rng.ints(sizeOf(c.bShape), -3, 3), c.bShape);
        const out = hg.matmul(upload(a), upload(b), o);
        const ref = refMatmul(a, b, o);
        expectExact(await read(out), ref.data, `int matmul ${M}×${K}×${N} ${name(o)}`, ref.shape);
      }
    }
  });

  test('other tile configurations (BM = 1/2/4, BN = 1/2/4, rectangular workgroups) stay exact on both paths', async () => {
    const rng = new Rng(12);
    const before = hg.getMatmulConfig();
    const configs: hg.MatmulConfig[] = [
      { BM: 1, BN: 2, WG_X: 4, WG_Y: 8 },
      { BM: 2, BN: 1, WG_X: 16, WG_Y: 4 },
      { BM: 2, BN: 2, WG_X: 8, WG_Y: 8 },
      { BM: 1, BN: 1, WG_X: 2, WG_Y: 16 },
      { BM: 4, BN: 2, WG_X: 8, WG_Y: 8 },
      { BM: 4, BN: 1, WG_X: 4, WG_Y: 2 },
      // 16 × 16 outputs per invocation (the scalar path caps BN at 2)
      { BM: 4, BN: 4, WG_X: 4, WG_Y: 8 },
      { BM: 2, BN: 4, WG_X: 8, WG_Y: 2 },
      { BM: 1, BN: 4, WG_X: 2, WG_Y: 4 },
      { BM: 4, BN: 4, WG_X: 1, WG_Y: 16 }, // NARROW_MATMUL_CONFIG: one column of invocations
      { BM: 4, BN: 4, WG_X: 1, WG_Y: 4 }, // SMALL_BLOCKED_MATMUL_CONFIG: one SIMD group per workgroup
    ];
    try {
      for (const cfg of configs) {
        hg.setMatmulConfig(cfg);
        // M·N > 64² so the configured tile (not the small-matrix one) is used; [65, 8, 68] and
        // [68, 12, 72] take the vec4 path (K, N multiples of 4; M too for transA), the rest the
        // scalar one.
        for (const [M, K, N] of [
          [67, 13, 71],
          [129, 5, 65],
          [3, 9, 1500],
          [65, 8, 68],
          [68, 12, 72],
          [70, 16, 36], // 16-row tiles over a ragged M: the last invocation row is partly out of range
          [36, 20, 84], // 16-column tiles over N = 84: the last invocation's last blocks out of range
        ] as [number, number, number][]) {
          for (const o of COMBOS) {
            const c = makeCase(M, K, N, o, [2], [2]);
            const a = nd(rng.ints(sizeOf(c.aShape), -3, 3), c.aShape);
            const b = nd(rng.ints(sizeOf(c.bShape), -3, 3), c.bShape);
            const out = hg.matmul(upload(a), upload(b), o);
            expectExact(await read(out), refMatmul(a, b, o).data, `matmul ${JSON.stringify(cfg)} ${M}×${K}×${N} ${name(o)}`);
          }
        }
      }
    } finally {
      hg.setMatmulConfig(before);
    }
  });
});

describe('matmul tile choice per product', () => {
  test('defaults: small products get the small tile (on a CPU driver the 16 × 16 one from 8 such blocks); on a CPU driver wide (N ≥ 256) and narrow (N < 256) products their 16 × 16 ones; a set config is used as set, a tuned one beside the narrow and small tiles; resetMatmulConfig returns to the defaults', () => {
    try {
      hg.resetMatmulConfig();
      const software = hg.adapterInfo().software;
      // Small outputs: 8 or more 16 × 16 blocks take the blocked tile on a CPU driver (48 × 48: 9).
      expect(matmulConfig(64, 64)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG);
      expect(matmulConfig(48, 48)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG);
      expect(matmulConfig(64, 20)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG);
      expect(matmulConfig(16, 48)).toEqual(SMALL_MATMUL_CONFIG); // 3 blocks
      expect(matmulConfig(47, 50)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG); // 3 × 4 ragged blocks
      expect(matmulConfig(32, 12)).toEqual(SMALL_MATMUL_CONFIG); // 2 blocks
      expect(matmulConfig(512, 255)).toEqual(software ? NARROW_MATMUL_CONFIG : hg.getMatmulConfig());
      expect(matmulConfig(512, 65)).toEqual(software ? NARROW_MATMUL_CONFIG : hg.getMatmulConfig());
      expect(matmulConfig(512, 64)).toEqual(software ? NARROW_MATMUL_CONFIG : hg.getMatmulConfig());
      expect(matmulConfig(2048, 12)).toEqual(software ? NARROW_MATMUL_CONFIG : hg.getMatmulConfig());
      expect(matmulConfig(512, 256)).toEqual(software ? WIDE_MATMUL_CONFIG : hg.getMatmulConfig());
      const set: hg.MatmulConfig = { kind: 'register', BM: 2, BN: 2, WG_X: 8, WG_Y: 8 };
      hg.setMatmulConfig(set);
      expect(matmulConfig(512, 1024)).toEqual(set);
      expect(matmulConfig(512, 48)).toEqual(set);
      expect(matmulConfig(64, 64)).toEqual(SMALL_MATMUL_CONFIG);
      // The tuner's choice (timed on square products) replaces the default and the wide tile;
      // narrow and small products keep theirs on a CPU driver. A caller's config afterwards applies to all.
      setTunedMatmulConfig(set);
      expect(matmulConfig(512, 1024)).toEqual(set);
      expect(matmulConfig(512, 128)).toEqual(software ? NARROW_MATMUL_CONFIG : set);
      expect(matmulConfig(512, 48)).toEqual(software ? NARROW_MATMUL_CONFIG : set);
      expect(matmulConfig(64, 64)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG);
      hg.setMatmulConfig(set);
      expect(matmulConfig(512, 48)).toEqual(set);
      setTunedMatmulConfig(set);
      hg.resetMatmulConfig();
      expect(matmulConfig(512, 48)).toEqual(software ? NARROW_MATMUL_CONFIG : hg.getMatmulConfig());
      expect(matmulConfig(512, 1024)).toEqual(software ? WIDE_MATMUL_CONFIG : hg.getMatmulConfig());
    } finally {
      hg.resetMatmulConfig();
    }
  });
});

describe('matmul split-K (small outputs, long dot products)', () => {
  const SHAPES: [number, number, number, Shape][] = [
    [8, 2048, 8, []],
    [7, 4225, 9, []],
    [64, 1028, 20, []],
    [12, 2051, 16, [3]],
  ];
  // Products with K ≥ 1024 and too few outputs to fill the adapter split K into chunks summed by
  // a reduction (src/kernels/matmul.ts splitsFor); both kernel paths, ragged K, batches and every
  // flag. Every shape below splits on a GPU and on a CPU driver alike.
  test('splitsFor engages only for long K and outputs too few to fill the adapter (a GPU or a CPU driver)', () => {
    expect(splitsFor(64 * 64, 4096)).toBeGreaterThan(1);
    expect(splitsFor(64 * 64, 512)).toBe(1);
    expect(splitsFor(1 << 22, 1 << 16)).toBe(1);
    expect(splitsFor(8 * 64 * 512, 4225)).toBeGreaterThan(1); // γᵀX at the paper's shape
    // 1024³ fills a CPU driver's cores: no chunks and no reduction there (a GPU splits it in 4).
    expect([splitsFor(1024 * 1024, 1024), splitsFor(1024 * 1024, 1024, SPLIT_FILL.cpu)]).toEqual([4, 1]);
    expect(splitsFor(256 * 256, 4096, SPLIT_FILL.cpu)).toBe(1);
    for (const [M, K, N, batch] of SHAPES) expect(splitsFor(M * N * Math.max(1, ...batch), K, SPLIT_FILL.cpu), `${M}×${K}×${N}`).toBeGreaterThan(1);
    expect(splitsFor(17 * 19, 1030, SPLIT_FILL.cpu)).toBeGreaterThan(1);
  });
  for (const [M, K, N, batch] of SHAPES) {
    test(`[${M}×${K}]·[${K}×${N}] batch ${JSON.stringify(batch)}, all four transpose combinations, with gradients`, async () => {
      const rng = new Rng(M * 7919 + K + N);
      for (const o of COMBOS) await check(makeCase(M, K, N, o, batch, batch), rng, true);
    });
  }
});

describe('matmul forward, batched and shared operands', () => {
  const CASES: [string, (o: MatmulOpts) => Case][] = [
    ['[3,M,K]·[3,K,N]', (o) => makeCase(5, 7, 3, o, [3], [3])],
    ['[2,3,M,K]·[2,3,K,N]', (o) => makeCase(7, 3, 9, o, [2, 3], [2, 3])],
    ['[4,M,K]·[K,N] (shared right)', (o) => makeCase(33, 5, 7, o, [4], [])],
    ['[M,K]·[4,K,N] (shared left)', (o) => makeCase(7, 5, 33, o, [], [4])],
    ['[1,M,K]·[3,K,N] (batch-1 left)', (o) => makeCase(3, 7, 5, o, [1], [3])],
    ['[3,M,K]·[1,K,N] (batch-1 right)', (o) => makeCase(3, 7, 5, o, [3], [1])],
    ['[2,2,M,K]·[K,N] (rank-4 with shared right)', (o) => makeCase(9, 4, 65, o, [2, 2], [])],
    ['[5,M,K]·[5,K,N] large tiles', (o) => makeCase(67, 11, 66, o, [5], [5])],
    // Small outputs of 8 or more 16 × 16 blocks (a CPU driver's blocked small tile): ragged, and vec4-aligned with a long K.
    ['[2,M,K]·[2,K,N] small blocked, ragged', (o) => makeCase(47, 13, 50, o, [2], [2])],
    ['[M,K]·[K,N] small blocked, vec4-aligned, K 520', (o) => makeCase(48, 520, 48, o)],
    ['[3,M,K]·[3,K,N] vec4-aligned', (o) => makeCase(68, 8, 72, o, [3], [3])],
    ['[4,M,K]·[K,N] vec4-aligned shared right', (o) => makeCase(36, 8, 12, o, [4], [])],
    ['[M,K]·[3,K,N] vec4-aligned shared left', (o) => makeCase(8, 12, 68, o, [], [3])],
  ];
  for (const [label, mk] of CASES) {
    test(label, async () => {
      const rng = new Rng(label.length * 7919);
      for (const o of COMBOS) await check(mk(o), rng, false);
    });
  }
});

describe('matmul backward vs the analytic reference gradient', () => {
  const CASES: [string, (o: MatmulOpts) => Case][] = [
    ['1×1×1', (o) => makeCase(1, 1, 1, o)],
    ['3×7×5', (o) => makeCase(3, 7, 5, o)],
    ['33×1×7', (o) => makeCase(33, 1, 7, o)],
    ['129×33×65', (o) => makeCase(129, 33, 65, o)],
    ['257×9×257', (o) => makeCase(257, 9, 257, o)],
    ['batched [3,7,5]·[3,5,9]', (o) => makeCase(7, 5, 9, o, [3], [3])],
    ['rank-4 batch [2,3]', (o) => makeCase(5, 3, 7, o, [2, 3], [2, 3])],
    ['shared right [4,M,K]·[K,N]', (o) => makeCase(33, 5, 7, o, [4], [])],
    ['shared right, rank 4 [2,3,M,K]·[K,N]', (o) => makeCase(5, 6, 7, o, [2, 3], [])],
    ['shared left [M,K]·[4,K,N]', (o) => makeCase(7, 5, 33, o, [], [4])],
    ['batch-1 left [1,M,K]·[3,K,N]', (o) => makeCase(3, 7, 5, o, [1], [3])],
    ['batch-1 right [3,M,K]·[1,K,N]', (o) => makeCase(3, 7, 5, o, [3], [1])],
    ['shared right, large [3,67,K]·[K,66]', (o) => makeCase(67, 13, 66, o, [3], [])],
    ['vec4-aligned 68×16×72', (o) => makeCase(68, 16, 72, o)],
    ['vec4-aligned ragged M 65×16×72', (o) => makeCase(65, 16, 72, o)],
    ['vec4-aligned shared right [3,36,8]·[8,12]', (o) => makeCase(36, 8, 12, o, [3], [])],
    ['vec4-aligned shared left [12,8]·[3,8,68]', (o) => makeCase(12, 8, 68, o, [], [3])],
  ];
  for (const [label, mk] of CASES) {
    test(label, async () => {
      const rng = new Rng(label.length * 104729);
      for (const o of COMBOS) await check(mk(o), rng, true);
    });
  }
});

describe('matmul backward vs central finite differences (float64 reference)', () => {
  const CASES: [string, (o: MatmulOpts) => Case][] = [
    ['3×5×2', (o) => makeCase(3, 5, 2, o)],
    ['1×3×1', (o) => makeCase(1, 3, 1, o)],
    ['batched [2,3,4]·[2,4,3]', (o) => makeCase(3, 4, 3, o, [2], [2])],
    ['shared right [3,2,4]·[4,3]', (o) => makeCase(2, 4, 3, o, [3], [])],
    ['shared left [2,4]·[3,4,3]', (o) => makeCase(2, 4, 3, o, [], [3])],
  ];
  for (const [label, mk] of CASES) {
    test(label, async () => {
      const rng = new Rng(label.length * 31337);
      for (const o of COMBOS) {
        const c = mk(o);
        const a = nd(rng.f32(sizeOf(c.aShape)), c.aShape);
        const b = nd(rng.f32(sizeOf(c.bShape)), c.bShape);
        const outShape = refMatmul(a, b, o).shape;
        const w = nd(rng.f32(sizeOf(outShape)), outShape);
        // L(A, B) = Σ W ⊙ (op(A)·op(B)) in float64; bilinear, so central differences have no
        // truncation error and only ~1e-13 roundoff.
        const L = (an: Nd, bn: Nd): number => dot(refMatmul(an, bn, o).data, w.data);
        const fdA = numericGrad((x) => L({ data: x, shape: c.aShape }, b), a.data);
        const fdB = numericGrad((x) => L(a, { data: x, shape: c.bShape }), b.data);
        // The reference's analytic gradient agrees with FD to float64 precision.
        const rg = refMatmulGrad(a, b, w, o);
        expectClose(rg.da.data, fdA, { atol: 1e-9, rtol: 1e-9, label: `${label} ${name(o)}: reference dA vs FD` });
        expectClose(rg.db.data, fdB, { atol: 1e-9, rtol: 1e-9, label: `${label} ${name(o)}: reference dB vs FD` });

        const ta = upload(a, undefined, true);
        const tb = upload(b, undefined, true);
        hg.matmul(ta, tb, o).backward(upload(w));
        const mg = refMatmulGrad(abs(a), abs(b), abs(w), o);
        const { ta: na, tb: nb } = gradTerms(c.aShape, c.bShape, c.M, c.N);
        // γ bound for the f32 sum plus 1e-9 for the FD estimate's own roundoff.
        expectClose(await readGrad(ta), fdA, {
          atol: 1e-9,
          rtol: 0,
          bound: mg.da.data.map((m) => gamma(na + 1) * m),
          label: `${label} ${name(o)}: GPU dA vs FD`,
        });
        expectClose(await readGrad(tb), fdB, {
          atol: 1e-9,
          rtol: 0,
          bound: mg.db.data.map((m) => gamma(nb + 1) * m),
          label: `${label} ${name(o)}: GPU dB vs FD`,
        });
      }
    });
  }

  test('only the operand that requires grad gets a gradient', async () => {
    const rng = new Rng(5);
    const a = upload(rng.f32(6), [2, 3], true);
    const b = upload(rng.f32(12), [3, 4], false);
    hg.sum(hg.matmul(a, b)).backward();
    expect(a.grad).not.toBeNull();
    expect(b.grad).toBeNull();
    // dA = 1 · Bᵀ summed over columns: row i of dA is the row sums of B.
    const bv = await b.read();
    const expected = Array.from({ length: 6 }, (_, i) => {
      const k = i % 3;
      return bv[k * 4]! + bv[k * 4 + 1]! + bv[k * 4 + 2]! + bv[k * 4 + 3]!;
    });
    expectClose(await readGrad(a), expected, { atol: 0, rtol: 0, bound: expected.map(() => gamma(5) * 4), label: 'dA' });
  });
});

describe('matmul on the workgroup-memory kernel (kind: shared)', () => {
  // Under a shared config every product with more than 64² outputs runs kernels/matmul-shared.wgsl
  // (smaller ones keep the small register tile), so the shapes below have M·N > 4096. Tiles:
  // 128×64 (the tuner's shape), 16×16 with 8 invocations (each stages several vec4s of a tile,
  // and a K of 13 leaves a partial last step) and 64×64 with more invocations than tile vec4s.
  const TILES: hg.SharedMatmulConfig[] = [
    { kind: 'shared', TM: 8, TN: 4, TK: 8, WG_X: 16, WG_Y: 16 },
    { kind: 'shared', TM: 4, TN: 8, TK: 4, WG_X: 2, WG_Y: 4 },
    { kind: 'shared', TM: 4, TN: 4, TK: 4, WG_X: 16, WG_Y: 16 },
  ];
  let before: hg.MatmulConfig;
  beforeAll(() => {
    before = hg.getMatmulConfig();
  });
  afterEach(() => {
    hg.setMatmulConfig(before);
  });

  /** Integer operands (bit-exact sums) for [M, K]·[K, N] with batches, every flag, against the reference. */
  async function exact(rng: Rng, M: number, K: number, N: number, batchA: Shape = [], batchB: Shape = [], alpha = 1): Promise<void> {
    for (const o of COMBOS) {
      const c = makeCase(M, K, N, o, batchA, batchB);
      const a = nd(rng.ints(sizeOf(c.aShape), -3, 3), c.aShape);
      const b = nd(rng.ints(sizeOf(c.bShape), -3, 3), c.bShape);
      const out = matmulProduct(upload(a), upload(b), o.transA!, o.transB!, alpha);
      const ref = refMatmul(a, b, o);
      const label = `shared ${JSON.stringify(hg.getMatmulConfig())} ${JSON.stringify(c.aShape)}×${JSON.stringify(c.bShape)} α = ${alpha} ${name(o)}`;
      expectExact(
        await read(out),
        ref.data.map((v) => alpha * v),
        label,
        ref.shape,
      );
    }
  }

  test('the shared kernel is the one dispatched', async () => {
    hg.setMatmulConfig({ kind: 'shared', TM: 4, TN: 8, TK: 32, WG_X: 4, WG_Y: 4 });
    const seen = hg.pipelineStats().syncLabels.length;
    await hg.matmul(hg.randn([70, 9], { seed: 1 }), hg.randn([9, 70], { seed: 2 })).read();
    expect(hg.pipelineStats().syncLabels.slice(seen)).toContain('matmul_shared [TK=32 TM=4 TN=8 TRANS_A=0 TRANS_B=0 WG_X=4 WG_Y=4]');
  });

  test('square, ragged (67×45×71, 1×N, M×1, 130×13×67) and tile-multiple shapes, every flag, bit-exact', async () => {
    const rng = new Rng(21);
    for (const cfg of TILES) {
      hg.setMatmulConfig(cfg);
      for (const [M, K, N] of [
        [128, 64, 128],
        [67, 45, 71],
        [1, 33, 4099],
        [4099, 33, 1],
        [130, 13, 67],
        [96, 96, 96],
      ] as [number, number, number][]) {
        await exact(rng, M, K, N);
      }
    }
  });

  test('random floats within the γ bound, with gradients (their products run shared too)', async () => {
    hg.setMatmulConfig(TILES[0]!);
    const rng = new Rng(22);
    for (const o of COMBOS) {
      await check(makeCase(129, 77, 131, o), rng, true);
      await check(makeCase(67, 45, 71, o, [2], [2]), rng, true);
    }
  });

  test('batched, with a shared operand on either side (stride 0) and batch-1 operands', async () => {
    const rng = new Rng(23);
    for (const cfg of TILES.slice(0, 2)) {
      hg.setMatmulConfig(cfg);
      await exact(rng, 67, 13, 66, [3], [3]);
      await exact(rng, 67, 13, 66, [2, 2], []);
      await exact(rng, 66, 9, 67, [], [3]);
      await exact(rng, 65, 7, 65, [1], [3]);
    }
  });

  test('split-K (ragged chunks, batches) and alpha', async () => {
    expect(splitsFor(17 * 19, 1030, SPLIT_FILL.cpu)).toBeGreaterThan(1);
    const rng = new Rng(24);
    for (const cfg of TILES.slice(0, 2)) {
      hg.setMatmulConfig(cfg);
      await exact(rng, 17, 1030, 19);
      await exact(rng, 17, 1030, 18, [2], [2]);
      await exact(rng, 17, 1030, 18, [], [2], 0.5);
      await exact(rng, 67, 45, 71, [3], [], -0.25);
    }
    hg.setMatmulConfig(TILES[0]!);
    const r2 = new Rng(25);
    for (const o of COMBOS) await check(makeCase(70, 1201, 66, o), r2, false);
  });

  test('tuneMatmul times both kinds and installs the fastest', async () => {
    const candidates: hg.MatmulConfig[] = [
      { kind: 'register', BM: 2, BN: 2, WG_X: 8, WG_Y: 8 },
      { kind: 'shared', TM: 8, TN: 4, TK: 8, WG_X: 8, WG_Y: 8 },
    ];
    const res = await hg.tuneMatmul({ n: 96, reps: 1, candidates });
    expect(res.map((r) => r.config.kind).sort()).toEqual(['register', 'shared']);
    expect(res[0]!.ms).toBeLessThanOrEqual(res[1]!.ms);
    expect(hg.getMatmulConfig()).toEqual(res[0]!.config);
  });

  test('tuneMatmul at a shape of a class installs the winner for that class alone; shapes outside the class and bad options are refused before timing', async () => {
    hg.resetMatmulConfig();
    try {
      const software = hg.adapterInfo().software;
      const candidates: hg.MatmulConfig[] = [
        { kind: 'register', BM: 2, BN: 2, WG_X: 4, WG_Y: 4 },
        { kind: 'register', BM: 4, BN: 4, WG_X: 1, WG_Y: 8 },
      ];
      const wide = matmulConfig(512, 512);
      const narrow = await hg.tuneMatmul({ shape: { M: 200, N: 40, K: 24, transB: true }, class: 'narrow', reps: 1, candidates });
      expect(narrow.map((r) => r.config)).toEqual(expect.arrayContaining(candidates));
      expect(matmulConfig(512, 48)).toEqual(narrow[0]!.config);
      expect(matmulConfig(512, 512)).toEqual(wide); // the general and wide configs as they were
      expect(matmulConfig(64, 64)).toEqual(software ? SMALL_BLOCKED_MATMUL_CONFIG : SMALL_MATMUL_CONFIG);
      const small = await hg.tuneMatmul({ shape: { M: 48, N: 40, K: 100, transA: true }, class: 'small', reps: 1, candidates });
      expect(matmulConfig(64, 64)).toEqual(small[0]!.config);
      expect(matmulConfig(512, 48)).toEqual(narrow[0]!.config); // the narrow winner kept
      const before = [matmulConfig(512, 48), matmulConfig(64, 64), matmulConfig(512, 512)];
      await expect(hg.tuneMatmul({ shape: { M: 512, N: 300, K: 8 }, class: 'narrow' })).rejects.toThrow(/tuneMatmul: a 'narrow' product has N < 256 .*N = 300/);
      await expect(hg.tuneMatmul({ shape: { M: 100, N: 100, K: 8 }, class: 'small' })).rejects.toThrow(
        /tuneMatmul: a 'small' product has at most 64² outputs, and 100 × 100 has 10000/,
      );
      await expect(hg.tuneMatmul({ class: 'narrow' })).rejects.toThrow(/tuneMatmul: class 'narrow' needs a shape of that class/);
      await expect(hg.tuneMatmul({ n: 64, shape: { M: 1, N: 1, K: 1 } })).rejects.toThrow(/tuneMatmul: give n .* or shape, not both/);
      await expect(hg.tuneMatmul({ class: 'tall' } as never)).rejects.toThrow(/tuneMatmul: class must be 'wide', 'narrow' or 'small', got "tall"/);
      await expect(hg.tuneMatmul({ shape: { M: 0, N: 4, K: 4 } })).rejects.toThrow(/tuneMatmul: shape\.M must be a positive integer, got 0/);
      await expect(hg.tuneMatmul({ shape: { M: 4, N: 4, K: 4, tA: true } as never })).rejects.toThrow(/tuneMatmul shape.*'tA'/);
      expect([matmulConfig(512, 48), matmulConfig(64, 64), matmulConfig(512, 512)]).toEqual(before); // nothing changed
    } finally {
      hg.resetMatmulConfig();
    }
  });

  test('bad shared configs are refused naming the field, the value and the limit', () => {
    const ok: hg.SharedMatmulConfig = { kind: 'shared', TM: 8, TN: 4, TK: 8, WG_X: 8, WG_Y: 8 };
    expect(() => hg.setMatmulConfig({ ...ok, BM: 4 } as never)).toThrow(/matmul config \(kind shared\): unknown field 'BM' \(fields: kind, TM, TN, TK, WG_X, WG_Y\)/);
    expect(() => hg.setMatmulConfig({ BM: 4, BN: 2, WG_X: 8, WG_Y: 8, TK: 8 } as never)).toThrow(/matmul config: unknown field 'TK' \(fields: kind, BM, BN, WG_X, WG_Y\)/);
    expect(() => hg.setMatmulConfig({ ...ok, kind: 'workgroup' } as never)).toThrow(/matmul config: kind must be 'register' or 'shared', got "workgroup"/);
    expect(() => hg.setMatmulConfig({ ...ok, TM: 3 })).toThrow(/TM must be 4 or 8, got 3/);
    expect(() => hg.setMatmulConfig({ ...ok, TN: 16 })).toThrow(/TN must be 4 or 8, got 16/);
    expect(() => hg.setMatmulConfig({ ...ok, TK: 12 })).toThrow(/TK must be 4, 8, 16 or 32, got 12/);
    expect(() => hg.setMatmulConfig({ ...ok, WG_X: 64, WG_Y: 64 })).toThrow(/workgroup 64×64 must be positive integers with at most \d+ invocations/);
    expect(hg.getMatmulConfig()).toEqual(before); // a refused config installs nothing
    const big: hg.SharedMatmulConfig = { kind: 'shared', TM: 8, TN: 8, TK: 32, WG_X: 16, WG_Y: 16 }; // 2 · 32 · 128 floats = 32 KiB
    if (engine().limits.maxComputeWorkgroupStorageSize < 32768) {
      expect(() => hg.setMatmulConfig(big)).toThrow(
        /a 128×128 tile with TK = 32 stages 32768 bytes of workgroup memory, above this device's maxComputeWorkgroupStorageSize of \d+; use a smaller TK/,
      );
    } else {
      expect(() => hg.setMatmulConfig(big)).not.toThrow();
    }
  });
});
