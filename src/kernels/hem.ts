/**
 * Launchers for kernels/hem.wgsl, one per entry point: Tensors and numbers in, outputs allocated
 * here, one dispatch. Forward only (no autograd): src/ops/hem/ composes them into the fused layer
 * and its hand-written backward, and into hemEStep, hemNStep and elbo. The four heavy products
 * (E-step, its adjoint, wsum, dx) have tiled and subgroup twins: `registerPath(config)` gives this
 * file's, and src/kernels/hem-kernels.ts picks an engine's set once per configuration; the other
 * launchers serve every path.
 *
 * Every operand is already padded: channels C and bases K4 are multiples of 4 (src/ops/hem/
 * zero-pads odd sizes), and `bases` is the real K ≤ K4 where the kernel must mask padded bases.
 * Shapes: x [B, N, C]; bases μ [K4, C] (shared by the batch: stride 0) or [B, K4, C];
 * γ, dS [B, N, K4]. B, N, C and K4 are read from the shapes.
 */
import hemWgsl from '../../kernels/hem.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { SPLIT_FILL } from './matmul.ts';
import { grid, overrideSets, uniform } from './dispatch.ts';
import { getHemKernelConfig, type HemKernelConfig } from './hem-config.ts';
import type { DxPart, PathKernels, WeightedSums } from './hem-kernels.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  estep: /* @__PURE__ */ defineKernel('hem_estep', hemWgsl, 'estep', { variants: () => onRegisterPath(() => overrideSets({ WG: wg() }, { RBF: [false, true] }), true) }),
  wsum: /* @__PURE__ */ defineKernel('hem_wsum', hemWgsl, 'wsum', { variants: () => onRegisterPath(() => overrideSets({ WG: wg(), BLK: blocks() })) }),
  nstepFinish: /* @__PURE__ */ defineKernel('hem_nstep_finish', hemWgsl, 'nstep_finish', { variants: () => overrideSets({ WG: wg() }) }),
  wsumFinish: /* @__PURE__ */ defineKernel('hem_wsum_finish', hemWgsl, 'wsum_finish', { variants: () => overrideSets({ WG: wg() }) }),
  normalize: /* @__PURE__ */ defineKernel('hem_normalize', hemWgsl, 'normalize', { variants: () => overrideSets({ WG: wg() }) }),
  normalizeGrad: /* @__PURE__ */ defineKernel('hem_normalize_grad', hemWgsl, 'normalize_grad', { variants: () => overrideSets({ WG: wg() }) }),
  nstepPrep: /* @__PURE__ */ defineKernel('hem_nstep_prep', hemWgsl, 'nstep_prep', { variants: () => overrideSets({ WG: wg() }) }),
  estepGrad: /* @__PURE__ */ defineKernel('hem_estep_grad', hemWgsl, 'estep_grad', { variants: () => onRegisterPath(() => overrideSets({ WG: wg() }, { DGAMMA_IN: [false, true] }), true) }),
  dx: /* @__PURE__ */ defineKernel('hem_dx', hemWgsl, 'dx', { variants: () => onRegisterPath(() => overrideSets({ WG: wg(), BLK: blocks() }, { PART: [0, 1, 2] })) }),
  dmuFinish: /* @__PURE__ */ defineKernel('hem_dmu_finish', hemWgsl, 'dmu_finish', { variants: () => overrideSets({ WG: wg() }, { RBF: [false, true] }) }),
  elbo: /* @__PURE__ */ defineKernel('hem_elbo', hemWgsl, 'elbo', { variants: () => overrideSets({ WG: wg() }) }),
} as const;

/**
 * Invocations per workgroup of every entry point here: 64 on a GPU; 16 on a CPU driver, which runs
 * a workgroup's SIMD groups of 4 one after another on one core, early-returning ones included.
 * At the demo's shape (B 8, N 64, C 48, K 16) a wsum dispatch has 6 live invocations per batch
 * element: the layer's kernels took 14–16 ms per forward+backward at 64, 10–12 at 16, and the
 * same at N 4096 (docs/measurements.md).
 */
function wg(): number {
  return adapterInfo().software ? 16 : 64;
}

/**
 * The variants of a kernel that has a tiled twin: none while the engine uses the tiled path (nor,
 * for the E-step kernels, while it uses the subgroup ones).
 */
function onRegisterPath(sets: () => Record<string, number | boolean>[], estep = false): Record<string, number | boolean>[] {
  const c = getHemKernelConfig();
  return c.path === 'register' && !(estep && c.subgroups) ? sets() : [];
}

/** 4 × 4 blocks per side of a wsum or dx invocation on the register path (HemKernelConfig.blocks). */
function blocks(config: HemKernelConfig = getHemKernelConfig()): 2 | 4 {
  return config.blocks ?? 2;
}

/** Workgroups for `groups` per batch element, spread over x and y, batch in z. */
function batched(groups: number, B: number): [number, number, number] {
  const [gx, gy] = grid(groups);
  return [gx, gy, B];
}

/** B, N, C of x [B, N, C]. */
function rows(x: Tensor): { B: number; N: number; C: number } {
  const [B, N, C] = x.shape as [number, number, number];
  return { B, N, C };
}

/** K4 and the batch stride of bases [K4, C] (shared: 0) or [B, K4, C]. */
function bases(mu: Tensor): { K4: number; muStride: number } {
  const [K4, C] = mu.shape.slice(-2) as [number, number];
  return { K4, muStride: mu.rank === 2 ? 0 : K4 * C };
}

/**
 * Invocations the wsum chunks should give: enough to fill a large GPU, and on a CPU driver what
 * fills its cores (matmul's split-K uses the same, SPLIT_FILL.cpu). At C 64 the GPU's 4096 cut
 * N = 4096 into 128 chunks there, whose partial sums (2 MB) were written and read again by the
 * finish pass: wsum 92 → 51–61 ms per layer forward+backward at 64 (docs/measurements.md).
 */
const CHUNK_FILL = { gpu: 4096, cpu: SPLIT_FILL.cpu } as const;

/**
 * How the reductions over N (wsum) are split: enough (chunk, 4·blk bases, 4·blk channels)
 * invocations to fill the device (CHUNK_FILL), with at least 32 rows per chunk.
 */
function chunking(N: number, K4: number, C: number, blk: number, software: boolean): { chunks: number; rows: number } {
  const tiles = Math.ceil(K4 / (4 * blk)) * Math.ceil(C / (4 * blk));
  const fill = software ? CHUNK_FILL.cpu : CHUNK_FILL.gpu;
  const want = Math.max(1, Math.min(Math.ceil(fill / tiles), Math.ceil(N / 32)));
  const rowsPerChunk = Math.ceil(N / want);
  return { chunks: Math.ceil(N / rowsPerChunk), rows: rowsPerChunk };
}

/** One invocation per (base, 4 channels) of a [B, K4, C] result. */
function perBaseVec4(K4: number, C: number, B: number): [number, number, number] {
  return batched(Math.ceil((K4 * (C / 4)) / wg()), B);
}

/** One invocation per base row of a [B, K4, C] tensor. */
function perBase(K4: number, B: number): [number, number, number] {
  return batched(Math.ceil(K4 / wg()), B);
}

/** One invocation per 8 rows of [B, N, ·]. */
function perRowBlock(N: number, B: number): [number, number, number] {
  return batched(Math.ceil(Math.ceil(N / 8) / wg()), B);
}

/**
 * `estep`: γ = softmax(S / τ) over the first `bases` of K4 bases (the rest get 0), with
 * S = X μᵀ, or S = 2 X μᵀ − ‖μ‖² when `rbf`. → γ [B, N, K4].
 */
function launchEstep(op: string, x: Tensor, mu: Tensor, p: { bases: number; invTau: number; rbf: boolean; muStride: number }): Tensor {
  const { B, N, C } = rows(x);
  const K4 = mu.shape[mu.rank - 2]!;
  const gamma = Tensor.empty([B, N, K4], op);
  K.estep.dispatch({
    bindings: {
      ex: x.bind(op),
      emu: mu.bind(op),
      egamma: gamma.bind(op, 'read_write'),
      ep: uniform({ N, C, K: p.bases, K4, mu_stride: p.muStride, inv_tau: p.invTau }),
    },
    overrides: { WG: wg(), RBF: p.rbf },
    workgroups: perRowBlock(N, B),
  });
  return gamma;
}

/** `wsum`: the chunked reduction over N of Wᵀ X and of W, for x [B, N, C] and w [B, N, K4], in blk × blk blocks of 4 × 4. */
function launchWsum(op: string, x: Tensor, w: Tensor, blk: 2 | 4): WeightedSums {
  const { B, N, C } = rows(x);
  const K4 = w.shape[2]!;
  const ch = chunking(N, K4, C, blk, adapterInfo().software);
  const part = Tensor.empty([B, ch.chunks, K4, C], op);
  const sums = Tensor.empty([B, ch.chunks, K4], op);
  K.wsum.dispatch({
    bindings: {
      wx: x.bind(op),
      ww: w.bind(op),
      wpart: part.bind(op, 'read_write'),
      wsum_w: sums.bind(op, 'read_write'),
      wp: uniform({ N, C, K4, chunks: ch.chunks, rows_per_chunk: ch.rows }),
    },
    overrides: { WG: wg(), BLK: blk },
    workgroups: batched(Math.ceil((ch.chunks * Math.ceil(K4 / (4 * blk)) * Math.ceil(C / (4 * blk))) / wg()), B),
  });
  return { part, sums };
}

/** B, chunks, K4, C of a wsum partial [B, chunks, K4, C]. */
function partDims(ws: WeightedSums): { B: number; chunks: number; K4: number; C: number } {
  const [B, chunks, K4, C] = ws.part.shape as [number, number, number, number];
  return { B, chunks, K4, C };
}

/**
 * `nstep_finish` on wsum(X, γ): N_k = Σ γ, F = γᵀX / (N + ε) and the highway update
 * μ̂' = (1 − η) μ + η F. → next μ̂' [B, K4, C], F [B, K4, C], counts N [B, K4].
 */
export function launchNstepFinish(op: string, ws: WeightedSums, mu: Tensor, eta: number): { next: Tensor; f: Tensor; counts: Tensor } {
  const { B, chunks, K4, C } = partDims(ws);
  const next = Tensor.empty([B, K4, C], op);
  const f = Tensor.empty([B, K4, C], op);
  const counts = Tensor.empty([B, K4], op);
  K.nstepFinish.dispatch({
    bindings: {
      fpart: ws.part.bind(op),
      fsum: ws.sums.bind(op),
      fmu: mu.bind(op),
      nmu_out: next.bind(op, 'read_write'),
      nf: f.bind(op, 'read_write'),
      ncount: counts.bind(op, 'read_write'),
      fp: uniform({ C, K4, chunks, mu_stride: bases(mu).muStride, eta }),
    },
    overrides: { WG: wg() },
    workgroups: perBaseVec4(K4, C, B),
  });
  return { next, f, counts };
}

/** `wsum_finish`: Wᵀ X = the sum of wsum's chunks. → [B, K4, C]. */
export function launchWsumFinish(op: string, ws: WeightedSums): Tensor {
  const { B, chunks, K4, C } = partDims(ws);
  const out = Tensor.empty([B, K4, C], op);
  K.wsumFinish.dispatch({
    bindings: { spart: ws.part.bind(op), sout: out.bind(op, 'read_write'), sp: uniform({ C, K4, chunks }) },
    overrides: { WG: wg() },
    workgroups: perBaseVec4(K4, C, B),
  });
  return out;
}

/** `normalize`: every base row μ̂_k / (‖μ̂_k‖ + ε) of muHat [B, K4, C]. */
export function launchNormalize(op: string, muHat: Tensor): Tensor {
  const [B, K4, C] = muHat.shape as [number, number, number];
  const out = Tensor.empty([B, K4, C], op);
  K.normalize.dispatch({
    bindings: { zin: muHat.bind(op), zout: out.bind(op, 'read_write'), zp: uniform({ C, K4 }) },
    overrides: { WG: wg() },
    workgroups: perBase(K4, B),
  });
  return out;
}

/** `normalize_grad`: the adjoint of μ̂ ↦ μ̂ / (‖μ̂‖ + ε) at muHat [B, K4, C] applied to dmu. */
export function launchNormalizeGrad(op: string, muHat: Tensor, dmu: Tensor): Tensor {
  const [B, K4, C] = muHat.shape as [number, number, number];
  const out = Tensor.empty([B, K4, C], op);
  K.normalizeGrad.dispatch({
    bindings: { yu: muHat.bind(op), ydy: dmu.bind(op), ydu: out.bind(op, 'read_write'), yp: uniform({ C, K4 }) },
    overrides: { WG: wg() },
    workgroups: perBase(K4, B),
  });
  return out;
}

/**
 * `nstep_prep`: the N-step's adjoint up to A and N, from dμ̂' [B, K4, C], F and the counts:
 * dA = η dμ̂' / (N + ε), dN = −Σ_c η dμ̂' F / (N + ε). → dA [B, K4, C], dN [B, K4].
 */
export function launchNstepPrep(op: string, dmu: Tensor, f: Tensor, counts: Tensor, eta: number): { dA: Tensor; dN: Tensor } {
  const [B, K4, C] = dmu.shape as [number, number, number];
  const dA = Tensor.empty([B, K4, C], op);
  const dN = Tensor.empty([B, K4], op);
  K.nstepPrep.dispatch({
    bindings: {
      pdmu: dmu.bind(op),
      pf: f.bind(op),
      pcount: counts.bind(op),
      pda: dA.bind(op, 'read_write'),
      pdn: dN.bind(op, 'read_write'),
      pp: uniform({ C, K4, eta }),
    },
    overrides: { WG: wg() },
    workgroups: perBase(K4, B),
  });
  return { dA, dN };
}

/**
 * `estep_grad`: dγ = X dAᵀ + 1 dNᵀ (+ dgammaIn), then the softmax adjoint
 * dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)). → dS [B, N, K4]. A given `dgammaIn` [B, N, K4] (the R-step's
 * dγ) is consumed: dS is computed in its storage and returned in its place.
 */
function launchEstepGrad(op: string, x: Tensor, dA: Tensor, dN: Tensor, gamma: Tensor, dgammaIn: Tensor | null): Tensor {
  const { B, N, C } = rows(x);
  const K4 = gamma.shape[2]!;
  const dS = dgammaIn ?? Tensor.empty([B, N, K4], op);
  K.estepGrad.dispatch({
    bindings: {
      gx: x.bind(op),
      gda: dA.bind(op),
      gdn: dN.bind(op),
      ggamma: gamma.bind(op),
      gds: dS.bind(op, 'read_write'),
      gp: uniform({ N, C, K4 }),
    },
    overrides: { WG: wg(), DGAMMA_IN: dgammaIn !== null },
    workgroups: perRowBlock(N, B),
  });
  return dS;
}

/**
 * `dx`: the gradient one iteration sends to X, γ dA (N-step) + s · dS μ (E-step), into `out`
 * [B, N, C]: `part` 0 adds both to it, 1 or 2 writes the N-step's or the E-step's part alone.
 */
function launchDx(op: string, d: DxPart, out: Tensor, part: 0 | 1 | 2, blk: 2 | 4): void {
  const [B, N, K4] = d.gamma.shape as [number, number, number];
  const C = d.dA.shape[2]!;
  K.dx.dispatch({
    bindings: {
      xgamma: d.gamma.bind(op),
      xds: d.dS.bind(op),
      xda: d.dA.bind(op),
      xmu: d.mu.bind(op),
      xdx: out.bind(op, 'read_write'),
      xp: uniform({ N, C, K4, mu_stride: d.muStride, scale: d.scale }),
    },
    overrides: { WG: wg(), PART: part, BLK: blk },
    workgroups: batched(Math.ceil((Math.ceil(N / (4 * blk)) * Math.ceil(C / (4 * blk))) / wg()), B),
  });
}

/** The register path's heavy products (no barriers, `config.blocks` blocks per side in wsum and dx). */
export function registerPath(config: HemKernelConfig): PathKernels {
  const blk = blocks(config);
  return {
    estep: launchEstep,
    estepGrad: launchEstepGrad,
    wsum: (op, x, w) => launchWsum(op, x, w, blk),
    dx: (op, d, out, part) => launchDx(op, d, out, part, blk),
    chunking: (N, K4, C, software) => chunking(N, K4, C, blk, software),
  };
}

/**
 * `dmu_finish` on wsum(X, dS): dμ⁽ᵗ⁾ = (1 − η) dμ̂' + s · (dSᵀ X − [rbf] colsum(dS) ⊙ μ⁽ᵗ⁾), the
 * highway term from dnext [B, K4, C]. → [B, K4, C].
 */
export function launchDmuFinish(
  op: string,
  ws: WeightedSums,
  mu: Tensor,
  dnext: Tensor,
  p: { eta: number; scale: number; rbf: boolean },
): Tensor {
  const { B, chunks, K4, C } = partDims(ws);
  const dmu = Tensor.empty([B, K4, C], op);
  K.dmuFinish.dispatch({
    bindings: {
      mpart: ws.part.bind(op),
      msum: ws.sums.bind(op),
      mmu: mu.bind(op),
      mdnext: dnext.bind(op),
      mdmu: dmu.bind(op, 'read_write'),
      mp: uniform({ C, K4, chunks, mu_stride: bases(mu).muStride, eta: p.eta, scale: p.scale }),
    },
    overrides: { WG: wg(), RBF: p.rbf },
    workgroups: perBaseVec4(K4, C, B),
  });
  return dmu;
}

/**
 * `elbo`: per row n, Σ_k γ_nk ln N(x_n | μ_k, vI) − γ_nk ln γ_nk with v = τ / 2, over the first
 * `bases` bases; `channels` is C before padding (the Gaussians' normalising constant).
 * → [B, N] (the caller sums).
 */
export function launchElbo(op: string, x: Tensor, mu: Tensor, gamma: Tensor, p: { bases: number; channels: number; invTau: number }): Tensor {
  const { B, N, C } = rows(x);
  const { K4, muStride } = bases(mu);
  const rowTerms = Tensor.empty([B, N], op);
  K.elbo.dispatch({
    bindings: {
      lx: x.bind(op),
      lmu: mu.bind(op),
      lgamma: gamma.bind(op),
      lrow: rowTerms.bind(op, 'read_write'),
      lp: uniform({ N, C, K: p.bases, K4, mu_stride: muStride, inv_tau: p.invTau, c_real: p.channels }),
    },
    overrides: { WG: wg() },
    workgroups: batched(Math.ceil(N / wg()), B),
  });
  return rowTerms;
}
