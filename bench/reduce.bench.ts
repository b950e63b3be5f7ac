/**
 * Sums over axes (kernels/reduce.wgsl): the reductions a training step and the unfused HEM layer
 * run — everything of X [4096, 64] (a loss), its rows (a bias gradient, N_k = Σ_n γ_nk), its
 * columns (a softmax denominator), a batch norm's statistics shape [8, 16, 16, 48] over all but the
 * channels, and a size-1 axis (a broadcast gradient summed back: a copy) — each against the same
 * sum as a product with a ones vector (matmul), the other way an engine can sum, in the same run.
 * Every case is checked against a float64 host sum before it is timed.
 *   node scripts/run.mjs bench/reduce.bench.ts
 */
import { matmul, ones, sum, tensor, type Tensor } from '../src/index.node.ts';
import { adapterLine, checkClose, randomArray, startBench, tensorCase, timeAndReport, type Case } from './common.ts';

const adapter = await startBench();
console.log(`# sums over axes on ${adapterLine(adapter)}`);

/** Σ of x [rows, cols] (row-major) over rows ('rows'), over columns ('cols') or everything ('all'), in float64. */
function reference(x: Float32Array, rows: number, cols: number, over: 'rows' | 'cols' | 'all'): Float64Array {
  const out = new Float64Array(over === 'rows' ? cols : over === 'cols' ? rows : 1);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[over === 'rows' ? c : over === 'cols' ? r : 0]! += x[r * cols + c]!;
  }
  return out;
}

interface Shape {
  label: string;
  /** The tensor's shape and the axes summed. */
  shape: number[];
  axes: number[];
  /** The same sum as a [rows, cols] matrix summed over rows, columns or everything. */
  rows: number;
  cols: number;
  over: 'rows' | 'cols' | 'all';
}

const SHAPES: Shape[] = [
  { label: 'all of [4096, 64]', shape: [4096, 64], axes: [0, 1], rows: 4096, cols: 64, over: 'all' },
  { label: 'rows of [4096, 64]', shape: [4096, 64], axes: [0], rows: 4096, cols: 64, over: 'rows' },
  { label: 'columns of [4096, 64]', shape: [4096, 64], axes: [1], rows: 4096, cols: 64, over: 'cols' },
  { label: '[8, 16, 16, 48] over 0, 1, 2', shape: [8, 16, 16, 48], axes: [0, 1, 2], rows: 2048, cols: 48, over: 'rows' },
  { label: '[1, 64, 64] over the size-1 axis', shape: [1, 64, 64], axes: [0], rows: 1, cols: 4096, over: 'rows' },
];

const cases: Case[] = [];
for (const s of SHAPES) {
  const n = s.rows * s.cols;
  const x = randomArray(n, n + s.axes.length, 1);
  const ref = reference(x, s.rows, s.cols, s.over);
  // A sum of up to 262144 terms of magnitude ≤ 1 in f32: the error grows with the terms summed.
  const check = (got: Float32Array, name: string): void => checkClose(got, ref, 2e-4, 1e-5, name);
  const xt = tensor(x, s.shape).keep();
  const m = xt.view([s.rows, s.cols], 'reduce bench').keep();
  const left = ones([1, s.rows]).keep();
  const right = ones([s.cols, 1]).keep();
  // The same sum as products with ones: 1ᵀX (rows), X1 (columns), 1ᵀX1 (everything).
  const byMatmul = (): Tensor => {
    if (s.over === 'rows') return matmul(left, m);
    if (s.over === 'cols') return matmul(m, right);
    return matmul(matmul(left, m), right);
  };
  cases.push(tensorCase(`hemgpu sum, ${s.label}`, () => sum(xt, s.axes), check, { shape: s.label, engine: 'hemgpu sum' }));
  cases.push(tensorCase(`hemgpu matmul with ones, ${s.label}`, byMatmul, check, { shape: s.label, engine: 'hemgpu matmul' }));
}
await timeAndReport('reduce', adapter, cases, [], 'hemgpu sum', (a, b) => a.meta?.shape === b.meta?.shape);
process.exit(0);
