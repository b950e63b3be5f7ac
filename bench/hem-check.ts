/**
 * The fused-vs-unfused check of hem() that every HEM benchmark runs before timing: the Node
 * benchmark (bench/hem.bench.ts) and the demo page's table (examples/web/bench.ts). Browser-safe:
 * it imports only the shared API.
 */
import { hem, mul, sum, tidy, type HemOptions, type Tensor } from '../src/api.ts';

export interface HemBenchInputs {
  x: Tensor;
  mu0: Tensor;
  /** The cotangent G of E = sum(out ⊙ G). */
  g: Tensor;
}

export interface HemOutputs {
  /** out, and with the backward dX and dμ⁽⁰⁾. */
  values: Float32Array[];
  /** ‖∂E/∂μ⁽ᵀ⁾‖ (0 without the backward): the scale every μ-gradient in the layer is built from. */
  muScale: number;
}

/** One call of the layer read back: out, and with backward the gradients of sum(out ⊙ G) w.r.t. x and μ⁽⁰⁾. */
export async function hemOutputs(inp: HemBenchInputs, opts: HemOptions, backward: boolean): Promise<HemOutputs> {
  inp.x.zeroGrad();
  inp.mu0.zeroGrad();
  const r = tidy(() => {
    const res = hem(inp.x, inp.mu0, { ...opts, trace: backward });
    if (backward) sum(mul(res.out, inp.g)).backward();
    return { out: res.out, trace: res.trace };
  });
  const values = [await r.out.read()];
  r.out.dispose();
  let muScale = 0;
  if (backward) {
    values.push(await inp.x.grad!.read(), await inp.mu0.grad!.read());
    muScale = (await r.trace!.read()).gradMuNorm.at(-1)!;
  }
  r.trace?.dispose();
  return { values, muScale };
}

/**
 * ‖fused − unfused‖ / scale for each output (out, dX, dμ⁽⁰⁾). For out and dX the scale is the
 * reference's own norm. dμ⁽⁰⁾ is measured against max(‖ref‖, ‖∂E/∂μ⁽ᵀ⁾‖): with η = 1 (no
 * highway) dμ⁽⁰⁾ is only the E-step path, a sum over N rows that cancels to a small fraction of
 * that scale, so f32 summation-order differences are large relative to it while staying ~1e-6 of
 * the scale. A wrong kernel is off by O(1) of the scale.
 */
export function fusedErrors(fused: HemOutputs, unfused: HemOutputs): number[] {
  return fused.values.map((v, i) => {
    const ref = unfused.values[i]!;
    let num = 0;
    let den = 0;
    for (let j = 0; j < v.length; j++) {
      num += (v[j]! - ref[j]!) ** 2;
      den += ref[j]! ** 2;
    }
    const scale = i === 2 ? Math.max(Math.sqrt(den), unfused.muScale) : Math.sqrt(den);
    const e = Math.sqrt(num) / Math.max(scale, 1e-30);
    return Number.isFinite(e) ? e : Infinity;
  });
}
