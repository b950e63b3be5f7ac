import { init, matmul, randn, setMatmulConfig, sync, tidy, type MatmulConfig } from '../src/index.node.ts';
const e = await init();
const shapes: [string, number, number, number, boolean, boolean][] = [
  ['stem2 fwd', 512, 144, 32, false, false], ['stem3 fwd', 512, 288, 32, false, false], ['stem3 dW', 288, 512, 32, true, false], ['stem3 dcol', 512, 32, 288, false, true],
  ['pre fwd', 512, 288, 48, false, false], ['pre dW', 288, 512, 48, true, false], ['pre dcol', 512, 48, 288, false, true],
  ['post fwd', 512, 432, 32, false, false], ['post dW', 432, 512, 32, true, false], ['post dcol', 512, 32, 432, false, true],
  ['256', 256, 256, 256, false, false], ['512', 512, 512, 512, false, false], ['1024', 1024, 1024, 1024, false, false], ['512 tA', 512, 512, 512, true, false], ['512 tB', 512, 512, 512, false, true],
];
const configs: MatmulConfig[] = [
  { kind: 'register', BM: 4, BN: 2, WG_X: 8, WG_Y: 8 },
  { kind: 'register', BM: 4, BN: 4, WG_X: 8, WG_Y: 8 },
  { kind: 'register', BM: 2, BN: 4, WG_X: 8, WG_Y: 8 },
  { kind: 'register', BM: 4, BN: 4, WG_X: 4, WG_Y: 8 },
];
const tot = configs.map(() => 0);
for (const [name, M, K, N, tA, tB] of shapes) {
  const a = randn(tA ? [K, M] : [M, K], { seed: 1 }).keep();
  const b = randn(tB ? [N, K] : [K, N], { seed: 2 }).keep();
  setMatmulConfig(configs[0]!);
  const ref = await tidy(() => matmul(a, b, { transA: tA, transB: tB })).read();
  const row: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (const [ci, c] of configs.entries()) {
      setMatmulConfig(c);
      const got = await tidy(() => matmul(a, b, { transA: tA, transB: tB })).read();
      let err = 0; for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
      if (err > 1e-3) throw new Error(`${name} cfg ${ci}: err ${err}`);
      const reps = M * N * K > 1e8 ? 2 : 5;
      const p = await e.profileKernels(async () => { for (let r = 0; r < reps; r++) tidy(() => void matmul(a, b, { transA: tA, transB: tB })); await sync(); });
      let ms = 0; for (const [k, v] of p) if (k.startsWith('matmul')) ms += v.ms;
      row[ci] = Math.min(row[ci] ?? Infinity, ms / reps);
    }
  }
  row.forEach((v, i) => (tot[i]! += v));
  console.log(`${name.padEnd(10)} ${row.map((v) => v.toFixed(2).padStart(8)).join(' ')}   GFLOPS ${row.map((v) => (2 * M * N * K / v / 1e6).toFixed(2)).join(' ')}`);
  a.dispose(); b.dispose();
}
console.log(`total      ${tot.map((v) => v.toFixed(2).padStart(8)).join(' ')}`);
