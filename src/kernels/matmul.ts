/**
 * Launchers for kernels/matmul.wgsl: batched C = α · op(A) · op(B), op(X) = X or Xᵀ, with split-K
 * for long, narrow products. Under a register config (the default) on the vec4 `tiled4` kernel
 * when the rows are 16-byte aligned (ragged products above a size are zero-padded to it) and the
 * scalar kernel otherwise; under a shared config on kernels/matmul-shared.wgsl (any shape, no
 * padding). Forward only (no autograd): src/ops/matmul.ts records the gradient.
 */
import matmulWgsl from '../../kernels/matmul.wgsl';
import { engine } from '../device/engine.ts';
import { fmt, sameShape, sizeOf } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { ceil4 } from './dispatch.ts';
import { padZeros, sliceLeading } from './elementwise.ts';
import { matmulConfig, matmulConfigsInUse, type RegisterMatmulConfig } from './matmul-config.ts';
import { matmulSharedInto, type MatmulParams } from './matmul-shared.ts';
import { reduceSum } from './reduce.ts';
import { defineKernel } from '../gpu/registry.ts';

/**
 * The override sets matmulKernel dispatches here: every register config matmulConfig can pick on
 * this engine (matmulConfigsInUse), each with the four transpose combinations (the scalar kernel caps BM and BN at 2).
 */
function matmulVariants(entry: 'main' | 'tiled4'): Record<string, number | boolean>[] {
  const out: Record<string, number | boolean>[] = [];
  const configs = matmulConfigsInUse().filter((c): c is RegisterMatmulConfig => c.kind !== 'shared');
  const seen = new Set<string>();
  for (const cfg of configs) {
    for (const TRANS_A of [false, true]) {
      for (const TRANS_B of [false, true]) {
        const { WG_X, WG_Y } = cfg;
        const v: Record<string, number | boolean> =
          entry === 'tiled4'
            ? { BM: cfg.BM, BN: cfg.BN, WG_X, WG_Y, TRANS_A, TRANS_B }
            : { TM: 4 * Math.min(cfg.BM, 2), TN: 4 * Math.min(cfg.BN, 2), WG_X, WG_Y, TRANS_A, TRANS_B };
        const key = JSON.stringify(v);
        if (!seen.has(key)) out.push(v);
        seen.add(key);
      }
    }
  }
  return out;
}

const K = {
  matmul: /* @__PURE__ */ defineKernel('matmul', matmulWgsl, 'main', { variants: () => matmulVariants('main') }),
  matmulTiled4: /* @__PURE__ */ defineKernel('matmul_tiled4', matmulWgsl, 'tiled4', { variants: () => matmulVariants('tiled4') }),
};

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  batchShape: number[];
  strideA: number;
  strideB: number;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  const op = 'matmul';
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`${op}: both operands need rank ≥ 2 ([..., rows, cols]); got a ${fmt(a.shape)} and b ${fmt(b.shape)}. Reshape vectors to [1, n] or [n, 1].`);
  }
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const M = transA ? ac : ar;
  const Ka = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (Ka !== Kb) {
    throw new Error(
      `${op}: inner dimensions differ: a ${fmt(a.shape)} gives K = ${Ka} and b ${fmt(b.shape)} gives K = ${Kb} ` +
        `(transA = ${transA}, transB = ${transB}: a is [..., ${transA ? 'K, M' : 'M, K'}], b is [..., ${transB ? 'N, K' : 'K, N'}]).`,
    );
  }
  const la = a.shape.slice(0, -2);
  const lb = b.shape.slice(0, -2);
  const ba = sizeOf(la);
  const bb = sizeOf(lb);
  let batchShape: number[];
  // Equal counts are not enough: [2, 3] and [3, 2] batches hold 6 matrices each but do not pair up.
  if ((ba === bb && sameShape(la, lb)) || (ba === 1 && bb === 1)) batchShape = la.length >= lb.length ? la : lb;
  else if (ba === 1) batchShape = lb;
  else if (bb === 1) batchShape = la;
  else {
    throw new Error(
      `${op}: batch dimensions ${fmt(la)} of a ${fmt(a.shape)} and ${fmt(lb)} of b ${fmt(b.shape)} differ; ` +
        'they must be equal, or one operand must be 2-D (shared across the batch).',
    );
  }
  const batch = Math.max(ba, bb);
  const maxZ = engine().limits.maxComputeWorkgroupsPerDimension;
  if (batch > maxZ) throw new Error(`${op}: batch of ${batch} matrices is above this device's limit of ${maxZ}; split the batch.`);
  return { M, N, K: Ka, batch, batchShape, strideA: ba === 1 ? 0 : M * Ka, strideB: bb === 1 ? 0 : Ka * N };
}

/** Whether every operand row starts on a 16-byte boundary, so the vec4 `tiled4` path applies. */
function vec4Aligned(p: Plan, transA: boolean): boolean {
  return p.K % 4 === 0 && p.N % 4 === 0 && (!transA || p.M % 4 === 0);
}

/** Invocations that keep a GPU busy (~32K fill a large one) and a CPU driver's cores (its SIMD groups of 4 on a few cores). */
export const SPLIT_FILL = { gpu: 1 << 15, cpu: 64 } as const;

/**
 * Split-K: products with few outputs and long dot products (γᵀX: 64 × C outputs, K = N rows)
 * would leave most of a GPU idle (8 × 64 × 512 outputs are only 2K invocations), so K is cut
 * into chunks that run as extra workgroups and the partial products are summed by one
 * reduction. Returns 1 when the plain kernel has enough work: `fill` invocations (SPLIT_FILL: a
 * GPU's by default, a CPU driver's there), where the chunks' partial products and their reduction cost
 * more than idle lanes (1024³ was split in 4 there: 611 → 485 ms unsplit, docs/measurements.md).
 */
export function splitsFor(outputs: number, K: number, fill: number = SPLIT_FILL.gpu): number {
  // Invocations at the default 16×8 outputs each.
  const invocations = Math.ceil(outputs / 128);
  if (K < 1024 || invocations >= fill) return 1;
  return Math.max(1, Math.min(Math.floor(fill / invocations), Math.floor(K / 256), 64));
}

/** Products at least this large are zero-padded to the vec4 path when their shapes are ragged. */
const PAD_MIN = 1 << 15;

/**
 * C = α · op(A) · op(B). Ragged shapes (K, N, or M with transA, not multiples of 4) of a
 * product this size or larger are zero-padded to multiples of 4 so the vec4 `tiled4` kernel runs (zeros add nothing
 * to the dot products; padded rows and columns of C are cut off): on SwiftShader the scalar
 * kernel runs at ~0.1 GFLOPS against ~3 for tiled4, so three extra copies are cheap.
 */
export function matmulProduct(a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha = 1): Tensor {
  const p = plan(a, b, transA, transB);
  // The shared kernel takes any shape (its staged tiles are zero-filled past the edges): no padding.
  if (matmulConfig(p.M, p.N).kind === 'shared' || vec4Aligned(p, transA) || p.M * p.N * p.K < PAD_MIN) return matmulKernel(a, b, transA, transB, alpha, p);
  Tensor.assertFits([...p.batchShape, p.M, p.N], 'matmul'); // the caller's shape, before any padding
  const padLast2 = (t: Tensor, r: number, c: number): Tensor =>
    t.shape[t.rank - 2] === r && t.shape[t.rank - 1] === c ? t : padZeros('matmul', t, [...t.shape.slice(0, -2), r, c]);
  const K4 = ceil4(p.K);
  const N4 = ceil4(p.N);
  const M4 = transA ? ceil4(p.M) : p.M;
  const ap = transA ? padLast2(a, K4, M4) : padLast2(a, p.M, K4);
  const bp = transB ? padLast2(b, N4, K4) : padLast2(b, K4, N4);
  const cp = matmulKernel(ap, bp, transA, transB, alpha, plan(ap, bp, transA, transB));
  if (ap !== a) ap.dispose();
  if (bp !== b) bp.dispose();
  if (M4 === p.M && N4 === p.N) return cp;
  const c = sliceLeading('matmul', cp, [...cp.shape.slice(0, -2), p.M, p.N]);
  cp.dispose();
  return c;
}

/** Record the kernel for an already-planned product. */
function matmulKernel(a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha: number, p: Plan): Tensor {
  const cfg = matmulConfig(p.M, p.N);
  let splits = splitsFor(p.batch * p.M * p.N, p.K, engine().adapterInfo.software ? SPLIT_FILL.cpu : SPLIT_FILL.gpu);
  const kChunk = splits > 1 ? Math.ceil(p.K / splits / 4) * 4 : p.K;
  if (splits > 1) splits = Math.ceil(p.K / kChunk);
  const maxZ = engine().limits.maxComputeWorkgroupsPerDimension;
  if (p.batch * splits > maxZ) splits = 1;
  const chunk = splits > 1 ? kChunk : p.K;
  // With splits, each (batch, split) writes its own [M, N] slice of a [batch, splits, M, N] buffer.
  const c = Tensor.empty(splits > 1 ? [p.batch, splits, p.M, p.N] : [...p.batchShape, p.M, p.N], 'matmul');
  const values = { M: p.M, N: p.N, K: p.K, stride_a: p.strideA, stride_b: p.strideB, stride_c: p.M * p.N, alpha, splits, k_chunk: chunk };
  if (cfg.kind === 'shared') matmulSharedInto(a, b, c, values, p.batch, cfg, transA, transB);
  else registerKernels(a, b, c, transA, transB, values, p.batch, cfg, vec4Aligned(p, transA));
  if (splits === 1) return c;
  const summed = reduceSum('matmul split-K', c, [1], false, 1);
  c.dispose();
  const out = summed.view([...p.batchShape, p.M, p.N], 'matmul');
  summed.dispose();
  return out;
}

/** The register-tiled kernels of kernels/matmul.wgsl: `tiled4` for 16-byte-aligned rows, `main` otherwise. */
function registerKernels(a: Tensor, b: Tensor, c: Tensor, transA: boolean, transB: boolean, values: MatmulParams, batch: number, cfg: RegisterMatmulConfig, aligned: boolean): void {
  const params = { kind: 'uniform' as const, values: { ...values } };
  const groups = (bm: number, bn: number): [number, number, number] => [
    Math.ceil(values.N / (4 * bn * cfg.WG_X)),
    Math.ceil(values.M / (4 * bm * cfg.WG_Y)),
    batch * values.splits,
  ];
  if (aligned) {
    K.matmulTiled4.dispatch({
      bindings: { a4: a.bind('matmul'), b4: b.bind('matmul'), c4: c.bind('matmul', 'read_write'), q: params },
      overrides: { BM: cfg.BM, BN: cfg.BN, WG_X: cfg.WG_X, WG_Y: cfg.WG_Y, TRANS_A: transA, TRANS_B: transB },
      workgroups: groups(cfg.BM, cfg.BN),
    });
  } else {
    // The scalar kernel holds at most 8 rows and 8 columns per invocation.
    const bm = Math.min(cfg.BM, 2);
    const bn = Math.min(cfg.BN, 2);
    K.matmul.dispatch({
      bindings: { a: a.bind('matmul'), b: b.bind('matmul'), c: c.bind('matmul', 'read_write'), p: params },
      overrides: { TM: 4 * bm, TN: 4 * bn, WG_X: cfg.WG_X, WG_Y: cfg.WG_Y, TRANS_A: transA, TRANS_B: transB },
      workgroups: groups(bm, bn),
    });
  }
}

