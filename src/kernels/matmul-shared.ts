/**
 * Launcher for kernels/matmul-shared.wgsl, the workgroup-memory block-tiled product that
 * src/kernels/matmul.ts dispatches when the engine's matmul config has `kind: 'shared'`. That
 * launcher plans the product and owns the output (split-K slices included); this one dispatches.
 */
import matmulSharedWgsl from '../../kernels/matmul-shared.wgsl';
import type { Tensor } from '../tensor/tensor.ts';
import { uniform } from './dispatch.ts';
import { matmulConfigsInUse, type SharedMatmulConfig } from './matmul-config.ts';
import { defineKernel } from '../gpu/registry.ts';

/** The override sets dispatched: every shared config matmulConfig can pick on this engine (matmulConfigsInUse), with the four transpose combinations. */
function sharedVariants(): Record<string, number | boolean>[] {
  const out = new Map<string, Record<string, number | boolean>>();
  for (const c of matmulConfigsInUse()) {
    if (c.kind !== 'shared') continue;
    const { TM, TN, TK, WG_X, WG_Y } = c;
    for (const TRANS_A of [false, true]) {
      for (const TRANS_B of [false, true]) {
        const v = { TM, TN, TK, WG_X, WG_Y, TRANS_A, TRANS_B };
        out.set(JSON.stringify(v), v);
      }
    }
  }
  return [...out.values()];
}

const K = {
  matmulShared: /* @__PURE__ */ defineKernel('matmul_shared', matmulSharedWgsl, 'main', { variants: sharedVariants }),
};

/** The uniform values of one product (kernels/matmul.wgsl's Params, shared by both kernels). */
export interface MatmulParams {
  M: number;
  N: number;
  K: number;
  stride_a: number;
  stride_b: number;
  stride_c: number;
  alpha: number;
  splits: number;
  k_chunk: number;
}

/**
 * C = α · op(A) · op(B) for `batch` matrices into `c` ([batch · splits, M, N]) with the
 * shared-memory kernel and tile `cfg`.
 */
export function matmulSharedInto(a: Tensor, b: Tensor, c: Tensor, values: MatmulParams, batch: number, cfg: SharedMatmulConfig, transA: boolean, transB: boolean): void {
  K.matmulShared.dispatch({
    bindings: { a: a.bind('matmul'), b: b.bind('matmul'), c: c.bind('matmul', 'read_write'), p: uniform({ ...values }) },
    overrides: { TM: cfg.TM, TN: cfg.TN, TK: cfg.TK, WG_X: cfg.WG_X, WG_Y: cfg.WG_Y, TRANS_A: transA, TRANS_B: transB },
    workgroups: [Math.ceil(values.N / (cfg.WG_X * cfg.TN)), Math.ceil(values.M / (cfg.WG_Y * cfg.TM)), batch * values.splits],
  });
}
