// Batched matrix product C[b] = alpha · op(A[b]) · op(B[b]), op = optional transpose.
// A is [M, K] (or [K, M] when TRANS_A), B is [K, N] (or [N, K] when TRANS_B), all row-major.
// A batch stride of 0 shares one operand across the batch; workgroup_id.z is batch · splits + s,
// where split s covers one chunk of k (split-K, for small outputs with long dot products).
//
// Register tiling: each invocation accumulates a TM × TN block of C in registers (TN in vec4
// columns), reading TM values of A and TN values of B per step of k. There is no workgroup
// memory and no barrier, which suits CPU drivers (SwiftShader), where barriers are expensive.
// Tile shape and workgroup shape are `override`s so they can be tuned per adapter.
// Ragged edges: rows and columns past M and N are clamped on load (the values are computed and
// thrown away) and masked on store, so every access stays in bounds without robustness.
// Interfaces: `main` and `tiled4` are two variants of one product and read the same uniform
// struct, each through bindings of its own numbered 0, 1, … in order, the uniform last (numbers
// repeat across entry points, which is allowed because each gets its own bind group layout).

override TM: u32 = 4;        // rows of C per invocation, 1..8
override TN: u32 = 4;        // columns of C per invocation, 4 or 8
override WG_X: u32 = 8;      // invocations along N
override WG_Y: u32 = 8;      // invocations along M
override TRANS_A: bool = false;
override TRANS_B: bool = false;

// #include "matmul-params.wgsl"

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const MAX_TM: u32 = 8u;
const MAX_TN4: u32 = 2u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let row0 = (wid.y * WG_Y + lid.y) * TM;
  let col0 = (wid.x * WG_X + lid.x) * TN;
  if (row0 >= M || col0 >= N) { return; }
  let batch = wid.z / p.splits;
  let k_begin = (wid.z % p.splits) * p.k_chunk;
  let k_end = min(K, k_begin + p.k_chunk);
  let a0 = batch * p.stride_a;
  let b0 = batch * p.stride_b;
  let tn4 = TN / 4u;

  // Clamped row/column indices (loads past the edge read a valid element whose result is dropped).
  var rows: array<u32, MAX_TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, M - 1u); }
  var cols: array<vec4<u32>, MAX_TN4>;
  for (var j = 0u; j < tn4; j++) {
    let c4 = vec4<u32>(col0 + 4u * j) + vec4<u32>(0u, 1u, 2u, 3u);
    cols[j] = min(c4, vec4<u32>(N - 1u));
  }

  var acc: array<vec4<f32>, 16>; // [MAX_TM][MAX_TN4]
  for (var k = k_begin; k < k_end; k++) {
    var bv: array<vec4<f32>, MAX_TN4>;
    for (var j = 0u; j < tn4; j++) {
      let cj = cols[j];
      if (TRANS_B) {
        bv[j] = vec4<f32>(b[b0 + cj.x * K + k], b[b0 + cj.y * K + k], b[b0 + cj.z * K + k], b[b0 + cj.w * K + k]);
      } else {
        let r = b0 + k * N;
        bv[j] = vec4<f32>(b[r + cj.x], b[r + cj.y], b[r + cj.z], b[r + cj.w]);
      }
    }
    for (var i = 0u; i < TM; i++) {
      var av: f32;
      if (TRANS_A) { av = a[a0 + k * M + rows[i]]; } else { av = a[a0 + rows[i] * K + k]; }
      for (var j = 0u; j < tn4; j++) {
        acc[i * MAX_TN4 + j] = fma(vec4<f32>(av), bv[j], acc[i * MAX_TN4 + j]);
      }
    }
  }

  let c0 = wid.z * p.stride_c;
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= M) { break; }
    for (var j = 0u; j < tn4; j++) {
      let v = acc[i * MAX_TN4 + j] * p.alpha;
      let cb = c0 + r * N + col0 + 4u * j;
      let cn = col0 + 4u * j;
      if (cn < N) { c[cb] = v.x; }
      if (cn + 1u < N) { c[cb + 1u] = v.y; }
      if (cn + 2u < N) { c[cb + 2u] = v.z; }
      if (cn + 3u < N) { c[cb + 3u] = v.w; }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// `tiled4`: the fast path when every row of every operand starts on a 16-byte boundary
// (K % 4 == 0, N % 4 == 0, and M % 4 == 0 when A is transposed). Operands are read as vec4s and
// multiplied in 4×4 blocks with WGSL's mat4x4 product: each invocation owns BM × BN blocks of C
// and, per step of 4 in k, loads BM + BN blocks (4 vec4 loads each) for 64·BM·BN FMAs.
// With column-major mat4x4, loading the rows of a row-major block gives its transpose, so the
// kernel accumulates Cᵀ-blocks: Cᵀ += Bᵀ·Aᵀ needs no transposes when neither operand is
// transposed; a transposed operand's block is transposed in registers.

override BM: u32 = 2;        // 4×4 blocks of C per invocation along M (1, 2 or 4)
override BN: u32 = 2;        // 4×4 blocks of C per invocation along N (1, 2 or 4)

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> q: Params;

// Aᵀ-block for rows m..m+3 (clamped into range) and k..k+3, as a mat4x4 whose column i is row i.
fn a_block_t(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_A) {
    // A is stored [K, M]: a vec4 at (k + kk, m..m+3) is column kk of the block.
    let mm = min(m, q.M - 4u);
    let s = q.M / 4u;
    let blk = mat4x4<f32>(a4[base + k * s + mm / 4u], a4[base + (k + 1u) * s + mm / 4u],
                          a4[base + (k + 2u) * s + mm / 4u], a4[base + (k + 3u) * s + mm / 4u]);
    return transpose(blk);
  }
  let s = q.K / 4u;
  let last = q.M - 1u;
  return mat4x4<f32>(a4[base + min(m, last) * s + k / 4u], a4[base + min(m + 1u, last) * s + k / 4u],
                     a4[base + min(m + 2u, last) * s + k / 4u], a4[base + min(m + 3u, last) * s + k / 4u]);
}

// Bᵀ-block for k..k+3 and columns n..n+3 (clamped into range): column j of Bᵀ is row j of B.
fn b_block_t(base: u32, n: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_B) {
    // B is stored [N, K]: a vec4 at (n + j, k..k+3) is row j of the Bᵀ-block.
    let s = q.K / 4u;
    let last = q.N - 1u;
    let blk = mat4x4<f32>(b4[base + min(n, last) * s + k / 4u], b4[base + min(n + 1u, last) * s + k / 4u],
                          b4[base + min(n + 2u, last) * s + k / 4u], b4[base + min(n + 3u, last) * s + k / 4u]);
    return transpose(blk);
  }
  // B is stored [K, N]: a vec4 at (k + kk, n..n+3) is row kk of the B-block = column kk of Bᵀ.
  let nn = min(n, q.N - 4u);
  let s = q.N / 4u;
  return mat4x4<f32>(b4[base + k * s + nn / 4u], b4[base + (k + 1u) * s + nn / 4u],
                     b4[base + (k + 2u) * s + nn / 4u], b4[base + (k + 3u) * s + nn / 4u]);
}

fn store_block(base: u32, m: u32, n: u32, acc_t: mat4x4<f32>) {
  if (n >= q.N) { return; }
  let s = q.N / 4u;
  for (var i = 0u; i < 4u; i++) {
    if (m + i < q.M) {
      c4[base + (m + i) * s + n / 4u] = acc_t[i] * q.alpha;
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn tiled4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wid.y * WG_Y + lid.y) * 4u * BM;
  let col0 = (wid.x * WG_X + lid.x) * 4u * BN;
  if (row0 >= q.M || col0 >= q.N) { return; }
  let batch = wid.z / q.splits;
  let k_begin = (wid.z % q.splits) * q.k_chunk; // k_chunk is a multiple of 4 here
  let k_end = min(q.K, k_begin + q.k_chunk);
  let a0 = batch * (q.stride_a / 4u);
  let b0 = batch * (q.stride_b / 4u);
  // acc<i><j>: the Cᵀ-block of rows row0 + 4i.. and columns col0 + 4j..
  var acc00 = mat4x4<f32>(); var acc01 = mat4x4<f32>(); var acc02 = mat4x4<f32>(); var acc03 = mat4x4<f32>();
  var acc10 = mat4x4<f32>(); var acc11 = mat4x4<f32>(); var acc12 = mat4x4<f32>(); var acc13 = mat4x4<f32>();
  var acc20 = mat4x4<f32>(); var acc21 = mat4x4<f32>(); var acc22 = mat4x4<f32>(); var acc23 = mat4x4<f32>();
  var acc30 = mat4x4<f32>(); var acc31 = mat4x4<f32>(); var acc32 = mat4x4<f32>(); var acc33 = mat4x4<f32>();
  for (var k = k_begin; k < k_end; k += 4u) {
    let bt0 = b_block_t(b0, col0, k);
    var bt1 = mat4x4<f32>();
    var bt2 = mat4x4<f32>();
    var bt3 = mat4x4<f32>();
    if (BN > 1u) { bt1 = b_block_t(b0, col0 + 4u, k); }
    if (BN > 2u) {
      bt2 = b_block_t(b0, col0 + 8u, k);
      bt3 = b_block_t(b0, col0 + 12u, k);
    }
    let at0 = a_block_t(a0, row0, k);
    acc00 += bt0 * at0;
    if (BN > 1u) { acc01 += bt1 * at0; }
    if (BN > 2u) { acc02 += bt2 * at0; acc03 += bt3 * at0; }
    if (BM > 1u) {
      let at1 = a_block_t(a0, row0 + 4u, k);
      acc10 += bt0 * at1;
      if (BN > 1u) { acc11 += bt1 * at1; }
      if (BN > 2u) { acc12 += bt2 * at1; acc13 += bt3 * at1; }
    }
    if (BM > 2u) {
      let at2 = a_block_t(a0, row0 + 8u, k);
      acc20 += bt0 * at2;
      if (BN > 1u) { acc21 += bt1 * at2; }
      if (BN > 2u) { acc22 += bt2 * at2; acc23 += bt3 * at2; }
      let at3 = a_block_t(a0, row0 + 12u, k);
      acc30 += bt0 * at3;
      if (BN > 1u) { acc31 += bt1 * at3; }
      if (BN > 2u) { acc32 += bt2 * at3; acc33 += bt3 * at3; }
    }
  }
  let c0 = wid.z * (q.stride_c / 4u);
  store_block(c0, row0, col0, acc00);
  if (BN > 1u) { store_block(c0, row0, col0 + 4u, acc01); }
  if (BN > 2u) { store_block(c0, row0, col0 + 8u, acc02); store_block(c0, row0, col0 + 12u, acc03); }
  if (BM > 1u) {
    store_block(c0, row0 + 4u, col0, acc10);
    if (BN > 1u) { store_block(c0, row0 + 4u, col0 + 4u, acc11); }
    if (BN > 2u) { store_block(c0, row0 + 4u, col0 + 8u, acc12); store_block(c0, row0 + 4u, col0 + 12u, acc13); }
  }
  if (BM > 2u) {
    store_block(c0, row0 + 8u, col0, acc20);
    store_block(c0, row0 + 12u, col0, acc30);
    if (BN > 1u) {
      store_block(c0, row0 + 8u, col0 + 4u, acc21);
      store_block(c0, row0 + 12u, col0 + 4u, acc31);
    }
    if (BN > 2u) {
      store_block(c0, row0 + 8u, col0 + 8u, acc22); store_block(c0, row0 + 8u, col0 + 12u, acc23);
      store_block(c0, row0 + 12u, col0 + 8u, acc32); store_block(c0, row0 + 12u, col0 + 12u, acc33);
    }
  }
}
