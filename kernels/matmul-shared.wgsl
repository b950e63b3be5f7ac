// Batched matrix product C = alpha · op(A) · op(B) with workgroup-memory 2-D block tiling: the
// same product, operands, Params and split-K semantics as kernels/matmul.wgsl (see there), for
// adapters where staging tiles in workgroup memory beats register tiling alone (GPUs, where a
// barrier is cheap and global loads are the cost; src/ops/matmul-tune.ts picks per adapter).
//
// A workgroup owns a BM_T × BN_T tile of C (BM_T = WG_Y·TM, BN_T = WG_X·TN). Per step of TK in k
// its invocations copy an A tile (BM_T × TK) and a B tile (TK × BN_T) into workgroup memory
// together, wait at a barrier, and then each accumulates its own TM × TN block of C (TN in vec4
// columns) from workgroup memory: TM/4 + TN/4 vec4 reads for TM·TN/4 vec4 FMAs per k.
// Ragged edges: elements of a tile past M, N or the split's end of k are staged as zeros (the
// global load is skipped), and stores past M and N are masked, so every access stays in bounds
// without robustness. No invocation returns early: all of them reach every barrier.

override TM: u32 = 8;        // rows of C per invocation: 4 or 8
override TN: u32 = 4;        // columns of C per invocation: 4 or 8
override TK: u32 = 8;        // k per staged tile
override WG_X: u32 = 16;     // invocations along N
override WG_Y: u32 = 8;      // invocations along M
override TRANS_A: bool = false;
override TRANS_B: bool = false;

// Staged tiles as vec4s: a_tile[k][m/4] (4 rows of A at one k) and b_tile[k][n/4] (4 columns).
override A_TILE4: u32 = TK * WG_Y * TM / 4u;
override B_TILE4: u32 = TK * WG_X * TN / 4u;
var<workgroup> a_tile: array<vec4<f32>, A_TILE4>;
var<workgroup> b_tile: array<vec4<f32>, B_TILE4>;

// #include "matmul-params.wgsl"

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const MAX_TM: u32 = 8u;
const MAX_TN4: u32 = 2u;

// op(A)[m, k], or 0 outside the rows and the split's k range.
fn load_a(base: u32, m: u32, k: u32, k_end: u32) -> f32 {
  if (m >= p.M || k >= k_end) { return 0.0; }
  if (TRANS_A) { return a[base + k * p.M + m]; }
  return a[base + m * p.K + k];
}

// op(B)[k, n], or 0 outside the columns and the split's k range.
fn load_b(base: u32, k: u32, n: u32, k_end: u32) -> f32 {
  if (n >= p.N || k >= k_end) { return 0.0; }
  if (TRANS_B) { return b[base + n * p.K + k]; }
  return b[base + k * p.N + n];
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bm4 = WG_Y * TM / 4u; // vec4s per k-row of a_tile
  let bn4 = WG_X * TN / 4u; // vec4s per k-row of b_tile
  let tm4 = TM / 4u;
  let tn4 = TN / 4u;
  let threads = WG_X * WG_Y;
  let t = lid.y * WG_X + lid.x;
  let tile_m = wid.y * WG_Y * TM;
  let tile_n = wid.x * WG_X * TN;
  let batch = wid.z / p.splits;
  let k_begin = (wid.z % p.splits) * p.k_chunk;
  let k_end = min(p.K, k_begin + p.k_chunk);
  let a0 = batch * p.stride_a;
  let b0 = batch * p.stride_b;

  var acc: array<vec4<f32>, 16>; // [MAX_TM][MAX_TN4]
  for (var k0 = k_begin; k0 < k_end; k0 += TK) {
    // Stage the tiles. Consecutive invocations take consecutive addresses of the operand as it
    // is stored (along k for A = [M, K] and B = [N, K], along m or n otherwise).
    for (var i = t; i < A_TILE4; i += threads) {
      var kk: u32;
      var m4: u32;
      if (TRANS_A) { kk = i / bm4; m4 = i % bm4; } else { m4 = i / TK; kk = i % TK; }
      let m = tile_m + 4u * m4;
      let k = k0 + kk;
      a_tile[kk * bm4 + m4] = vec4<f32>(load_a(a0, m, k, k_end), load_a(a0, m + 1u, k, k_end),
                                        load_a(a0, m + 2u, k, k_end), load_a(a0, m + 3u, k, k_end));
    }
    for (var i = t; i < B_TILE4; i += threads) {
      var kk: u32;
      var n4: u32;
      if (TRANS_B) { n4 = i / TK; kk = i % TK; } else { kk = i / bn4; n4 = i % bn4; }
      let n = tile_n + 4u * n4;
      let k = k0 + kk;
      b_tile[kk * bn4 + n4] = vec4<f32>(load_b(b0, k, n, k_end), load_b(b0, k, n + 1u, k_end),
                                        load_b(b0, k, n + 2u, k_end), load_b(b0, k, n + 3u, k_end));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var bv: array<vec4<f32>, MAX_TN4>;
      for (var j = 0u; j < tn4; j++) { bv[j] = b_tile[kk * bn4 + lid.x * tn4 + j]; }
      for (var i4 = 0u; i4 < tm4; i4++) {
        let av = a_tile[kk * bm4 + lid.y * tm4 + i4];
        for (var j = 0u; j < tn4; j++) {
          let r = 4u * i4 * MAX_TN4 + j;
          acc[r] = fma(vec4<f32>(av.x), bv[j], acc[r]);
          acc[r + MAX_TN4] = fma(vec4<f32>(av.y), bv[j], acc[r + MAX_TN4]);
          acc[r + 2u * MAX_TN4] = fma(vec4<f32>(av.z), bv[j], acc[r + 2u * MAX_TN4]);
          acc[r + 3u * MAX_TN4] = fma(vec4<f32>(av.w), bv[j], acc[r + 3u * MAX_TN4]);
        }
      }
    }
    // The next step overwrites the tiles: everyone must be done reading them.
    workgroupBarrier();
  }

  let row0 = tile_m + lid.y * TM;
  let col0 = tile_n + lid.x * TN;
  let c0 = wid.z * p.stride_c;
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= p.M) { break; }
    for (var j = 0u; j < tn4; j++) {
      let v = acc[i * MAX_TN4 + j] * p.alpha;
      let cn = col0 + 4u * j;
      let cb = c0 + r * p.N + cn;
      if (cn < p.N) { c[cb] = v.x; }
      if (cn + 1u < p.N) { c[cb + 1u] = v.y; }
      if (cn + 2u < p.N) { c[cb + 2u] = v.z; }
      if (cn + 3u < p.N) { c[cb + 3u] = v.w; }
    }
  }
}
