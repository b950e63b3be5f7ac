/**
 * Batched matrix product with transpose flags: C = op(A) · op(B), op(X) = X or Xᵀ.
 * A: [..., M, K] ([..., K, M] with transA), B: [..., K, N] ([..., N, K] with transB). Leading
 * (batch) dimensions must match, or one operand is 2-D (or has batch 1) and is shared.
 * The backward pass uses the same kernel with other flags, so no transposed copy is made.
 */
import { record } from '../autograd/tape.ts';
import { matmulProduct } from '../kernels/matmul.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** C = op(A) · op(B) (see the file comment for shapes). */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkOptions('matmul', options, optionKeys<MatmulOptions>({ transA: true, transB: true }));
  checkTensor('matmul', a, 'a');
  checkTensor('matmul', b, 'b');
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const c = matmulProduct(a, b, transA, transB);
  // dC = dA·B + A·dB (with op()): adjoints dA = dC·op(B)ᵀ (or op(B)·dCᵀ when A is stored
  // transposed) and dB = op(A)ᵀ·dC (or dCᵀ·op(A)); a shared operand's gradient is summed over
  // the batch by the tape's broadcast reduction, or directly when the batch can be folded into M.
  return record('matmul', c, [a, b], (g) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      da = transA ? matmulProduct(b, g, transB, true) : matmulProduct(g, b, false, !transB);
    }
    if (b.requiresGrad) {
      const foldBatch = b.rank === 2 && a.rank > 2 && !transA;
      if (foldBatch) {
        // Σ_b A_bᵀ G_b = A'ᵀ G' with A' = [batch·M, K], G' = [batch·M, N]: one product, no sum.
        const a2 = a.view([a.size / a.shape[a.rank - 1]!, a.shape[a.rank - 1]!], 'matmul backward');
        const g2 = g.view([g.size / g.shape[g.rank - 1]!, g.shape[g.rank - 1]!], 'matmul backward');
        db = transB ? matmulProduct(g2, a2, true, false) : matmulProduct(a2, g2, true, false);
        a2.dispose();
        g2.dispose();
      } else {
        db = transB ? matmulProduct(g, a, true, transA) : matmulProduct(a, g, !transA, false);
      }
    }
    return [da, db];
  });
}
