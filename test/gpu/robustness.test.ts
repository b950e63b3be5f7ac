/**
 * Dawn's robustness (bounds clamping of every buffer access) may be off only because every kernel
 * keeps its own accesses in bounds. Then results must be identical either way: this runs the same
 * ops — matmul (scalar and vec4 paths, all flag combinations, batched and shared operands),
 * softmax (both variants), reductions (both variants), broadcasting binary ops, unary ops,
 * layout copies, cross-entropy, random fills, eigh (both kernels), the HEM layer's fused kernels, and every backward
 * pass — on ragged shapes on an
 * engine with robustness forced on and one with it forced off (and on the default engine), and
 * asserts the results are bit-identical.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { setEngineScope } from '../../src/device/engine-scope.ts';
import { wgslModule } from '../../src/reflect.ts';
import { Rng, expectClose, gamma, nd, refMatmul, abs } from '../helpers.ts';

let robust: hg.Engine;
let fast: hg.Engine;
let dflt: hg.Engine;

beforeAll(async () => {
  dflt = await hg.init();
  robust = await hg.createEngine({ robustness: true });
  fast = await hg.createEngine({ robustness: false });
});

afterAll(() => {
  robust?.destroy();
  fast?.destroy();
});

interface Output {
  label: string;
  t: hg.Tensor;
}

/** The workload: host data from a fixed seed, so every engine sees the same inputs. */
function workload(): Output[] {
  const rng = new Rng(2718);
  const out: Output[] = [];
  const put = (label: string, t: hg.Tensor | null): void => {
    if (!t) throw new Error(`${label}: missing`);
    out.push({ label, t });
  };
  const param = (shape: number[], lo = -1, hi = 1): hg.Tensor =>
    hg.tensor(
      rng.f32(
        shape.reduce((a, d) => a * d, 1),
        lo,
        hi,
      ),
      shape,
      { requiresGrad: true },
    );

  // matmul: ragged shapes on the scalar path and the vec4 path, every flag combination, with
  // gradients; batched and shared operands.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 3, 5],
    [33, 17, 65],
    [129, 7, 3],
    [65, 8, 68], // K, N multiples of 4: vec4 path with ragged M
    [68, 12, 36], // every dimension a multiple of 4
    [130, 67, 129], // larger than the default workgroup tile in both directions
  ];
  for (const [M, K, N] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = param(transA ? [K, M] : [M, K]);
        const b = param(transB ? [N, K] : [K, N]);
        const c = hg.matmul(a, b, { transA, transB });
        c.backward(hg.tensor(rng.f32(M * N), [M, N]));
        const l = `matmul ${M}×${K}×${N} tA=${transA} tB=${transB}`;
        put(l, c);
        put(`${l} dA`, a.grad);
        put(`${l} dB`, b.grad);
      }
    }
  }
  {
    const a = param([3, 9, 5]);
    const b = param([5, 7]);
    const c = hg.matmul(a, b);
    hg.sum(c).backward();
    put('matmul batched · shared', c);
    put('matmul batched · shared dA', a.grad);
    put('matmul batched · shared dB', b.grad);
    const d = param([5, 6]); // stored [K, M], used transposed
    const e = param([2, 3, 5, 11]);
    const f = hg.matmul(d, e, { transA: true });
    hg.sum(f).backward();
    put('matmul shared · rank-4 batch', f);
    put('matmul shared · rank-4 batch dA', d.grad);
    put('matmul shared · rank-4 batch dB', e.grad);
  }

  // softmax: per-thread rows (≤ 256) and workgroup rows (> 256), ragged counts, with backward.
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [65, 33],
    [5, 256],
    [3, 257],
    [7, 1000],
  ] as [number, number][]) {
    const x = param([rows, cols], -5, 5);
    const y = hg.softmax(x, { scale: 0.3 });
    y.backward(hg.tensor(rng.f32(rows * cols), [rows, cols]));
    put(`softmax [${rows}, ${cols}]`, y);
    put(`softmax [${rows}, ${cols}] grad`, x.grad);
  }

  // reductions: both variants, strided axes, with backward (broadcast gather).
  for (const [shape, axes] of [
    [[50, 33], 1],
    [[3000, 7], 1],
    [[1000, 3], 0],
    [
      [37, 5, 41],
      [0, 2],
    ],
    [[4097], undefined],
    [
      [2, 3, 4, 5],
      [1, 3],
    ],
  ] as [number[], number | number[] | undefined][]) {
    const x = param(shape);
    const y = hg.mean(x, axes, { keepdim: true });
    y.backward(hg.tensor(rng.f32(y.size), y.shape));
    put(`mean [${shape}] over ${JSON.stringify(axes)}`, y);
    put(`mean [${shape}] grad`, x.grad);
    put(`sum [${shape}] over ${JSON.stringify(axes)}`, hg.sum(x, axes));
  }

  // broadcasting binary ops and their reduced gradients; unary ops.
  for (const [as, bs] of [
    [
      [3, 1, 5],
      [4, 1],
    ],
    [
      [33, 1],
      [1, 129],
    ],
    [[257], [1]],
    [[], [7, 3]],
  ] as [number[], number[]][]) {
    const a = param(as);
    const b = param(bs, 0.5, 2);
    const z = hg.div(hg.mul(hg.sub(hg.add(a, b), b), a), b);
    z.backward(hg.tensor(rng.f32(z.size), z.shape));
    put(`binary [${as}] ⊕ [${bs}]`, z);
    put(`binary [${as}] ⊕ [${bs}] da`, a.grad);
    put(`binary [${as}] ⊕ [${bs}] db`, b.grad);
  }
  {
    const x = param([7, 33], 0.1, 3);
    const y = hg.add(hg.add(hg.exp(x), hg.log(x)), hg.add(hg.sqrt(x), hg.pow(hg.relu(hg.sub(x, 1)), 3)));
    hg.sum(y).backward();
    put('unary chain', y);
    put('unary chain grad', x.grad);
  }

  // layout copies.
  {
    const x = param([3, 5, 7]);
    const p = hg.permute(x, [2, 0, 1]);
    const t = hg.transpose(x);
    const e = hg.expand(hg.reshape(x, [3, 1, 35]), [3, 4, 35]);
    hg.add(hg.add(hg.sum(p), hg.sum(t)), hg.sum(e)).backward();
    put('permute', p);
    put('transpose', t);
    put('expand', e);
    put('layout grad', x.grad);
  }

  // cross-entropy with ignored rows, and random fills.
  {
    const x = param([67, 11], -4, 4);
    const labels = Array.from({ length: 67 }, (_, i) => (i % 5 === 0 ? -100 : (i * 7) % 11));
    const l = hg.crossEntropy(x, labels);
    l.backward();
    put('crossEntropy', l);
    put('crossEntropy grad', x.grad);
    put('rand', hg.rand([1001], { seed: 3 }));
    put('randn', hg.randn([1001], { seed: 4 }));
    put('full', hg.full([3, 333], 0.1));
  }

  // eigh by both kernels (global scratch for Jacobi at d > 32, the tridiagonal one always), with
  // the backward through values and vectors.
  for (const method of ['jacobi', 'tridiagonal'] as const) {
    for (const d of [7, 37]) {
      const a = param([3, d, d]);
      const { values, vectors } = hg.eigh(a, { method });
      hg.add(hg.sum(hg.mul(values, values)), hg.sum(hg.mul(vectors, vectors))).backward();
      put(`eigh ${method} d=${d} values`, values);
      put(`eigh ${method} d=${d} vectors`, vectors);
      put(`eigh ${method} d=${d} grad`, a.grad);
    }
  }

  hemWorkload(put, param, rng);
  return out;
}

/**
 * The HEM layer's fused kernels (E-step, chunked reductions, N-step, normalisation, the backward
 * kernels, ELBO via the trace): ragged N, odd C and K (padding), shared and batched bases, both
 * E-step forms; on whichever kernel path the engine is configured for.
 */
function hemWorkload(put: (label: string, t: hg.Tensor | null) => void, param: (shape: number[]) => hg.Tensor, rng: Rng): void {
  for (const [B, N, C, K, shared, estep, normalizeBases] of [
    [1, 37, 8, 4, true, 'dot', false],
    [2, 205, 7, 5, false, 'rbf', false],
    [3, 13, 12, 9, true, 'dot', true],
  ] as const) {
    const x = param([B, N, C]);
    const mu0 = param(shared ? [K, C] : [B, K, C]);
    const r = hg.hem(x, mu0, { eta: 0.5, iterations: 3, estep, normalizeBases, trace: true });
    r.out.backward(hg.tensor(rng.f32(B * N * C), [B, N, C]));
    const l = `hem B=${B} N=${N} C=${C} K=${K} ${estep}${normalizeBases ? ' normalised' : ''}`;
    put(l, r.out);
    put(`${l} mu`, r.mu);
    put(`${l} gamma`, r.gamma);
    put(`${l} dx`, x.grad);
    put(`${l} dmu0`, mu0.grad);
    r.trace!.elbo.forEach((t, i) => put(`${l} elbo ${i}`, t));
  }
}

async function runOn(e: hg.Engine): Promise<{ labels: string[]; data: Float32Array[] }> {
  const outs = hg.withEngine(e, workload);
  for (const o of outs) expect(o.t.engine).toBe(e);
  const data = await Promise.all(outs.map((o) => o.t.read()));
  return { labels: outs.map((o) => o.label), data };
}

function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe('robustness on and off give bit-identical results', () => {
  test('the engines really differ in robustness', () => {
    expect(robust.adapterInfo.robustness).toBe(true);
    expect(fast.adapterInfo.robustness).toBe(false);
    expect(robust.device).not.toBe(fast.device);
    expect(dflt).not.toBe(robust);
    expect(dflt).not.toBe(fast);
  });

  test('the flag takes effect: an out-of-bounds read is clamped only with robustness on', async () => {
    // A deliberately unchecked kernel reading past its 4-element binding (still inside the
    // 256-byte pooled buffer, so nothing outside the allocation is touched). Clamped, it reads the
    // binding's last element; unclamped, the buffer's next elements. This shows the comparison
    // below is between two really different settings.
    const k = hg.defineKernel(
      'test_unchecked_read',
      wgslModule(`@group(0) @binding(0) var<storage, read> src: array<f32>;
       @group(0) @binding(1) var<storage, read_write> dst: array<f32>;
       @compute @workgroup_size(4) fn main(@builtin(local_invocation_index) i: u32) { dst[i] = src[i + 8u]; }`),
    );
    const run = (e: hg.Engine): hg.Tensor =>
      hg.withEngine(e, () => {
        const src = hg.tensor(Float32Array.from({ length: 64 }, (_, i) => i + 1));
        const dst = hg.zeros([4]);
        k.dispatch({ bindings: { src: { ...src.bind('test'), bytes: 16 }, dst: dst.bind('test', 'read_write') }, workgroups: [1] });
        return dst;
      });
    const clamped = Array.from(await run(robust).read());
    const raw = Array.from(await run(fast).read());
    expect(raw).toEqual([9, 10, 11, 12]);
    expect(clamped).not.toEqual(raw);
    expect(clamped.every((v) => v >= 0 && v <= 4)).toBe(true); // within the binding, or 0
  });

  test('every op and backward pass on ragged shapes', async () => {
    const r = await runOn(robust);
    const f = await runOn(fast);
    const d = await runOn(dflt);
    expect(f.labels).toEqual(r.labels);
    expect(d.labels).toEqual(r.labels);
    const mismatches: string[] = [];
    for (let i = 0; i < r.labels.length; i++) {
      for (const [name, other] of [
        ['robustness off', f],
        ['default engine', d],
      ] as const) {
        const a = r.data[i]!;
        const b = other.data[i]!;
        const k = a.length === b.length ? firstDifference(a, b) : 0;
        if (k >= 0) mismatches.push(`${r.labels[i]} (${name}): element ${k}: ${a[k]} vs ${b[k]}`);
      }
      expect(r.data[i]!.every(Number.isFinite), `${r.labels[i]} finite`).toBe(true);
    }
    expect(mismatches).toEqual([]);
    // The workload computed real results (not, say, zeros everywhere): check one product.
    const rng = new Rng(2718);
    const a = nd(rng.f32(1), [1, 1]);
    const b = nd(rng.f32(1), [1, 1]);
    const ref = refMatmul(a, b);
    expectClose(r.data[0]!, ref.data, { atol: 0, rtol: 0, bound: refMatmul(abs(a), abs(b)).data.map((m) => gamma(2) * m), label: 'first matmul' });
  });

  test('the HEM layer on the workgroup-tiled kernels (the GPU tiles, tiles smaller than the shapes) and the subgroup ones', async () => {
    const configs: hg.HemKernelConfig[] = [hg.TILED_HEM_CONFIG, { path: 'tiled', TX: 2, TY: 3, RT: 4 }];
    // The subgroup E-step kernels where the adapter has them (SwiftShader does).
    if (robust.adapterInfo.subgroupSize !== null && fast.adapterInfo.subgroupSize !== null) {
      configs.push({ ...hg.REGISTER_HEM_CONFIG, subgroups: 'bases' });
      // The 'rows' mapping needs 4-lane subgroups (SwiftShader's).
      if (robust.adapterInfo.subgroupSize === 4 && fast.adapterInfo.subgroupSize === 4) configs.push({ ...hg.REGISTER_HEM_CONFIG, subgroups: 'rows' });
    }
    for (const config of configs) {
      const run = async (e: hg.Engine): Promise<{ labels: string[]; data: Float32Array[] }> => {
        const outs: Output[] = [];
        hg.withEngine(e, () => {
          hg.setHemKernelConfig(config);
          const rng = new Rng(31415);
          const param = (shape: number[]): hg.Tensor =>
            hg.tensor(
              rng.f32(
                shape.reduce((a, d) => a * d, 1),
                -1,
                1,
              ),
              shape,
              { requiresGrad: true },
            );
          hemWorkload((label, t) => outs.push({ label, t: t! }), param, rng);
        });
        return { labels: outs.map((o) => o.label), data: await Promise.all(outs.map((o) => o.t.read())) };
      };
      const r = await run(robust);
      const f = await run(fast);
      expect(f.labels).toEqual(r.labels);
      const mismatches = r.labels.flatMap((l, i) => (firstDifference(r.data[i]!, f.data[i]!) >= 0 ? [`${l} (${JSON.stringify(config)})`] : []));
      expect(mismatches).toEqual([]);
      expect(r.data.every((d) => d.every(Number.isFinite))).toBe(true);
    }
  });

  test('withEngine restores the default engine, also after a throw', () => {
    expect(() =>
      hg.withEngine(fast, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    const t = hg.zeros([2]);
    expect(t.engine).toBe(dflt);
    const u = hg.withEngine(fast, () => hg.zeros([2]));
    expect(u.engine).toBe(fast);
    // Tensors cannot cross devices.
    expect(() => hg.add(t, u)).toThrow(/add: tensor #\d+ \[2\] lives on another engine/);
  });

  test('withEngine follows an async function across its awaits; code beside it keeps the default engine', async () => {
    const tick = () => new Promise((r) => setTimeout(r, 1));
    const inside = hg.withEngine(fast, async () => {
      const a = hg.zeros([2]);
      await tick();
      const b = hg.ones([2]);
      await tick();
      return [a, b, hg.add(a, b)];
    });
    // Runs while the async function above waits: the default engine, not `fast`.
    const beside = hg.zeros([2]);
    await tick();
    const besideLater = hg.ones([2]);
    const got = await inside;
    expect(got.map((t) => t.engine === fast)).toEqual([true, true, true]);
    expect(Array.from(await got[2]!.read())).toEqual([1, 1]);
    expect(beside.engine).toBe(dflt);
    expect(besideLater.engine).toBe(dflt);
    expect(hg.zeros([1]).engine).toBe(dflt);
  });

  test('without a way to carry the engine across awaits (a browser), withEngine refuses async work instead of misplacing it', async () => {
    const node = setEngineScope(null);
    expect(node).not.toBeNull();
    try {
      expect(() => hg.withEngine(fast, async () => hg.zeros([2]))).toThrow(/withEngine: fn is an async function, but on this platform the engine cannot follow it across an await/);
      expect(() => hg.withEngine(fast, () => Promise.resolve(1))).toThrow(/withEngine: fn returned a promise.*Make fn synchronous and await outside it/);
      // The synchronous form still works, and restores the default.
      expect(hg.withEngine(fast, () => hg.zeros([2])).engine).toBe(fast);
      expect(hg.zeros([2]).engine).toBe(dflt);
    } finally {
      setEngineScope(node);
    }
  });
});
