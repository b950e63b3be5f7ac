/**
 * Launchers for kernels/eigh.wgsl: the batched symmetric eigendecomposition (parallel cyclic
 * Jacobi, one workgroup per matrix) and the two elementwise cores of its adjoints. Forward only
 * (no autograd): src/ops/eigh.ts and src/ops/spectral.ts record the gradients.
 */
import eighWgsl from '../../kernels/eigh.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { grid, groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  jacobi: /* @__PURE__ */ defineKernel('eigh_jacobi', eighWgsl, 'jacobi', { variants: () => overrideSets({ WG: decompositionWorkgroup() }, { LOCAL: [false, true] }) }),
  tridiagonalQl: /* @__PURE__ */ defineKernel('eigh_tridiagonal_ql', eighWgsl, 'tridiagonal_ql', { variants: () => overrideSets({ WG: decompositionWorkgroup(), LOCAL: false }) }),
  vectorsCore: /* @__PURE__ */ defineKernel('eigh_vectors_core', eighWgsl, 'vectors_core', { variants: () => overrideSets({ WG }) }),
  spectralCore: /* @__PURE__ */ defineKernel('eigh_spectral_core', eighWgsl, 'spectral_core', { variants: () => overrideSets({ WG }) }),
};

const WG = 64;
/** W and U in workgroup memory up to this d (the WGSL's LOCAL_D: 2·32²·4 B = 8 KiB). */
const LOCAL_D = 32;
/** The kernel's rotation table holds MAX_PAIRS pairs of a round: d ≤ 2 · MAX_PAIRS. */
export const EIGH_MAX_D = 1024;
/**
 * Jacobi's threshold: a pair rotates while |w_pq| > TOL·sqrt(|w_pp·w_qq|) (and > TOL², relative
 * to max|W| = 1). TOL is f32's machine epsilon 2⁻²³: below it a rotation changes nothing
 * representable.
 */
const JACOBI_TOL = 2 ** -23;
/**
 * Sweep bound. Cyclic Jacobi converges quadratically once off(W) is small; measured f32 sweep
 * counts (test/ops/eigh.test.ts checks them) stay far below this for d ≤ 256.
 */
export const JACOBI_MAX_SWEEPS = 40;

export interface EighParts {
  values: Tensor;
  vectors: Tensor;
  /**
   * Per matrix (i32 [n]): Jacobi's sweeps (JACOBI_MAX_SWEEPS + 1 if not converged) or the
   * tridiagonal method's QL steps (−2 if an eigenvalue did not converge); −1 for non-finite input.
   */
  sweeps: Tensor;
}

/** The two kernels of the decomposition (kernels/eigh.wgsl). */
export type EighMethod = 'jacobi' | 'tridiagonal';

/** The tridiagonal kernel's workgroup arrays bound d (the WGSL's QL_MAX_D). */
export const TRIDIAGONAL_MAX_D = 256;
/** QL steps allowed per eigenvalue (EISPACK's tql2 allows 30; two or three are typical). */
export const QL_MAX_STEPS = 30;

/** Invocations per matrix: 4 on a CPU driver (one SIMD group: barriers cost nothing), 64 elsewhere. */
function decompositionWorkgroup(): number {
  return adapterInfo().software ? 4 : WG;
}

/**
 * The method `eigh` uses for d × d matrices on this engine: on a CPU driver the tridiagonal QL
 * kernel up to its bound (measured faster at every d from 16 on SwiftShader, docs/measurements.md),
 * elsewhere Jacobi, which nobody here has timed against it on a GPU.
 */
export function defaultEighMethod(d: number): EighMethod {
  return adapterInfo().software && d <= TRIDIAGONAL_MAX_D ? 'tridiagonal' : 'jacobi';
}

/** Eigenvalues (ascending) and eigenvectors (columns) of sym(A) for A [..., d, d], by `method`. */
export function eighParts(op: string, a: Tensor, method: EighMethod = defaultEighMethod(a.shape[a.rank - 1]!)): EighParts {
  return method === 'jacobi' ? eighJacobi(op, a) : eighTridiagonal(op, a);
}

function launch(op: string, kernel: typeof K.jacobi, a: Tensor, local: boolean, maxSteps: number): EighParts {
  const d = a.shape[a.rank - 1]!;
  const n = a.size / (d * d);
  const values = Tensor.empty(a.shape.slice(0, -1), op);
  const vectors = Tensor.empty(a.shape, op);
  const sweeps = Tensor.empty([n], op, 'i32');
  // The LOCAL variant keeps W and U in workgroup memory; the scratch bindings then go unused.
  const work = Tensor.empty(local ? [1] : [n, d, d], op);
  const uwork = Tensor.empty(local ? [1] : [n, d, d], op);
  kernel.dispatch({
    bindings: {
      a: a.bind(op),
      work: work.bind(op, 'read_write'),
      uwork: uwork.bind(op, 'read_write'),
      values: values.bind(op, 'read_write'),
      vectors: vectors.bind(op, 'read_write'),
      sweeps: sweeps.bind(op, 'read_write'),
      jp: uniform({ n, d, max_sweeps: maxSteps, tol: JACOBI_TOL }),
    },
    overrides: { WG: decompositionWorkgroup(), LOCAL: local },
    workgroups: grid(n),
  });
  work.dispose();
  uwork.dispose();
  return { values, vectors, sweeps };
}

/** Parallel cyclic Jacobi (at most maxSweeps sweeps). */
export function eighJacobi(op: string, a: Tensor, maxSweeps = JACOBI_MAX_SWEEPS): EighParts {
  return launch(op, K.jacobi, a, a.shape[a.rank - 1]! <= LOCAL_D, maxSweeps);
}

/** Householder tridiagonalisation and implicit QL (at most maxSteps QL steps per eigenvalue; d ≤ TRIDIAGONAL_MAX_D). */
export function eighTridiagonal(op: string, a: Tensor, maxSteps = QL_MAX_STEPS): EighParts {
  const d = a.shape[a.rank - 1]!;
  if (d > TRIDIAGONAL_MAX_D) {
    throw new Error(`${op}: the tridiagonal method takes d ≤ ${TRIDIAGONAL_MAX_D}, got d = ${d}; use method 'jacobi' (any d ≤ ${EIGH_MAX_D}).`);
  }
  return launch(op, K.tridiagonalQl, a, false, maxSteps);
}

/** sym(K̃ ∘ M), K̃_ij = 1/(λ_j − λ_i), 0 where |λ_i − λ_j| ≤ gap·max|λ| (λ [..., d] sorted, M [..., d, d]). */
export function eighVectorsCore(op: string, lambda: Tensor, m: Tensor, gap: number): Tensor {
  const d = lambda.shape[lambda.rank - 1]!;
  const out = Tensor.empty(m.shape, op);
  K.vectorsCore.dispatch({
    bindings: { vlam: lambda.bind(op), vm: m.bind(op), vout: out.bind(op, 'read_write'), vp: uniform({ count: m.size, d, gap }) },
    overrides: { WG },
    workgroups: groupsFor(m.size, WG),
  });
  return out;
}

/**
 * G ∘ sym(M) with the Daleckii-Krein divided differences G of f on λ (f, df: f(λ), f'(λ) [..., d]);
 * f' counts as 0 at λ ≤ floor.
 */
export function spectralCore(op: string, lambda: Tensor, f: Tensor, df: Tensor, m: Tensor, gap: number, floor: Tensor): Tensor {
  const d = lambda.shape[lambda.rank - 1]!;
  const out = Tensor.empty(m.shape, op);
  K.spectralCore.dispatch({
    bindings: {
      slam: lambda.bind(op),
      sf: f.bind(op),
      sdf: df.bind(op),
      sm: m.bind(op),
      sout: out.bind(op, 'read_write'),
      sfloor: floor.bind(op),
      sp: uniform({ count: m.size, d, gap }),
    },
    overrides: { WG },
    workgroups: groupsFor(m.size, WG),
  });
  return out;
}
