// The HEM layer's E-step and its adjoint on subgroup operations (formulas in docs/math.md; the
// same math, saved state and padding rules as kernels/hem.wgsl). Needs the `subgroups` feature
// and an adapter whose subgroup size is fixed (subgroupMinSize = subgroupMaxSize = SG): each
// workgroup is exactly one subgroup, so the host sets SG and nothing here assumes how a larger
// workgroup is split into subgroups.
//
// One subgroup owns R = 8 rows; its SG lanes split the bases, two per lane per block of 2·SG
// bases (lane l: bases 2·SG·kb + l and 2·SG·kb + SG + l). Per channel vec4, every lane reads the
// same 8 rows of X (one address for the whole subgroup: a broadcast) and its own 2 bases of μ
// (or dA), for 64 FMAs. The softmax's row maximum and sum (and the adjoint's Σ_k dγ γ) are
// subgroupMax / subgroupAdd over the lanes: no workgroup memory, no barrier. When K4 ≤ 2·SG
// (K = 64 on a 32-wide GPU) the logits never reach memory; otherwise each block's logits go to
// γ as scratch with an online maximum and sum, and a last pass rescales the subgroup's rows.
// Rows past N are clamped on load and masked on store; bases past K4 are masked.
//
// Interfaces: X is binding 0 and the per-base operand (μ for estep_sg, dA for estep_grad_sg)
// binding 1 in both; then each entry point's own bindings, numbered in order, its uniform last.

enable subgroups;

override SG: u32 = 4;             // the adapter's subgroup size = the workgroup size
override RBF: bool = false;       // estep_sg: S = 2 X μᵀ − ‖μ‖² instead of X μᵀ
override DGAMMA_IN: bool = false; // estep_grad_sg: dS holds an incoming dγ on entry

const R: u32 = 8u;
// #include "hem-estep.wgsl"

@group(0) @binding(0) var<storage, read> sx: array<vec4<f32>>;  // X [B, N, C]
@group(0) @binding(1) var<storage, read> sm: array<vec4<f32>>;  // μ or dA [B or 1, K4, C]

// The lane's two bases in block kb.
fn lane_bases(kb: u32, lane: u32) -> vec2<u32> {
  let k0 = kb * 2u * SG + lane;
  return vec2<u32>(k0, k0 + SG);
}

// acc[r] = (x_{row0+r} · m_{k.x}, x_{row0+r} · m_{k.y}) over all channels; q = (‖m_{k.x}‖², ‖m_{k.y}‖²).
fn row_dots(acc: ptr<function, array<vec2<f32>, 8>>, q: ptr<function, vec2<f32>>, xb: u32, mb: u32,
            row0: u32, k: vec2<u32>, N: u32, C: u32, K4: u32) {
  let cs = C / 4u;
  let m0 = mb + min(k.x, K4 - 1u) * cs;
  let m1 = mb + min(k.y, K4 - 1u) * cs;
  for (var c4 = 0u; c4 < cs; c4++) {
    let a = sm[m0 + c4];
    let b = sm[m1 + c4];
    *q += vec2<f32>(dot(a, a), dot(b, b));
    for (var r = 0u; r < R; r++) {
      let x = sx[xb + min(row0 + r, N - 1u) * cs + c4];
      (*acc)[r] += vec2<f32>(dot(x, a), dot(x, b));
    }
  }
}

// ------------------------------------------------------------------------------------- estep_sg
// EstepParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(2) var<storage, read_write> se_gamma: array<f32>; // γ [B, N, K4]
@group(0) @binding(3) var<uniform> sep: EstepParams;

@compute @workgroup_size(SG)
fn estep_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(subgroup_invocation_id) lane: u32) {
  let N = sep.N;
  let K4 = sep.K4;
  let row0 = (wid.y * nwg.x + wid.x) * R;
  let b = wid.z;
  let xb = b * N * (sep.C / 4u);
  let mb = b * (sep.mu_stride / 4u);
  let gb = b * N * K4;
  let blocks = (K4 + 2u * SG - 1u) / (2u * SG);
  var m = array<f32, 8>();  // running max per row (the same in every lane)
  var l = array<f32, 8>();  // running Σ exp(s − m)
  var s = array<vec2<f32>, 8>();
  for (var r = 0u; r < R; r++) { m[r] = NEG_BIG; }
  for (var kb = 0u; kb < blocks; kb++) {
    let k = lane_bases(kb, lane);
    let live = k < vec2<u32>(sep.K);
    var acc = array<vec2<f32>, 8>();
    var q = vec2<f32>();
    row_dots(&acc, &q, xb, mb, row0, k, N, sep.C, K4);
    for (var r = 0u; r < R; r++) {
      var v = acc[r] * sep.inv_tau;
      if (RBF) { v = (2.0 * acc[r] - q) * sep.inv_tau; }
      v = select(vec2<f32>(NEG_BIG), v, live);
      let mnew = max(m[r], subgroupMax(max(v.x, v.y)));
      let e = select(vec2<f32>(), exp(v - mnew), live);
      l[r] = l[r] * exp(m[r] - mnew) + subgroupAdd(e.x + e.y);
      m[r] = mnew;
      s[r] = select(v, e, blocks == 1u);
      let n = row0 + r;
      if (blocks > 1u && n < N) {
        if (k.x < K4) { se_gamma[gb + n * K4 + k.x] = v.x; }
        if (k.y < K4) { se_gamma[gb + n * K4 + k.y] = v.y; }
      }
    }
  }
  for (var kb = 0u; kb < blocks; kb++) {
    let k = lane_bases(kb, lane);
    let live = k < vec2<u32>(sep.K);
    for (var r = 0u; r < R; r++) {
      let n = row0 + r;
      if (n >= N) { break; }
      var e = s[r];
      if (blocks > 1u) {
        let v = vec2<f32>(se_gamma[gb + n * K4 + min(k.x, K4 - 1u)], se_gamma[gb + n * K4 + min(k.y, K4 - 1u)]);
        e = select(vec2<f32>(), exp(v - m[r]), live);
      }
      let g = e / l[r];
      if (k.x < K4) { se_gamma[gb + n * K4 + k.x] = g.x; }
      if (k.y < K4) { se_gamma[gb + n * K4 + k.y] = g.y; }
    }
  }
}

// -------------------------------------------------------------------------------- estep_grad_sg
// EstepGradParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(2) var<storage, read> sg_dn: array<f32>;      // dN [B, K4]
@group(0) @binding(3) var<storage, read> sg_gamma: array<f32>;   // γ [B, N, K4]
// dS [B, N, K4]; with DGAMMA_IN it holds the incoming dγ on entry and is updated in place.
@group(0) @binding(4) var<storage, read_write> sg_ds: array<f32>;
@group(0) @binding(5) var<uniform> sgp: EstepGradParams;

// dγ = X dAᵀ + 1 dNᵀ (+ dγ in), then dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)).
@compute @workgroup_size(SG)
fn estep_grad_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(subgroup_invocation_id) lane: u32) {
  let N = sgp.N;
  let K4 = sgp.K4;
  let row0 = (wid.y * nwg.x + wid.x) * R;
  let b = wid.z;
  let xb = b * N * (sgp.C / 4u);
  let mb = b * K4 * (sgp.C / 4u);
  let gb = b * N * K4;
  let blocks = (K4 + 2u * SG - 1u) / (2u * SG);
  var rs = array<f32, 8>();  // Σ_k dγ γ per row (the same in every lane)
  var dg = array<vec2<f32>, 8>();
  var gm = array<vec2<f32>, 8>();
  for (var kb = 0u; kb < blocks; kb++) {
    let k = lane_bases(kb, lane);
    let live = k < vec2<u32>(K4);
    let kc = min(k, vec2<u32>(K4 - 1u));
    var acc = array<vec2<f32>, 8>();
    var q = vec2<f32>();
    row_dots(&acc, &q, xb, mb, row0, k, N, sgp.C, K4);
    let dn = vec2<f32>(sg_dn[b * K4 + kc.x], sg_dn[b * K4 + kc.y]);
    for (var r = 0u; r < R; r++) {
      let n = min(row0 + r, N - 1u);
      let at = vec2<u32>(gb + n * K4) + kc;
      var d = acc[r] + dn;
      if (DGAMMA_IN) { d += vec2<f32>(sg_ds[at.x], sg_ds[at.y]); }
      let g = select(vec2<f32>(), vec2<f32>(sg_gamma[at.x], sg_gamma[at.y]), live);
      rs[r] += subgroupAdd(dot(d, g));
      dg[r] = d;
      gm[r] = g;
      if (blocks > 1u && row0 + r < N) {
        if (live.x) { sg_ds[at.x] = d.x; }
        if (live.y) { sg_ds[at.y] = d.y; }
      }
    }
  }
  for (var kb = 0u; kb < blocks; kb++) {
    let k = lane_bases(kb, lane);
    let kc = min(k, vec2<u32>(K4 - 1u));
    for (var r = 0u; r < R; r++) {
      let n = row0 + r;
      if (n >= N) { break; }
      let at = vec2<u32>(gb + n * K4) + kc;
      var d = dg[r];
      var g = gm[r];
      if (blocks > 1u) {
        d = vec2<f32>(sg_ds[at.x], sg_ds[at.y]);
        g = vec2<f32>(sg_gamma[at.x], sg_gamma[at.y]);
      }
      let ds = g * (d - vec2<f32>(rs[r]));
      if (k.x < K4) { sg_ds[at.x] = ds.x; }
      if (k.y < K4) { sg_ds[at.y] = ds.y; }
    }
  }
}

// ------------------------------------------------------------------- estep_rows, estep_grad_rows
// The same two kernels for a subgroup of exactly 4 lanes, as a CPU driver has (SwiftShader runs
// four invocations as the lanes of one SIMD register): there every storage load is a gather of
// the four lanes whatever their addresses, while a broadcast between lanes is a register shuffle.
// So the lanes split the rows, not the bases: a subgroup (= workgroup) owns 16 rows, lane l rows
// 4l..4l+3, and walks the bases in blocks of 8. Per channel vec4 each lane loads its 4 rows of X
// and 2 bases of μ (or dA), lane l bases 2l and 2l+1, and subgroupBroadcast hands every lane all
// 8: 6 vec4 loads per lane for 128 FMAs, where estep_sg at SG = 4 loads 10 for 64 and the
// register path's estep 12 for 128. A row's softmax (and Σ_k dγ γ) stays in its lane. Rows past
// N are clamped on load and not stored; bases past K4 are clamped on load and not stored.
// Bindings: sx and sm as in estep_sg / estep_grad_sg, then the entry point's own (vec4 arrays),
// its uniform last.

const RLANE: u32 = 4u; // rows per lane; 4 · RLANE rows per subgroup

@group(0) @binding(2) var<storage, read_write> re_gamma: array<vec4<f32>>; // γ [B, N, K4]
@group(0) @binding(3) var<uniform> rep: EstepParams;

// Dot products of the lane's 4 rows with the 8 bases of block kb over all channels: loI (hiI)
// holds row n0+I's dots with bases 8kb..8kb+3 (8kb+4..8kb+7). q: (‖m_a‖², ‖m_b‖²) of the lane's
// own two bases, summed only when RBF. Named fields, not arrays: a run-time index into an
// invocation's array would put it in memory on a CPU driver.
struct Dots8 {
  lo0: vec4<f32>, lo1: vec4<f32>, lo2: vec4<f32>, lo3: vec4<f32>,
  hi0: vec4<f32>, hi1: vec4<f32>, hi2: vec4<f32>, hi3: vec4<f32>,
  q: vec2<f32>,
}

// Row x's dots with 4 bases.
fn dots4(x: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(x, b0), dot(x, b1), dot(x, b2), dot(x, b3));
}

fn rows_dots8(xb: u32, mb: u32, n0: u32, kb: u32, lane: u32, N: u32, C: u32, K4: u32) -> Dots8 {
  let cs = C / 4u;
  let last = N - 1u;
  let x0 = xb + min(n0, last) * cs;
  let x1 = xb + min(n0 + 1u, last) * cs;
  let x2 = xb + min(n0 + 2u, last) * cs;
  let x3 = xb + min(n0 + 3u, last) * cs;
  let k = kb * 8u + 2u * lane;
  let ma = mb + min(k, K4 - 1u) * cs;
  let mc = mb + min(k + 1u, K4 - 1u) * cs;
  var d: Dots8;
  for (var c4 = 0u; c4 < cs; c4++) {
    let a = sm[ma + c4];
    let c = sm[mc + c4];
    if (RBF) { d.q += vec2<f32>(dot(a, a), dot(c, c)); }
    // Base j of the block comes from lane j / 2 (a if j is even, else c).
    let b0 = subgroupBroadcast(a, 0u);
    let b1 = subgroupBroadcast(c, 0u);
    let b2 = subgroupBroadcast(a, 1u);
    let b3 = subgroupBroadcast(c, 1u);
    let b4 = subgroupBroadcast(a, 2u);
    let b5 = subgroupBroadcast(c, 2u);
    let b6 = subgroupBroadcast(a, 3u);
    let b7 = subgroupBroadcast(c, 3u);
    let r0 = sx[x0 + c4];
    let r1 = sx[x1 + c4];
    let r2 = sx[x2 + c4];
    let r3 = sx[x3 + c4];
    d.lo0 += dots4(r0, b0, b1, b2, b3);
    d.hi0 += dots4(r0, b4, b5, b6, b7);
    d.lo1 += dots4(r1, b0, b1, b2, b3);
    d.hi1 += dots4(r1, b4, b5, b6, b7);
    d.lo2 += dots4(r2, b0, b1, b2, b3);
    d.hi2 += dots4(r2, b4, b5, b6, b7);
    d.lo3 += dots4(r3, b0, b1, b2, b3);
    d.hi3 += dots4(r3, b4, b5, b6, b7);
  }
  return d;
}

// Bases 8kb + h·4 .. + 3 that are real (below K): a logit mask.
fn live4(kb: u32, h: u32, K: u32) -> vec4<bool> {
  return vec4<u32>(kb * 8u + h * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(K);
}

// ‖μ‖² of block kb's bases 4h..4h+3, in the order of the dots, from the lanes' own two.
fn block_q(q: vec2<f32>, h: u32) -> vec4<f32> {
  if (h == 0u) {
    return vec4<f32>(subgroupBroadcast(q.x, 0u), subgroupBroadcast(q.y, 0u), subgroupBroadcast(q.x, 1u), subgroupBroadcast(q.y, 1u));
  }
  return vec4<f32>(subgroupBroadcast(q.x, 2u), subgroupBroadcast(q.y, 2u), subgroupBroadcast(q.x, 3u), subgroupBroadcast(q.y, 3u));
}

// Row n's scaled logits for block kb (lo, hi: the dots) go to γ as scratch and fold into its
// running (max, Σ exp); returns the new pair.
fn rows_online(gb: u32, n: u32, kb: u32, lo_dots: vec4<f32>, hi_dots: vec4<f32>, qlo: vec4<f32>, qhi: vec4<f32>, ml: vec2<f32>) -> vec2<f32> {
  var lo = lo_dots * rep.inv_tau;
  var hi = hi_dots * rep.inv_tau;
  if (RBF) {
    lo = (2.0 * lo_dots - qlo) * rep.inv_tau;
    hi = (2.0 * hi_dots - qhi) * rep.inv_tau;
  }
  let live_lo = live4(kb, 0u, rep.K);
  let live_hi = live4(kb, 1u, rep.K);
  lo = select(vec4<f32>(NEG_BIG), lo, live_lo);
  hi = select(vec4<f32>(NEG_BIG), hi, live_hi);
  let gs = rep.K4 / 4u;
  if (n < rep.N) {
    re_gamma[gb + n * gs + kb * 2u] = lo;
    if (kb * 2u + 1u < gs) { re_gamma[gb + n * gs + kb * 2u + 1u] = hi; }
  }
  let m = max(ml.x, max(max(max(lo.x, lo.y), max(lo.z, lo.w)), max(max(hi.x, hi.y), max(hi.z, hi.w))));
  let e = select(vec4<f32>(), exp(lo - vec4<f32>(m)), live_lo) + select(vec4<f32>(), exp(hi - vec4<f32>(m)), live_hi);
  return vec2<f32>(m, ml.y * exp(ml.x - m) + e.x + e.y + e.z + e.w);
}

// Row n's responsibilities from its stored logits and (max, Σ exp).
fn rows_normalize(gb: u32, n: u32, ml: vec2<f32>) {
  if (n >= rep.N) { return; }
  let gs = rep.K4 / 4u;
  let inv = 1.0 / ml.y;
  for (var g = 0u; g < gs; g++) {
    let at = gb + n * gs + g;
    let k = vec4<u32>(g * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
    re_gamma[at] = select(vec4<f32>(), exp(re_gamma[at] - vec4<f32>(ml.x)), k < vec4<u32>(rep.K)) * inv;
  }
}

@compute @workgroup_size(4)
fn estep_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(subgroup_invocation_id) lane: u32) {
  let N = rep.N;
  let K4 = rep.K4;
  let n0 = (wid.y * nwg.x + wid.x) * (4u * RLANE) + lane * RLANE;
  let b = wid.z;
  let xb = b * N * (rep.C / 4u);
  let mb = b * (rep.mu_stride / 4u);
  let gb = b * N * (K4 / 4u);
  let blocks = (K4 + 7u) / 8u;
  // Online softmax per row, as in kernels/hem.wgsl's estep: the scaled logits go to γ as scratch.
  let start = vec2<f32>(NEG_BIG, 0.0);
  var ml0 = start;
  var ml1 = start;
  var ml2 = start;
  var ml3 = start;
  for (var kb = 0u; kb < blocks; kb++) {
    let d = rows_dots8(xb, mb, n0, kb, lane, N, rep.C, K4);
    var qlo = vec4<f32>();
    var qhi = vec4<f32>();
    if (RBF) {
      qlo = block_q(d.q, 0u);
      qhi = block_q(d.q, 1u);
    }
    ml0 = rows_online(gb, n0, kb, d.lo0, d.hi0, qlo, qhi, ml0);
    ml1 = rows_online(gb, n0 + 1u, kb, d.lo1, d.hi1, qlo, qhi, ml1);
    ml2 = rows_online(gb, n0 + 2u, kb, d.lo2, d.hi2, qlo, qhi, ml2);
    ml3 = rows_online(gb, n0 + 3u, kb, d.lo3, d.hi3, qlo, qhi, ml3);
  }
  rows_normalize(gb, n0, ml0);
  rows_normalize(gb, n0 + 1u, ml1);
  rows_normalize(gb, n0 + 2u, ml2);
  rows_normalize(gb, n0 + 3u, ml3);
}

@group(0) @binding(2) var<storage, read> rg_dn: array<vec4<f32>>;     // dN [B, K4]
@group(0) @binding(3) var<storage, read> rg_gamma: array<vec4<f32>>;  // γ [B, N, K4]
// dS [B, N, K4]; with DGAMMA_IN it holds the incoming dγ on entry and is updated in place.
@group(0) @binding(4) var<storage, read_write> rg_ds: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> rgp: EstepGradParams;

// Row n's dγ for block kb (the dots plus dN, plus the incoming dγ with DGAMMA_IN) goes to dS as
// scratch; returns Σ dγ γ over the block.
fn rows_grad(gb: u32, n: u32, kb: u32, lo_dots: vec4<f32>, hi_dots: vec4<f32>, dnlo: vec4<f32>, dnhi: vec4<f32>) -> f32 {
  if (n >= rgp.N) { return 0.0; }
  let gs = rgp.K4 / 4u;
  let at = gb + n * gs + kb * 2u;
  var lo = lo_dots + dnlo;
  if (DGAMMA_IN) { lo += rg_ds[at]; }
  rg_ds[at] = lo;
  var r = dot(lo, rg_gamma[at]);
  if (kb * 2u + 1u < gs) {
    var hi = hi_dots + dnhi;
    if (DGAMMA_IN) { hi += rg_ds[at + 1u]; }
    rg_ds[at + 1u] = hi;
    r += dot(hi, rg_gamma[at + 1u]);
  }
  return r;
}

// Row n's dS = γ ⊙ (dγ − r) from its stored dγ.
fn rows_softmax_adjoint(gb: u32, n: u32, r: f32) {
  if (n >= rgp.N) { return; }
  let gs = rgp.K4 / 4u;
  for (var g = 0u; g < gs; g++) {
    let at = gb + n * gs + g;
    rg_ds[at] = rg_gamma[at] * (rg_ds[at] - vec4<f32>(r));
  }
}

@compute @workgroup_size(4)
fn estep_grad_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(subgroup_invocation_id) lane: u32) {
  let N = rgp.N;
  let K4 = rgp.K4;
  let gs = K4 / 4u;
  let n0 = (wid.y * nwg.x + wid.x) * (4u * RLANE) + lane * RLANE;
  let b = wid.z;
  let xb = b * N * (rgp.C / 4u);
  let mb = b * K4 * (rgp.C / 4u);
  let gb = b * N * gs;
  let blocks = (K4 + 7u) / 8u;
  // As in estep_rows: each block's dγ goes to dS as scratch while r = Σ_k dγ_k γ_k accumulates
  // per row; a last pass turns dγ into dS = γ ⊙ (dγ − r).
  var r = vec4<f32>();
  for (var kb = 0u; kb < blocks; kb++) {
    let d = rows_dots8(xb, mb, n0, kb, lane, N, rgp.C, K4);
    let dnlo = rg_dn[b * gs + kb * 2u];
    let dnhi = rg_dn[b * gs + min(kb * 2u + 1u, gs - 1u)];
    r += vec4<f32>(rows_grad(gb, n0, kb, d.lo0, d.hi0, dnlo, dnhi), rows_grad(gb, n0 + 1u, kb, d.lo1, d.hi1, dnlo, dnhi),
                   rows_grad(gb, n0 + 2u, kb, d.lo2, d.hi2, dnlo, dnhi), rows_grad(gb, n0 + 3u, kb, d.lo3, d.hi3, dnlo, dnhi));
  }
  rows_softmax_adjoint(gb, n0, r.x);
  rows_softmax_adjoint(gb, n0 + 1u, r.y);
  rows_softmax_adjoint(gb, n0 + 2u, r.z);
  rows_softmax_adjoint(gb, n0 + 3u, r.w);
}
