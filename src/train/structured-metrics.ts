/**
 * Host-side metrics of the structured-layer experiments: mean average precision and exact-match
 * accuracy of multi-label scores, and for a normalized-cuts projector Π against a segmentation,
 * the projector error ½‖Π − E(EᵀE)⁻¹Eᵀ‖² and the pairwise (Rand) accuracy of the segmentation
 * Π implies: pixels i and j together iff the cosine of their rows of U_k, Π_ij / √(Π_ii Π_jj),
 * exceeds ½ (1 for the same segment and 0 across segments when Π is exact).
 */

/** Mean over labels (with at least one positive) of the average precision of `scores` [n, L] for `targets` [n, L] ∈ {0, 1}. */
export function meanAveragePrecision(scores: ArrayLike<number>, targets: ArrayLike<number>, n: number, labels: number): number {
  let sum = 0;
  let counted = 0;
  for (let l = 0; l < labels; l++) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b * labels + l]! - scores[a * labels + l]! || a - b);
    let hits = 0;
    let ap = 0;
    order.forEach((i, rank) => {
      if (targets[i * labels + l]! > 0.5) ap += ++hits / (rank + 1);
    });
    if (hits > 0) {
      sum += ap / hits;
      counted++;
    }
  }
  return counted ? sum / counted : Number.NaN;
}

/** Share of samples whose every label is predicted right (logit > 0 ⇔ present). */
export function exactMatch(logits: ArrayLike<number>, targets: ArrayLike<number>, n: number, labels: number): number {
  let right = 0;
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let l = 0; l < labels && ok; l++) ok = logits[i * labels + l]! > 0 === targets[i * labels + l]! > 0.5;
    if (ok) right++;
  }
  return right / n;
}

export interface ProjectorScores {
  /** ½‖Π − P‖²_F per image, summed. */
  error: number;
  /** Pixel pairs i < j whose together/apart the projector gets right, summed. */
  pairsRight: number;
  /** Pairs right for the trivial segmentation (everything one segment), summed. */
  pairsOneSegment: number;
  pairs: number;
}

/** Scores of projectors Π [B, n, n] against segment ids [B, n]. */
export function projectorScores(pi: ArrayLike<number>, segments: ArrayLike<number>, batch: number, n: number): ProjectorScores {
  const out: ProjectorScores = { error: 0, pairsRight: 0, pairsOneSegment: 0, pairs: 0 };
  for (let b = 0; b < batch; b++) {
    const size = new Map<number, number>();
    for (let i = 0; i < n; i++) size.set(segments[b * n + i]!, (size.get(segments[b * n + i]!) ?? 0) + 1);
    const at = (i: number, j: number): number => pi[(b * n + i) * n + j]!;
    for (let i = 0; i < n; i++) {
      const si = segments[b * n + i]!;
      for (let j = 0; j < n; j++) {
        const same = si === segments[b * n + j]!;
        out.error += 0.5 * (at(i, j) - (same ? 1 / size.get(si)! : 0)) ** 2;
        if (j <= i) continue;
        const cos = at(i, j) / Math.sqrt(Math.max(at(i, i) * at(j, j), 1e-30));
        if (cos > 0.5 === same) out.pairsRight++;
        if (same) out.pairsOneSegment++;
        out.pairs++;
      }
    }
  }
  return out;
}

/**
 * The segmentation a projector Π [n, n] implies, the same rule as the pair accuracy: scanning the
 * pixels in order, each unassigned pixel opens a segment that takes every unassigned pixel j
 * whose row cosine Π_ij / √(Π_ii Π_jj) with it exceeds ½. Returns a segment id per pixel.
 */
export function segmentsOf(pi: ArrayLike<number>, n: number): Int32Array {
  const ids = new Int32Array(n).fill(-1);
  let next = 0;
  for (let i = 0; i < n; i++) {
    if (ids[i]! >= 0) continue;
    ids[i] = next;
    for (let j = i + 1; j < n; j++) {
      if (ids[j]! < 0 && pi[i * n + j]! / Math.sqrt(Math.max(pi[i * n + i]! * pi[j * n + j]!, 1e-30)) > 0.5) ids[j] = next;
    }
    next++;
  }
  return ids;
}
