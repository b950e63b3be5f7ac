/**
 * Targets other than per-pixel labels, derived from digit-scene label maps (0 = background,
 * 1 + d = digit d): which digits a scene holds (multi-label classification), and the label map
 * pooled to a coarse grid (the segments a normalized-cuts layer on a stride-s feature map sees).
 */

/** Multi-hot [count, 10]: 1 where digit d labels at least one pixel of the scene (an occluded digit does not count). */
export function digitsPresent(labels: Int32Array, count: number, pixels: number): Float32Array {
  if (labels.length !== count * pixels) throw new Error(`digitsPresent: ${labels.length} labels are not ${count} scenes × ${pixels} pixels.`);
  const out = new Float32Array(count * 10);
  for (let s = 0; s < count; s++) {
    for (let p = 0; p < pixels; p++) {
      const l = labels[s * pixels + p]!;
      if (l >= 1 && l <= 10) out[s * 10 + l - 1] = 1;
    }
  }
  return out;
}

/**
 * Label maps [count, H, W] pooled to [count, H/s, W/s]: a cell takes the most frequent digit label
 * among its s² pixels (the smaller label on a tie) if that digit covers at least `share` of the
 * cell (default ¼: strokes are thin), else background.
 */
export function poolLabels(labels: Int32Array, count: number, height: number, width: number, stride: number, share = 0.25): Int32Array {
  if (!Number.isInteger(stride) || stride < 1 || height % stride || width % stride) {
    throw new Error(`poolLabels: stride must be a positive integer dividing the ${height}×${width} map, got ${stride}.`);
  }
  if (labels.length !== count * height * width) throw new Error(`poolLabels: ${labels.length} labels are not ${count} maps of ${height}×${width}.`);
  const [h, w] = [height / stride, width / stride];
  const out = new Int32Array(count * h * w);
  const votes = new Map<number, number>();
  for (let s = 0; s < count; s++) {
    for (let cy = 0; cy < h; cy++) {
      for (let cx = 0; cx < w; cx++) {
        votes.clear();
        for (let y = cy * stride; y < (cy + 1) * stride; y++) {
          for (let x = cx * stride; x < (cx + 1) * stride; x++) {
            const l = labels[(s * height + y) * width + x]!;
            if (l !== 0) votes.set(l, (votes.get(l) ?? 0) + 1);
          }
        }
        let best = 0;
        let most = 0;
        for (const [l, v] of votes) if (v > most || (v === most && l < best)) [best, most] = [l, v];
        out[(s * h + cy) * w + cx] = most >= share * stride * stride ? best : 0;
      }
    }
  }
  return out;
}
