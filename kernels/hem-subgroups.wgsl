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
