/**
 * The peers: TensorFlow.js's WebGPU backend and jax-js's WebGPU device, run on the same Dawn
 * adapter as hemgpu (a second Dawn instance created with the same toggles, installed as
 * `navigator.gpu` before either library is imported), each computing the benchmarks' math with its
 * own ops and its own autograd:
 *
 *   matmul         C = A·B
 *   softmax        softmax(s·Z) over the last axis
 *   E-step         γ = softmax(X μᵀ / √C)
 *   N-step         N_k = Σ_n γ_nk, F = γᵀX / (N + ε), μ' = (1 − η) μ + η F
 *   HEM layer      T × (E-step, N-step), then X̃ = γ μ⁽ᵀ⁾ (docs/math.md; the `hemnet` preset:
 *                  τ = √C, 'dot' form, no base normalisation); forward+backward = the gradients
 *                  of sum(X̃ ⊙ G) w.r.t. X and μ⁽⁰⁾
 *   eigh           eigenvalues and eigenvectors of a batch of symmetric matrices (forward only:
 *                  jax-js's eigh has no derivative rule, and tfjs has no eigh)
 *
 * Every computation is a `PeerCall`: `run()` computes and waits for the GPU (tfjs: reading the
 * results, its only completion signal; jax-js: `blockUntilReady`), `values()` returns the outputs
 * for verification. Inputs are host arrays, so a peer sees exactly the values hemgpu sees.
 * jax-js functions run under `jit` (its idiomatic fast path: fused elementwise kernels and a
 * recorded graph) as 'jax-js', and op by op as 'jax-js-eager'; tfjs has no such compiler and runs
 * eagerly inside `tidy`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'webgpu';
import type { AdapterSummary } from '../../src/index.node.ts';
import { sleepWhileWaiting } from '../../src/device/dawn-polling.ts';

export type PeerName = 'jax-js' | 'jax-js-eager' | 'tfjs-webgpu';

export interface PeerCall {
  /** Compute once and wait for the GPU. */
  run(): Promise<void>;
  /** Compute once and return the outputs (host copies), in the order the case documents. */
  values(): Promise<Float32Array[]>;
  dispose(): void;
}

export interface HemShape {
  B: number;
  N: number;
  C: number;
  K: number;
  T: number;
  eta: number;
}

export interface Peer {
  name: PeerName;
  version: string;
  /** The adapter the library's device runs on, as WebGPU reports it. */
  adapter: string;
  matmul(a: Float32Array, b: Float32Array, n: number): PeerCall;
  /** softmax(scale · z) over the last axis of z [rows, cols]. */
  softmax(z: Float32Array, rows: number, cols: number, scale: number): PeerCall;
  /** γ = softmax(X μᵀ / √C) for X [N, C], μ [K, C]. */
  estep(x: Float32Array, mu: Float32Array, N: number, C: number, K: number): PeerCall;
  /** μ' for X [N, C], γ [N, K], μ [K, C]. */
  nstep(x: Float32Array, gamma: Float32Array, mu: Float32Array, N: number, C: number, K: number, eta: number): PeerCall;
  /** X̃ (forward), or [dX, dμ⁽⁰⁾] (backward) for X [B, N, C], μ⁽⁰⁾ [K, C], G [B, N, C]. */
  hem(x: Float32Array, mu0: Float32Array, g: Float32Array, s: HemShape, backward: boolean): PeerCall;
  /** [values [batch, d] ascending, vectors [batch, d, d] as columns] of symmetric a [batch, d, d]; absent where the library has no eigh. */
  eigh?(a: Float32Array, batch: number, d: number): PeerCall;
}

const EPS = 1e-6; // HEM_EPS

let installed = false;
/** navigator.gpu: a Dawn instance with the toggles hemgpu's device uses on this adapter. */
async function installNavigatorGpu(a: AdapterSummary): Promise<string> {
  if (!installed) {
    // VK_ICD_FILENAMES / VK_DRIVER_FILES were set by hemgpu's init, so this instance sees the same driver.
    const gpu = create(a.robustness ? [] : ['enable-dawn-features=disable_robustness']);
    const nav = ((globalThis as { navigator?: object }).navigator ?? {}) as Record<string, unknown>;
    // userAgent: jax-js reads it to detect Firefox.
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node}`, ...nav, gpu }, configurable: true, writable: true });
    installed = true;
  }
  const adapter = await (globalThis as unknown as { navigator: Navigator }).navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('peers: navigator.gpu found no adapter');
  const desc = adapter.info.description || adapter.info.device;
  const ours = a.description || a.device;
  if (desc !== ours) throw new Error(`peers: navigator.gpu reaches '${desc}', not hemgpu's adapter '${ours}': the comparison would not be on the same device`);
  return desc;
}

// ------------------------------------------------------------------------------------------ jax-js

/** jax-js with every function under `jit` ('jax-js'), or run op by op ('jax-js-eager'). */
export async function loadJax(a: AdapterSummary, compiled = true): Promise<Peer> {
  const adapter = await installNavigatorGpu(a);
  const jax = await import('@jax-js/jax');
  const { numpy: np, nn, grad, blockUntilReady, defaultDevice, init } = jax;
  // Eager: the same functions without compilation (with a dispose() to match jit's).
  const jit = (compiled ? jax.jit : (f: (...args: never[]) => unknown) => Object.assign((...xs: never[]) => f(...xs), { dispose() {} })) as typeof jax.jit;
  const devices = await init('webgpu');
  if (!devices.includes('webgpu')) throw new Error(`jax-js: no webgpu device (got ${devices.join(', ')})`);
  defaultDevice('webgpu');
  type Arr = InstanceType<typeof jax.numpy.Array>;
  const version = (JSON.parse(readFileSync(join(process.cwd(), 'node_modules', '@jax-js', 'jax', 'package.json'), 'utf8')) as { version: string }).version;

  const arr = (v: Float32Array, shape: number[]): Arr => np.array(v as Float32Array<ArrayBuffer>).reshape(shape);
  // Calls: inputs are kept (passed as .ref, jax-js consumes arguments) until dispose().
  // readToFinish: run() waits by reading the outputs back (as tfjs's calls do) instead of
  // blockUntilReady. For eigh, blockUntilReady returned before the kernels finished on SwiftShader:
  // back-to-back calls overlapped and each was timed at 35 s at d = 64 against 18 s for one call
  // read back (2026-11-28).
  const call = (inputs: Arr[], fn: (...xs: Arr[]) => Arr | Arr[], fnDispose?: () => void, readToFinish = false): PeerCall => {
    const once = (): Arr[] => {
      const r = fn(...inputs.map((t) => t.ref));
      return Array.isArray(r) ? r : [r];
    };
    return {
      async run() {
        const outs = once();
        if (readToFinish) {
          for (const o of outs) await o.data(); // data() disposes the array
          return;
        }
        await blockUntilReady(outs);
        for (const o of outs) o.dispose();
      },
      async values() {
        const outs = once();
        const vals: Float32Array[] = [];
        for (const o of outs) vals.push(new Float32Array((await o.data()) as Float32Array));
        return vals;
      },
      dispose() {
        for (const t of inputs) t.dispose();
        fnDispose?.();
      },
    };
  };

  const estepFn = (x: Arr, mu: Arr, C: number): Arr => nn.softmax(np.matmul(x, np.matrixTranspose(mu)).mul(1 / Math.sqrt(C)), -1);
  const nstepFn = (x: Arr, gamma: Arr, mu: Arr, eta: number): Arr => {
    const counts = np.expandDims(gamma.ref.sum(-2), -1); // [.., K, 1]
    const A = np.matmul(np.matrixTranspose(gamma), x); // [.., K, C]
    const F = A.div(counts.add(EPS));
    return mu.mul(1 - eta).add(F.mul(eta));
  };
  const hemFn = (x: Arr, mu0: Arr, s: HemShape): Arr => {
    let mu = mu0;
    let gamma: Arr | null = null;
    for (let t = 0; t < s.T; t++) {
      gamma?.dispose();
      gamma = estepFn(x.ref, mu.ref, s.C);
      mu = nstepFn(x.ref, gamma.ref, mu, s.eta);
    }
    x.dispose();
    return np.matmul(gamma!, mu);
  };

  return {
    name: compiled ? 'jax-js' : 'jax-js-eager',
    version,
    adapter,
    matmul(a, b, n) {
      const f = jit((x: Arr, y: Arr) => np.matmul(x, y));
      return call(
        [arr(a, [n, n]), arr(b, [n, n])],
        (x, y) => f(x!, y!),
        () => f.dispose(),
      );
    },
    softmax(z, rows, cols, scale) {
      const f = jit((x: Arr) => nn.softmax(x.mul(scale), -1));
      return call(
        [arr(z, [rows, cols])],
        (x) => f(x!),
        () => f.dispose(),
      );
    },
    estep(x, mu, N, C, K) {
      const f = jit((xx: Arr, m: Arr) => estepFn(xx, m, C));
      return call(
        [arr(x, [N, C]), arr(mu, [K, C])],
        (xx, m) => f(xx!, m!),
        () => f.dispose(),
      );
    },
    nstep(x, gamma, mu, N, C, K, eta) {
      const f = jit((xx: Arr, gg: Arr, m: Arr) => nstepFn(xx, gg, m, eta));
      return call(
        [arr(x, [N, C]), arr(gamma, [N, K]), arr(mu, [K, C])],
        (xx, gg, m) => f(xx!, gg!, m!),
        () => f.dispose(),
      );
    },
    hem(x, mu0, g, s, backward) {
      const inputs = [arr(x, [s.B, s.N, s.C]), arr(mu0, [s.K, s.C]), arr(g, [s.B, s.N, s.C])];
      if (!backward) {
        const f = jit((xx: Arr, m: Arr) => hemFn(xx, m, s));
        return call(
          inputs.slice(0, 2),
          (xx, m) => f(xx!, m!),
          () => {
            f.dispose();
            inputs[2]!.dispose();
          },
        );
      }
      const loss = (xx: Arr, m: Arr, gg: Arr): Arr => hemFn(xx, m, s).mul(gg).sum();
      const f = jit(grad(loss, { argnums: [0, 1] }));
      return call(
        inputs,
        (xx, m, gg) => f(xx!, m!, gg!) as unknown as Arr[],
        () => f.dispose(),
      );
    },
    eigh(a, batch, d) {
      // numpy.linalg.eigh: [values, vectors] (jacobi_eigh, then a sort; no JVP rule, so no backward).
      const f = jit((x: Arr) => np.linalg.eigh(x) as unknown as Arr[]);
      return call(
        [arr(a, [batch, d, d])],
        (x) => f(x!),
        () => f.dispose(),
        true,
      );
    },
  };
}

// ------------------------------------------------------------------------------------- tfjs-webgpu

export async function loadTfjs(a: AdapterSummary): Promise<Peer> {
  const adapter = await installNavigatorGpu(a);
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  // Small ops would otherwise run on the CPU and read back: keep every op on the GPU.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
  await tf.ready();
  type T = import('@tensorflow/tfjs').Tensor;

  const call = (inputs: T[], fn: (...xs: T[]) => T | T[]): PeerCall => {
    const once = (): T[] => {
      const r = tf.tidy(() => fn(...inputs));
      return Array.isArray(r) ? r : [r];
    };
    return {
      async run() {
        const outs = once();
        await Promise.all(outs.map((o) => o.data())); // tfjs's completion signal is a read
        tf.dispose(outs);
      },
      async values() {
        const outs = once();
        const vals = await Promise.all(outs.map(async (o) => new Float32Array((await o.data()) as Float32Array)));
        tf.dispose(outs);
        return vals;
      },
      dispose() {
        tf.dispose(inputs);
      },
    };
  };
  const estepFn = (x: T, mu: T, C: number): T => tf.softmax(tf.mul(tf.matMul(x, mu, false, true), 1 / Math.sqrt(C)));
  const nstepFn = (x: T, gamma: T, mu: T, eta: number): T => {
    const counts = tf.expandDims(tf.sum(gamma, -2), -1);
    const A = tf.matMul(gamma, x, true, false);
    const F = tf.div(A, tf.add(counts, EPS));
    return tf.add(tf.mul(mu, 1 - eta), tf.mul(F, eta));
  };
  const hemFn = (x: T, mu0: T, s: HemShape): T => {
    let mu = tf.broadcastTo(mu0, [s.B, s.K, s.C]);
    let gamma: T | null = null;
    for (let t = 0; t < s.T; t++) {
      gamma = estepFn(x, mu, s.C);
      mu = nstepFn(x, gamma, mu, s.eta);
    }
    return tf.matMul(gamma!, mu);
  };

  return {
    name: 'tfjs-webgpu',
    version: tf.version.tfjs,
    adapter,
    matmul(a, b, n) {
      return call([tf.tensor2d(a, [n, n]), tf.tensor2d(b, [n, n])], (x, y) => tf.matMul(x!, y!));
    },
    softmax(z, rows, cols, scale) {
      return call([tf.tensor2d(z, [rows, cols])], (x) => tf.softmax(tf.mul(x!, scale)));
    },
    estep(x, mu, N, C, K) {
      return call([tf.tensor2d(x, [N, C]), tf.tensor2d(mu, [K, C])], (xx, m) => estepFn(xx!, m!, C));
    },
    nstep(x, gamma, mu, N, C, K, eta) {
      return call([tf.tensor2d(x, [N, C]), tf.tensor2d(gamma, [N, K]), tf.tensor2d(mu, [K, C])], (xx, gg, m) => nstepFn(xx!, gg!, m!, eta));
    },
    hem(x, mu0, g, s, backward) {
      const xt = tf.tensor3d(x, [s.B, s.N, s.C]);
      const mt = tf.tensor2d(mu0, [s.K, s.C]);
      const gt = tf.tensor3d(g, [s.B, s.N, s.C]);
      if (!backward) return call([xt, mt, gt], (xx, m) => hemFn(xx!, m!, s));
      const grads = tf.grads((xx: T, m: T) => tf.sum(tf.mul(hemFn(xx, m, s), gt)));
      return call([xt, mt, gt], (xx, m) => grads([xx!, m!]));
    },
  };
}

/**
 * A peer whose calls wait for the GPU as hemgpu's engine does on this adapter (AdapterSummary.
 * polling): the peers run on Dawn instances of their own, whose waits would otherwise spin a core
 * that a CPU driver's threads need (src/device/dawn-polling.ts), so the comparison is of the
 * engines' GPU work, not of how Node waits.
 */
function waitingAsHemgpu(peer: Peer, a: AdapterSummary): Peer {
  if (a.polling !== 'sleep') return peer;
  const polite = (c: PeerCall): PeerCall => ({
    run: () => sleepWhileWaiting(c.run()),
    values: () => sleepWhileWaiting(c.values()),
    dispose: () => c.dispose(),
  });
  const wrapped = { ...peer } as Record<string, unknown>;
  for (const [k, v] of Object.entries(peer)) {
    if (typeof v === 'function') wrapped[k] = (...args: unknown[]) => polite((v as (...xs: unknown[]) => PeerCall).apply(peer, args));
  }
  return wrapped as unknown as Peer;
}

/** The peers named in `names`, loaded in that order, waiting for the GPU as hemgpu does. */
export async function loadPeers(a: AdapterSummary, names: PeerName[]): Promise<Peer[]> {
  const out: Peer[] = [];
  for (const n of names) {
    try {
      out.push(waitingAsHemgpu(n === 'tfjs-webgpu' ? await loadTfjs(a) : await loadJax(a, n === 'jax-js'), a));
    } catch (err) {
      throw new Error(
        `bench: the peer '${n}' did not load (${(err as Error).message}). The peers are devDependencies: ` +
          'run npm ci (not --omit=dev), or leave them out with --no-peers or --peers=<the others>.',
      );
    }
  }
  return out;
}
