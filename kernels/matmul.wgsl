// Batched matrix product C[b] = alpha · op(A[b]) · op(B[b]), op = optional transpose.
// A is [M, K] (or [K, M] when TRANS_A), B is [K, N] (or [N, K] when TRANS_B), all row-major.
// A batch stride of 0 shares one operand across the batch; the batch index is workgroup_id.z.
//
// Register tiling: each invocation accumulates a TM × TN block of C in registers (TN in vec4
// columns), reading TM values of A and TN values of B per step of k. There is no workgroup
// memory and no barrier, which suits CPU drivers (SwiftShader), where barriers are expensive.
// Tile shape and workgroup shape are `override`s so they can be tuned per adapter.
// Ragged edges: rows and columns past M and N are clamped on load (the values are computed and
// thrown away) and masked on store, so every access stays in bounds without robustness.

override TM: u32 = 4;        // rows of C per invocation, 1..8
override TN: u32 = 4;        // columns of C per invocation, 4 or 8
override WG_X: u32 = 8;      // invocations along N
override WG_Y: u32 = 8;      // invocations along M
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  stride_a: u32,
  stride_b: u32,
  stride_c: u32,
  alpha: f32,
  _pad: u32,
}

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
  let a0 = wid.z * p.stride_a;
  let b0 = wid.z * p.stride_b;
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
  for (var k = 0u; k < K; k++) {
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
