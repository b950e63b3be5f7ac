// The HEM layer's fused kernels (Highway Expectation Maximization, Song et al. AAAI 2021;
// formulas in docs/math.md). Shapes per batch element b = workgroup_id.z:
//   X [N, C], bases μ [K, C] (stride 0 when μ⁽⁰⁾ is shared by the batch), γ [N, K].
// C and K are multiples of 4 here (the host zero-pads odd sizes; padded bases are masked out of
// the softmax, so they get γ = 0). N is arbitrary: rows past N are clamped on load and masked.
// Every entry point owns 8 rows (or 8 bases) × vec4s of columns and multiplies 4×4 blocks with
// WGSL's mat4x4 product or with vec4 outer products, as kernels/matmul.wgsl does.
//
// Forward, per iteration:   estep  γ = softmax(S / τ) with S = X μᵀ ('dot') or
//                                  S = 2 X μᵀ − ‖μ‖² ('rbf', ‖x‖² dropped: the softmax is
//                                  invariant to a per-row shift), an online softmax whose only
//                                  memory traffic is γ itself (used as scratch for the logits);
//                           wsum + nstep_finish  N_k = Σ_n γ_nk, A = γᵀ X (one pass over X and
//                                  γ, split over chunks of rows), F = A / (N + ε),
//                                  μ' = (1 − η) μ + η F;
//                           normalize (EMANet) μ' / (‖μ'‖ + ε) per base.
// Backward, per iteration:  nstep_prep  dA = η dμ' / (N + ε), dN = −Σ_c η dμ'_kc F_kc / (N_k + ε)
//                           estep_grad  dγ = X dAᵀ + 1 dNᵀ (+ the R-step's dγ), then the softmax
//                                       adjoint dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)) (dS as scratch);
//                           dx          dX += γ dA + s · dS μ  (s = 1/τ 'dot', 2/τ 'rbf');
//                           wsum + dmu_finish  dμ = (1 − η) dμ' + s · (dSᵀ X − [rbf] colsum(dS) ⊙ μ);
//                           normalize_grad  the adjoint of μ̂ ↦ μ̂ / (‖μ̂‖ + ε);
//                           and once, for the R-step X̃ = γ μ: wsum + wsum_finish  dμ⁽ᵀ⁾ = γᵀ dX̃.
// Diagnostics: elbo, the per-row terms of the ELBO (the host sums them).
// What is saved between forward and backward: γ of every iteration (the softmax adjoint needs
// it and it is N×K), the bases μ⁽ᵗ⁾, F and N (K×C and K: small). The logits S are never stored:
// the softmax adjoint needs only γ.
//
// Interfaces: each entry point has its own uniform struct holding only what it reads (normalize
// and normalize_grad share one), and its bindings are numbered 0, 1, … in order; numbers repeat
// across entry points, which is allowed because each entry point gets its own bind group layout.

override WG: u32 = 64;
// estep, dmu_finish: the 'rbf' logits S = 2 X μᵀ − ‖μ‖² instead of 'dot' S = X μᵀ.
override RBF: bool = false;
// dx only: 0 = add both parts into dx, 1 = write the N-step part γ dA alone, 2 = the E-step part
// s · dS μ alone (the trace uses 1 and 2 to report them separately).
override PART: u32 = 0u;
// estep_grad only: dS holds an incoming dγ on entry (the R-step's, in the last iteration), which
// is added to the dγ of the N-step before the softmax adjoint.
override DGAMMA_IN: bool = false;
// wsum and dx: each invocation owns BLK × BLK blocks of 4 × 4 (2: 8 × 8, 4: 16 × 16 outputs).
// More blocks read fewer bytes per FMA and hold more accumulators (16 mat4x4 at 4).
override BLK: u32 = 2u;

const EPS: f32 = 1e-6;   // N_k + ε and ‖μ‖ + ε, as in EMANet's reference implementation
// #include "hem-estep.wgsl"

// Names used in the uniform structs:
//   N          rows of X (positions)
//   C          channels, a multiple of 4 (X holds N·C elements per batch element)
//   K          the real number of bases (≤ K4); bases K..K4-1 are padding
//   K4         the padded number of bases, a multiple of 4
//   mu_stride  K4·C, elements between batch elements of μ, or 0 when μ is shared by the batch
//   chunks     wsum and the *_finish entry points: N is split into this many chunks of rows

// First of the 8 rows an E-step invocation owns.
fn row_block(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return ((wid.y * nwg.x + wid.x) * WG + lid) * 8u;
}

// ------------------------------------------------------------------------------------------ estep
// EstepParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(0) var<storage, read> ex: array<vec4<f32>>;         // X [B, N, C]
@group(0) @binding(1) var<storage, read> emu: array<vec4<f32>>;        // μ [B or 1, K4, C]
@group(0) @binding(2) var<storage, read_write> egamma: array<vec4<f32>>; // γ [B, N, K4]
@group(0) @binding(3) var<uniform> ep: EstepParams;

// Rows n..n+3 of X at channels c..c+3 as a mat4x4 (column i = row n+i; rows past N clamped).
fn x_block(xb: u32, n: u32, c4: u32, N: u32, C: u32) -> mat4x4<f32> {
  let s = C / 4u;
  let last = N - 1u;
  return mat4x4<f32>(ex[xb + min(n, last) * s + c4], ex[xb + min(n + 1u, last) * s + c4],
                     ex[xb + min(n + 2u, last) * s + c4], ex[xb + min(n + 3u, last) * s + c4]);
}

@compute @workgroup_size(WG)
fn estep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let n0 = row_block(wid, nwg, lid);
  if (n0 >= ep.N) { return; }
  let b = wid.z;
  let xb = b * (ep.N * ep.C / 4u);
  let mb = b * (ep.mu_stride / 4u);
  let cs = ep.C / 4u;
  let kbs = ep.K4 / 4u;
  // Online softmax (Milakov & Gimelshein, 2018): each block's scaled logits go straight to γ as
  // scratch while a running maximum and a running sum of exponentials are kept per row; a last
  // pass over each row turns the stored logits into responsibilities. No per-row array of K
  // logits lives in the invocation (on GPUs it spilled to local memory).
  // Per (block, channel step): 4 vec4 loads of μ and 8 of X for 128 FMAs.
  let gs = ep.K4 / 4u;
  let gb = b * ep.N * gs;
  var ml0 = array<vec2<f32>, 4>(vec2<f32>(NEG_BIG, 0.0), vec2<f32>(NEG_BIG, 0.0), vec2<f32>(NEG_BIG, 0.0), vec2<f32>(NEG_BIG, 0.0));
  var ml1 = ml0;
  for (var kb = 0u; kb < kbs; kb++) {
    let k = kb * 4u;
    var a0 = mat4x4<f32>();
    var a1 = mat4x4<f32>();
    var q = vec4<f32>();
    for (var c4 = 0u; c4 < cs; c4++) {
      let m0 = emu[mb + k * cs + c4];
      let m1 = emu[mb + (k + 1u) * cs + c4];
      let m2 = emu[mb + (k + 2u) * cs + c4];
      let m3 = emu[mb + (k + 3u) * cs + c4];
      // transpose(μ-block) · Xᵀ-block = (X μᵀ)ᵀ for 4 rows and these 4 bases.
      let mt = transpose(mat4x4<f32>(m0, m1, m2, m3));
      a0 += mt * x_block(xb, n0, c4, ep.N, ep.C);
      a1 += mt * x_block(xb, n0 + 4u, c4, ep.N, ep.C);
      if (RBF) {
        q += vec4<f32>(dot(m0, m0), dot(m1, m1), dot(m2, m2), dot(m3, m3));
      }
    }
    ml0[0] = online_block(gb, n0, kb, logits(a0[0], q, kb), ml0[0]);
    ml0[1] = online_block(gb, n0 + 1u, kb, logits(a0[1], q, kb), ml0[1]);
    ml0[2] = online_block(gb, n0 + 2u, kb, logits(a0[2], q, kb), ml0[2]);
    ml0[3] = online_block(gb, n0 + 3u, kb, logits(a0[3], q, kb), ml0[3]);
    ml1[0] = online_block(gb, n0 + 4u, kb, logits(a1[0], q, kb), ml1[0]);
    ml1[1] = online_block(gb, n0 + 5u, kb, logits(a1[1], q, kb), ml1[1]);
    ml1[2] = online_block(gb, n0 + 6u, kb, logits(a1[2], q, kb), ml1[2]);
    ml1[3] = online_block(gb, n0 + 7u, kb, logits(a1[3], q, kb), ml1[3]);
  }
  for (var i = 0u; i < 8u; i++) {
    let n = n0 + i;
    if (n >= ep.N) { break; }
    let ml = select(ml1[i % 4u], ml0[i % 4u], i < 4u);
    let inv = 1.0 / ml.y;
    for (var kb = 0u; kb < kbs; kb++) {
      let at = gb + n * gs + kb;
      egamma[at] = masked_exp(egamma[at] - vec4<f32>(ml.x), kb) * inv;
    }
  }
}

// Store one row's 4 scaled logits of block kb and fold them into its running (max, Σ exp).
fn online_block(gb: u32, n: u32, kb: u32, s: vec4<f32>, ml: vec2<f32>) -> vec2<f32> {
  if (n >= ep.N) { return ml; }
  egamma[gb + n * (ep.K4 / 4u) + kb] = s;
  let m = max(ml.x, max4(s));
  let e = masked_exp(s - vec4<f32>(m), kb);
  return vec2<f32>(m, ml.y * exp(ml.x - m) + e.x + e.y + e.z + e.w);
}

fn max4(v: vec4<f32>) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

// Scaled logits for bases 4kb..4kb+3; padded bases get −∞ (a large negative number).
fn logits(dots: vec4<f32>, musq: vec4<f32>, kb: u32) -> vec4<f32> {
  var s = dots * ep.inv_tau;
  if (RBF) { s = (2.0 * dots - musq) * ep.inv_tau; }
  let k = vec4<u32>(kb * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  return select(vec4<f32>(NEG_BIG), s, k < vec4<u32>(ep.K));
}

fn masked_exp(v: vec4<f32>, kb: u32) -> vec4<f32> {
  let k = vec4<u32>(kb * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  return select(vec4<f32>(0.0), exp(v), k < vec4<u32>(ep.K));
}

// ------------------------------------------------------------------------------------------- wsum
// The reduction over N shared by the N-step (W = γ) and the μ-gradient (W = dS):
//   P[chunk] = Σ_{n in chunk} W_nᵀ ⊗ x_n  (K4 × C),   s[chunk] = Σ_{n in chunk} W_n  (K4).
// N is split into chunks so that there are enough invocations to fill the device; the *_finish
// entry points (nstep_finish, dmu_finish, wsum_finish) add the chunks and apply the epilogue.
// One invocation per (chunk, 4·BLK bases, 4·BLK channels) accumulates outer products over its rows.
struct WsumParams {
  N: u32,
  C: u32,
  K4: u32,
  chunks: u32,
  rows_per_chunk: u32,
}

@group(0) @binding(0) var<storage, read> wx: array<vec4<f32>>;       // X [B, N, C]
@group(0) @binding(1) var<storage, read> ww: array<vec4<f32>>;       // W [B, N, K4]
@group(0) @binding(2) var<storage, read_write> wpart: array<vec4<f32>>;  // P [B, chunks, K4, C]
@group(0) @binding(3) var<storage, read_write> wsum_w: array<vec4<f32>>; // s [B, chunks, K4]
@group(0) @binding(4) var<uniform> wp: WsumParams;

// Rows r of W at bases 4kb..4kb+3 as a mat4x4 (column i = row r[i]), scaled by keep (0 past the chunk).
fn w_block(gb: u32, gs: u32, r: vec4<u32>, kb: u32, keep: vec4<f32>) -> mat4x4<f32> {
  return mat4x4<f32>(ww[gb + r.x * gs + kb] * keep.x, ww[gb + r.y * gs + kb] * keep.y,
                     ww[gb + r.z * gs + kb] * keep.z, ww[gb + r.w * gs + kb] * keep.w);
}

// Rows r of X at channels 4c4..4c4+3 as a mat4x4 (column i = row r[i]).
fn wx_block(xb: u32, cs: u32, r: vec4<u32>, c4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(wx[xb + r.x * cs + c4], wx[xb + r.y * cs + c4], wx[xb + r.z * cs + c4], wx[xb + r.w * cs + c4]);
}

// The Aᵀ-block of bases 4kb.. and channels 4c4.. (column j: base 4kb + j), unless it is past K4 or C.
fn wsum_store(pb: u32, cs: u32, gs: u32, kb: u32, c4: u32, a: mat4x4<f32>) {
  if (kb >= gs || c4 >= cs) { return; }
  for (var j = 0u; j < 4u; j++) { wpart[pb + (kb * 4u + j) * cs + c4] = a[j]; }
}

@compute @workgroup_size(WG)
fn wsum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // Each invocation owns BLK × BLK blocks of 4 bases × 4 channels: per 4 rows, 8·BLK vec4 loads
  // feed 64·BLK² FMAs (BLK 2: 16 per load, BLK 4: 32).
  let cs = wp.C / 4u;
  let gs = wp.K4 / 4u;
  let cg = (cs + BLK - 1u) / BLK; // channel groups
  let kg = (gs + BLK - 1u) / BLK; // base groups
  let id = (wid.y * nwg.x + wid.x) * WG + lid;
  if (id >= wp.chunks * kg * cg) { return; }
  let c0 = (id % cg) * BLK;
  let k0 = ((id / cg) % kg) * BLK;
  let chunk = id / (cg * kg);
  // Block indices past the edge are clamped: duplicate blocks whose results are not stored.
  let c1 = min(c0 + 1u, cs - 1u); let c2 = min(c0 + 2u, cs - 1u); let c3 = min(c0 + 3u, cs - 1u);
  let k1 = min(k0 + 1u, gs - 1u); let k2 = min(k0 + 2u, gs - 1u); let k3 = min(k0 + 3u, gs - 1u);
  let b = wid.z;
  let xb = b * (wp.N * wp.C / 4u);
  let gb = b * wp.N * gs;
  let n_end = min(wp.N, (chunk + 1u) * wp.rows_per_chunk);
  // a<i><j>: the Aᵀ-block of base block k0 + i and channel block c0 + j (column: Σ_n W_n,base x_n).
  var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
  var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
  var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
  var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
  var s0 = vec4<f32>(); var s1 = vec4<f32>(); var s2 = vec4<f32>(); var s3 = vec4<f32>();
  // Four rows at a time: Aᵀ-block (channels × bases) += Xᵀ-block · W-block as mat4x4 products.
  // Rows past the chunk's end are clamped on load and given weight 0.
  let last = n_end - 1u;
  let ones = vec4<f32>(1.0);
  for (var n = chunk * wp.rows_per_chunk; n < n_end; n += 4u) {
    let r = vec4<u32>(n, min(n + 1u, last), min(n + 2u, last), min(n + 3u, last));
    let keep = vec4<f32>(1.0, select(0.0, 1.0, n + 1u < n_end), select(0.0, 1.0, n + 2u < n_end), select(0.0, 1.0, n + 3u < n_end));
    let w0 = w_block(gb, gs, r, k0, keep);
    let w1 = w_block(gb, gs, r, k1, keep);
    let x0 = wx_block(xb, cs, r, c0);
    let x1 = wx_block(xb, cs, r, c1);
    let t0 = transpose(w0);
    let t1 = transpose(w1);
    s0 += w0 * ones;
    s1 += w1 * ones;
    a00 += x0 * t0; a01 += x1 * t0;
    a10 += x0 * t1; a11 += x1 * t1;
    if (BLK > 2u) {
      let w2 = w_block(gb, gs, r, k2, keep);
      let w3 = w_block(gb, gs, r, k3, keep);
      let x2 = wx_block(xb, cs, r, c2);
      let x3 = wx_block(xb, cs, r, c3);
      let t2 = transpose(w2);
      let t3 = transpose(w3);
      s2 += w2 * ones;
      s3 += w3 * ones;
      a02 += x2 * t0; a03 += x3 * t0;
      a12 += x2 * t1; a13 += x3 * t1;
      a20 += x0 * t2; a21 += x1 * t2; a22 += x2 * t2; a23 += x3 * t2;
      a30 += x0 * t3; a31 += x1 * t3; a32 += x2 * t3; a33 += x3 * t3;
    }
  }
  let pb = (b * wp.chunks + chunk) * wp.K4 * cs;
  wsum_store(pb, cs, gs, k0, c0, a00); wsum_store(pb, cs, gs, k0, c0 + 1u, a01);
  wsum_store(pb, cs, gs, k0 + 1u, c0, a10); wsum_store(pb, cs, gs, k0 + 1u, c0 + 1u, a11);
  if (BLK > 2u) {
    wsum_store(pb, cs, gs, k0, c0 + 2u, a02); wsum_store(pb, cs, gs, k0, c0 + 3u, a03);
    wsum_store(pb, cs, gs, k0 + 1u, c0 + 2u, a12); wsum_store(pb, cs, gs, k0 + 1u, c0 + 3u, a13);
    wsum_store(pb, cs, gs, k0 + 2u, c0, a20); wsum_store(pb, cs, gs, k0 + 2u, c0 + 1u, a21);
    wsum_store(pb, cs, gs, k0 + 2u, c0 + 2u, a22); wsum_store(pb, cs, gs, k0 + 2u, c0 + 3u, a23);
    wsum_store(pb, cs, gs, k0 + 3u, c0, a30); wsum_store(pb, cs, gs, k0 + 3u, c0 + 1u, a31);
    wsum_store(pb, cs, gs, k0 + 3u, c0 + 2u, a32); wsum_store(pb, cs, gs, k0 + 3u, c0 + 3u, a33);
  }
  if (c0 == 0u) {
    let sb = (b * wp.chunks + chunk) * gs;
    store_wsum_w(sb, gs, k0, s0); store_wsum_w(sb, gs, k0 + 1u, s1);
    if (BLK > 2u) { store_wsum_w(sb, gs, k0 + 2u, s2); store_wsum_w(sb, gs, k0 + 3u, s3); }
  }
}

fn store_wsum_w(sb: u32, gs: u32, kb: u32, v: vec4<f32>) {
  if (kb < gs) { wsum_w[sb + kb] = v; }
}

// ----------------------------------------------------------------------------------- nstep_finish
struct NstepFinishParams {
  C: u32,
  K4: u32,
  chunks: u32,
  mu_stride: u32,
  eta: f32,      // step size η of the highway update
}

@group(0) @binding(0) var<storage, read> fpart: array<vec4<f32>>;   // P [B, chunks, K4, C]
@group(0) @binding(1) var<storage, read> fsum: array<f32>;          // s [B, chunks, K4]
@group(0) @binding(2) var<storage, read> fmu: array<vec4<f32>>;     // μ [B or 1, K4, C]
@group(0) @binding(3) var<storage, read_write> nmu_out: array<vec4<f32>>; // μ̂' [B, K4, C]
@group(0) @binding(4) var<storage, read_write> nf: array<vec4<f32>>;      // F [B, K4, C]
@group(0) @binding(5) var<storage, read_write> ncount: array<f32>;        // N [B, K4]
@group(0) @binding(6) var<uniform> fp: NstepFinishParams;

// N_k = Σ chunks s, A = Σ chunks P, F = A / (N + ε), μ̂' = (1 − η) μ + η F. One invocation per
// (base, 4 channels).
@compute @workgroup_size(WG)
fn nstep_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let cs = fp.C / 4u;
  let id = (wid.y * nwg.x + wid.x) * WG + lid;
  if (id >= fp.K4 * cs) { return; }
  let k = id / cs;
  let c4 = id % cs;
  let b = wid.z;
  var a = vec4<f32>();
  var count = 0.0;
  for (var ch = 0u; ch < fp.chunks; ch++) {
    a += fpart[((b * fp.chunks + ch) * fp.K4 + k) * cs + c4];
    count += fsum[(b * fp.chunks + ch) * fp.K4 + k];
  }
  let f = a / (count + EPS);
  let o = (b * fp.K4 + k) * cs + c4;
  nf[o] = f;
  nmu_out[o] = (1.0 - fp.eta) * fmu[b * (fp.mu_stride / 4u) + k * cs + c4] + fp.eta * f;
  if (c4 == 0u) {
    ncount[b * fp.K4 + k] = count;
  }
}

// ------------------------------------------------------------------------------------- normalize
// normalize and normalize_grad: one invocation per base row of [B, K4, C].
struct BaseRowsParams {
  C: u32,
  K4: u32,
}

@group(0) @binding(0) var<storage, read> zin: array<vec4<f32>>;        // μ̂ [B, K4, C]
@group(0) @binding(1) var<storage, read_write> zout: array<vec4<f32>>; // μ [B, K4, C]
@group(0) @binding(2) var<uniform> zp: BaseRowsParams;

// μ_k / (‖μ_k‖ + ε) for every base row k of every batch element (one invocation per row).
@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= zp.K4) { return; }
  let cs = zp.C / 4u;
  let base = (wid.z * zp.K4 + row) * cs;
  var ss = 0.0;
  for (var c4 = 0u; c4 < cs; c4++) { let v = zin[base + c4]; ss += dot(v, v); }
  let inv = 1.0 / (sqrt(ss) + EPS);
  for (var c4 = 0u; c4 < cs; c4++) { zout[base + c4] = zin[base + c4] * inv; }
}

// -------------------------------------------------------------------------------- normalize_grad
@group(0) @binding(0) var<storage, read> yu: array<vec4<f32>>;   // μ̂ (before normalisation)
@group(0) @binding(1) var<storage, read> ydy: array<vec4<f32>>;  // dμ (after)
@group(0) @binding(2) var<storage, read_write> ydu: array<vec4<f32>>; // dμ̂
@group(0) @binding(3) var<uniform> yp: BaseRowsParams;

// y = u / (r + ε), r = ‖u‖:  du = dy / (r + ε) − u (u · dy) / (r (r + ε)²).
@compute @workgroup_size(WG)
fn normalize_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= yp.K4) { return; }
  let cs = yp.C / 4u;
  let base = (wid.z * yp.K4 + row) * cs;
  var ss = 0.0;
  var ud = 0.0;
  for (var c4 = 0u; c4 < cs; c4++) {
    let u = yu[base + c4];
    ss += dot(u, u);
    ud += dot(u, ydy[base + c4]);
  }
  let r = sqrt(ss);
  let re = r + EPS;
  let k = select(0.0, ud / (max(r, 1e-30) * re * re), r > 0.0);
  for (var c4 = 0u; c4 < cs; c4++) {
    ydu[base + c4] = ydy[base + c4] / re - yu[base + c4] * k;
  }
}

// ------------------------------------------------------------------------------------ nstep_prep
struct NstepPrepParams {
  C: u32,
  K4: u32,
  eta: f32,
}

@group(0) @binding(0) var<storage, read> pdmu: array<vec4<f32>>;   // dμ' [B, K4, C]
@group(0) @binding(1) var<storage, read> pf: array<vec4<f32>>;     // F [B, K4, C]
@group(0) @binding(2) var<storage, read> pcount: array<f32>;       // N [B, K4]
@group(0) @binding(3) var<storage, read_write> pda: array<vec4<f32>>; // dA [B, K4, C]
@group(0) @binding(4) var<storage, read_write> pdn: array<f32>;       // dN [B, K4]
@group(0) @binding(5) var<uniform> pp: NstepPrepParams;

// dF = η dμ';  dA = dF / (N + ε);  dN_k = −Σ_c dF_kc F_kc / (N_k + ε). One invocation per base.
@compute @workgroup_size(WG)
fn nstep_prep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= pp.K4) { return; }
  let cs = pp.C / 4u;
  let r = wid.z * pp.K4 + row;
  let inv = 1.0 / (pcount[r] + EPS);
  var acc = 0.0;
  for (var c4 = 0u; c4 < cs; c4++) {
    let df = pp.eta * pdmu[r * cs + c4];
    acc += dot(df, pf[r * cs + c4]);
    pda[r * cs + c4] = df * inv;
  }
  pdn[r] = -acc * inv;
}

// ------------------------------------------------------------------------------------ estep_grad
// EstepGradParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(0) var<storage, read> gx: array<vec4<f32>>;      // X [B, N, C]
@group(0) @binding(1) var<storage, read> gda: array<vec4<f32>>;     // dA [B, K4, C]
@group(0) @binding(2) var<storage, read> gdn: array<vec4<f32>>;     // dN [B, K4]
@group(0) @binding(3) var<storage, read> ggamma: array<vec4<f32>>;  // γ [B, N, K4]
// dS [B, N, K4]; with DGAMMA_IN it holds the incoming dγ on entry and is updated in place.
@group(0) @binding(4) var<storage, read_write> gds: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> gp: EstepGradParams;

// Rows n..n+3 of X at channels c..c+3 as a mat4x4 (column i = row n+i; rows past N clamped).
fn gx_block(xb: u32, n: u32, c4: u32) -> mat4x4<f32> {
  let s = gp.C / 4u;
  let last = gp.N - 1u;
  return mat4x4<f32>(gx[xb + min(n, last) * s + c4], gx[xb + min(n + 1u, last) * s + c4],
                     gx[xb + min(n + 2u, last) * s + c4], gx[xb + min(n + 3u, last) * s + c4]);
}

@compute @workgroup_size(WG)
fn estep_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let n0 = row_block(wid, nwg, lid);
  if (n0 >= gp.N) { return; }
  let b = wid.z;
  let xb = b * (gp.N * gp.C / 4u);
  let cs = gp.C / 4u;
  let kbs = gp.K4 / 4u;
  let ab = b * gp.K4 * cs;
  // As in estep: each block's dγ goes to dS as scratch while r = Σ_k dγ_k γ_k accumulates per
  // row; a last pass turns dγ into dS = γ ⊙ (dγ − r). No per-row array lives in the invocation.
  let gb = b * gp.N * kbs;
  let nb = b * kbs;
  var r0 = vec4<f32>();
  var r1 = vec4<f32>();
  for (var kb = 0u; kb < kbs; kb++) {
    let k = kb * 4u;
    var a0 = mat4x4<f32>();
    var a1 = mat4x4<f32>();
    for (var c4 = 0u; c4 < cs; c4++) {
      let blk = transpose(mat4x4<f32>(gda[ab + k * cs + c4], gda[ab + (k + 1u) * cs + c4],
                                      gda[ab + (k + 2u) * cs + c4], gda[ab + (k + 3u) * cs + c4]));
      a0 += blk * gx_block(xb, n0, c4);
      a1 += blk * gx_block(xb, n0 + 4u, c4);
    }
    let dn = gdn[nb + kb];
    r0.x += grad_block(gb, n0, kb, a0[0] + dn);
    r0.y += grad_block(gb, n0 + 1u, kb, a0[1] + dn);
    r0.z += grad_block(gb, n0 + 2u, kb, a0[2] + dn);
    r0.w += grad_block(gb, n0 + 3u, kb, a0[3] + dn);
    r1.x += grad_block(gb, n0 + 4u, kb, a1[0] + dn);
    r1.y += grad_block(gb, n0 + 5u, kb, a1[1] + dn);
    r1.z += grad_block(gb, n0 + 6u, kb, a1[2] + dn);
    r1.w += grad_block(gb, n0 + 7u, kb, a1[3] + dn);
  }
  for (var i = 0u; i < 8u; i++) {
    let n = n0 + i;
    if (n >= gp.N) { break; }
    let r = select(r1[i % 4u], r0[i % 4u], i < 4u);
    for (var kb = 0u; kb < kbs; kb++) {
      let at = gb + n * kbs + kb;
      gds[at] = ggamma[at] * (gds[at] - vec4<f32>(r));
    }
  }
}

// Store one row's dγ for block kb (plus the incoming dγ with DGAMMA_IN); return Σ dγ γ over the
// block.
fn grad_block(gb: u32, n: u32, kb: u32, dg_in: vec4<f32>) -> f32 {
  if (n >= gp.N) { return 0.0; }
  let at = gb + n * (gp.K4 / 4u) + kb;
  var dg = dg_in;
  if (DGAMMA_IN) { dg += gds[at]; }
  gds[at] = dg;
  return dot(dg, ggamma[at]);
}

// -------------------------------------------------------------------------------------------- dx
struct DxParams {
  N: u32,
  C: u32,
  K4: u32,
  mu_stride: u32,
  scale: f32,    // s = 1/τ ('dot') or 2/τ ('rbf')
}

@group(0) @binding(0) var<storage, read> xgamma: array<vec4<f32>>; // γ [B, N, K4]
@group(0) @binding(1) var<storage, read> xds: array<vec4<f32>>;    // dS [B, N, K4]
@group(0) @binding(2) var<storage, read> xda: array<vec4<f32>>;    // dA [B, K4, C]
@group(0) @binding(3) var<storage, read> xmu: array<vec4<f32>>;    // μ⁽ᵗ⁾ [B or 1, K4, C]
@group(0) @binding(4) var<storage, read_write> xdx: array<vec4<f32>>; // dX [B, N, C] (PART 0: in place)
@group(0) @binding(5) var<uniform> xp: DxParams;

fn rows4(buf_is_gamma: bool, base: u32, n: u32, kb: u32, kbs: u32) -> mat4x4<f32> {
  let last = xp.N - 1u;
  if (buf_is_gamma) {
    return mat4x4<f32>(xgamma[base + min(n, last) * kbs + kb], xgamma[base + min(n + 1u, last) * kbs + kb],
                       xgamma[base + min(n + 2u, last) * kbs + kb], xgamma[base + min(n + 3u, last) * kbs + kb]);
  }
  return mat4x4<f32>(xds[base + min(n, last) * kbs + kb], xds[base + min(n + 1u, last) * kbs + kb],
                     xds[base + min(n + 2u, last) * kbs + kb], xds[base + min(n + 3u, last) * kbs + kb]);
}

fn store_dx(xb: u32, n0: u32, c4: u32, cs: u32, acc: mat4x4<f32>) {
  if (c4 >= cs) { return; }
  for (var i = 0u; i < 4u; i++) {
    let n = n0 + i;
    if (n >= xp.N) { break; }
    let at = xb + n * cs + c4;
    if (PART == 0u) { xdx[at] = xdx[at] + acc[i]; } else { xdx[at] = acc[i]; }
  }
}

// Rows k..k+3 of a [K4, C] operand at channels 4c4..4c4+3 as a mat4x4 (column kk = row k + kk),
// times `scale`: dA (from xda) or μ (from xmu).
fn krows(from_mu: bool, base: u32, k: u32, c4: u32, cs: u32, scale: f32) -> mat4x4<f32> {
  if (from_mu) {
    return mat4x4<f32>(xmu[base + k * cs + c4], xmu[base + (k + 1u) * cs + c4],
                       xmu[base + (k + 2u) * cs + c4], xmu[base + (k + 3u) * cs + c4]) * scale;
  }
  return mat4x4<f32>(xda[base + k * cs + c4], xda[base + (k + 1u) * cs + c4],
                     xda[base + (k + 2u) * cs + c4], xda[base + (k + 3u) * cs + c4]);
}

// One invocation per 4·BLK rows × 4·BLK channels (BLK × BLK blocks): the two products share
// their accumulators, as one product of [γ, dS] with [dA; s μ] (inner dimension 2·K4):
// dXᵀ-block += dAᵀ-block · γᵀ-block + (s μ)ᵀ-block · dSᵀ-block (PART 1: the first alone, 2: the second).
@compute @workgroup_size(WG)
fn dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(local_invocation_index) lid: u32) {
  let cs = xp.C / 4u;
  let cg = (cs + BLK - 1u) / BLK;
  let id = (wid.y * nwg.x + wid.x) * WG + lid;
  let rows = 4u * BLK;
  let nblocks = (xp.N + rows - 1u) / rows;
  if (id >= nblocks * cg) { return; }
  let n0 = (id / cg) * rows;
  let c0 = (id % cg) * BLK;
  // Channel blocks past C are clamped: duplicates whose results are not stored.
  let c1 = min(c0 + 1u, cs - 1u); let c2 = min(c0 + 2u, cs - 1u); let c3 = min(c0 + 3u, cs - 1u);
  let b = wid.z;
  let kbs = xp.K4 / 4u;
  let gb = b * xp.N * kbs;
  let ab = b * xp.K4 * cs;
  let mb = b * (xp.mu_stride / 4u);
  // a<i><j>: the dXᵀ-block of rows n0 + 4i.. and channel block c0 + j.
  var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
  var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
  var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
  var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
  // The N-step part γ · dA, then the E-step part dS · (s μ) into the same accumulators (the two
  // loops differ only in their operands; PART 1 and 2 run one of them).
  if (PART != 2u) {
    for (var kb = 0u; kb < kbs; kb++) {
      let k = kb * 4u;
      let g0 = rows4(true, gb, n0, kb, kbs);
      let g1 = rows4(true, gb, n0 + 4u, kb, kbs);
      let d0 = krows(false, ab, k, c0, cs, 1.0);
      let d1 = krows(false, ab, k, c1, cs, 1.0);
      a00 += d0 * g0; a01 += d1 * g0;
      a10 += d0 * g1; a11 += d1 * g1;
      if (BLK > 2u) {
        let g2 = rows4(true, gb, n0 + 8u, kb, kbs);
        let g3 = rows4(true, gb, n0 + 12u, kb, kbs);
        let d2 = krows(false, ab, k, c2, cs, 1.0);
        let d3 = krows(false, ab, k, c3, cs, 1.0);
        a02 += d2 * g0; a03 += d3 * g0;
        a12 += d2 * g1; a13 += d3 * g1;
        a20 += d0 * g2; a21 += d1 * g2; a22 += d2 * g2; a23 += d3 * g2;
        a30 += d0 * g3; a31 += d1 * g3; a32 += d2 * g3; a33 += d3 * g3;
      }
    }
  }
  if (PART != 1u) {
    for (var kb = 0u; kb < kbs; kb++) {
      let k = kb * 4u;
      let g0 = rows4(false, gb, n0, kb, kbs);
      let g1 = rows4(false, gb, n0 + 4u, kb, kbs);
      let d0 = krows(true, mb, k, c0, cs, xp.scale);
      let d1 = krows(true, mb, k, c1, cs, xp.scale);
      a00 += d0 * g0; a01 += d1 * g0;
      a10 += d0 * g1; a11 += d1 * g1;
      if (BLK > 2u) {
        let g2 = rows4(false, gb, n0 + 8u, kb, kbs);
        let g3 = rows4(false, gb, n0 + 12u, kb, kbs);
        let d2 = krows(true, mb, k, c2, cs, xp.scale);
        let d3 = krows(true, mb, k, c3, cs, xp.scale);
        a02 += d2 * g0; a03 += d3 * g0;
        a12 += d2 * g1; a13 += d3 * g1;
        a20 += d0 * g2; a21 += d1 * g2; a22 += d2 * g2; a23 += d3 * g2;
        a30 += d0 * g3; a31 += d1 * g3; a32 += d2 * g3; a33 += d3 * g3;
      }
    }
  }
  let xb = b * (xp.N * xp.C / 4u);
  store_dx(xb, n0, c0, cs, a00); store_dx(xb, n0, c0 + 1u, cs, a01);
  store_dx(xb, n0 + 4u, c0, cs, a10); store_dx(xb, n0 + 4u, c0 + 1u, cs, a11);
  if (BLK > 2u) {
    store_dx(xb, n0, c0 + 2u, cs, a02); store_dx(xb, n0, c0 + 3u, cs, a03);
    store_dx(xb, n0 + 4u, c0 + 2u, cs, a12); store_dx(xb, n0 + 4u, c0 + 3u, cs, a13);
    store_dx(xb, n0 + 8u, c0, cs, a20); store_dx(xb, n0 + 8u, c0 + 1u, cs, a21);
    store_dx(xb, n0 + 8u, c0 + 2u, cs, a22); store_dx(xb, n0 + 8u, c0 + 3u, cs, a23);
    store_dx(xb, n0 + 12u, c0, cs, a30); store_dx(xb, n0 + 12u, c0 + 1u, cs, a31);
    store_dx(xb, n0 + 12u, c0 + 2u, cs, a32); store_dx(xb, n0 + 12u, c0 + 3u, cs, a33);
  }
}

// ------------------------------------------------------------------------------------ dmu_finish
struct DmuFinishParams {
  C: u32,
  K4: u32,
  chunks: u32,
  mu_stride: u32,
  eta: f32,
  scale: f32,    // s = 1/τ ('dot') or 2/τ ('rbf')
}

@group(0) @binding(0) var<storage, read> mpart: array<vec4<f32>>;   // P [B, chunks, K4, C] of dSᵀ X
@group(0) @binding(1) var<storage, read> msum: array<f32>;          // colsum(dS) [B, chunks, K4]
@group(0) @binding(2) var<storage, read> mmu: array<vec4<f32>>;     // μ⁽ᵗ⁾ [B or 1, K4, C]
@group(0) @binding(3) var<storage, read> mdnext: array<vec4<f32>>;  // dμ̂' [B, K4, C] (highway)
@group(0) @binding(4) var<storage, read_write> mdmu: array<vec4<f32>>; // dμ⁽ᵗ⁾ [B, K4, C]
@group(0) @binding(5) var<uniform> mp: DmuFinishParams;

// dμ = (1 − η) dμ̂' + s (dSᵀ X − [rbf] colsum(dS) μ), summing the chunks of wsum.
@compute @workgroup_size(WG)
fn dmu_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let cs = mp.C / 4u;
  let id = (wid.y * nwg.x + wid.x) * WG + lid;
  if (id >= mp.K4 * cs) { return; }
  let k = id / cs;
  let c4 = id % cs;
  let b = wid.z;
  var g = vec4<f32>();
  var colsum = 0.0;
  for (var ch = 0u; ch < mp.chunks; ch++) {
    g += mpart[((b * mp.chunks + ch) * mp.K4 + k) * cs + c4];
    colsum += msum[(b * mp.chunks + ch) * mp.K4 + k];
  }
  if (RBF) { g -= colsum * mmu[b * (mp.mu_stride / 4u) + k * cs + c4]; }
  let o = (b * mp.K4 + k) * cs + c4;
  mdmu[o] = (1.0 - mp.eta) * mdnext[o] + mp.scale * g;
}

// ----------------------------------------------------------------------------------- wsum_finish
struct WsumFinishParams {
  C: u32,
  K4: u32,
  chunks: u32,
}

@group(0) @binding(0) var<storage, read> spart: array<vec4<f32>>;        // P [B, chunks, K4, C]
@group(0) @binding(1) var<storage, read_write> sout: array<vec4<f32>>;   // Σ chunks P [B, K4, C]
@group(0) @binding(2) var<uniform> sp: WsumFinishParams;

// Wᵀ X = Σ over the chunks of wsum's partial products (the R-step's dμ⁽ᵀ⁾ = γᵀ dX̃), summed in
// chunk order as nstep_finish and dmu_finish do. One invocation per (base, 4 channels).
@compute @workgroup_size(WG)
fn wsum_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let cs = sp.C / 4u;
  let id = (wid.y * nwg.x + wid.x) * WG + lid;
  if (id >= sp.K4 * cs) { return; }
  let k = id / cs;
  let c4 = id % cs;
  let b = wid.z;
  var a = vec4<f32>();
  for (var ch = 0u; ch < sp.chunks; ch++) {
    a += spart[((b * sp.chunks + ch) * sp.K4 + k) * cs + c4];
  }
  sout[(b * sp.K4 + k) * cs + c4] = a;
}

// ------------------------------------------------------------------------------------------ elbo
struct ElboParams {
  N: u32,
  C: u32,
  K: u32,
  K4: u32,
  mu_stride: u32,
  inv_tau: f32,  // 1 / τ; the Gaussians' variance is v = τ / 2
  c_real: u32,   // the channel count before padding (for the normalising constant)
}

@group(0) @binding(0) var<storage, read> lx: array<vec4<f32>>;      // X [B, N, C]
@group(0) @binding(1) var<storage, read> lmu: array<vec4<f32>>;     // μ [B or 1, K4, C]
@group(0) @binding(2) var<storage, read> lgamma: array<f32>;        // γ [B, N, K4]
@group(0) @binding(3) var<storage, read_write> lrow: array<f32>;    // per-row ELBO terms [B, N]
@group(0) @binding(4) var<uniform> lp: ElboParams;

// Σ_k γ_nk (−(C/2) ln(2πv) − ‖x_n − μ_k‖² / (2v)) − γ_nk ln γ_nk with v = τ / 2, one row each
// (0 · ln 0 = 0). The caller sums the rows. C in the constant is the real channel count.
@compute @workgroup_size(WG)
fn elbo(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG + lid;
  if (n >= lp.N) { return; }
  let b = wid.z;
  let cs = lp.C / 4u;
  let xb = b * (lp.N * lp.C / 4u) + n * cs;
  let mb = b * (lp.mu_stride / 4u);
  let gb = (b * lp.N + n) * lp.K4;
  let v = 0.5 / lp.inv_tau;
  let log_norm = -0.5 * f32(lp.c_real) * log(6.283185307179586 * v);
  var total = 0.0;
  for (var k = 0u; k < lp.K; k++) {
    let g = lgamma[gb + k];
    if (g <= 0.0) { continue; }
    var d2 = 0.0;
    for (var c4 = 0u; c4 < cs; c4++) {
      let d = lx[xb + c4] - lmu[mb + k * cs + c4];
      d2 += dot(d, d);
    }
    total += g * (log_norm - d2 / (2.0 * v)) - g * log(g);
  }
  lrow[b * lp.N + n] = total;
}
