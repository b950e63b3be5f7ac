// The HEM layer's heavy products, tiled through workgroup memory for GPUs (formulas in
// docs/math.md; the same math, saved state and padding rules as kernels/hem.wgsl, which keeps the
// register-tiled versions that suit CPU drivers). Shapes per batch element b = workgroup_id.z:
// X [N, C], bases μ [K4, C] (stride 0 when shared), γ and dS [N, K4]; C and K4 are multiples of 4.
//
// Every entry point is one product P = A B over a reduction index r, staged in chunks of RT:
//   A [r, a] scalars in workgroup memory `as_`, B [r, b] vec4s along b in `bs`,
// and each of the TX × TY invocations accumulates a 4 × 8 block of P (a ∈ {ty + TY i}, b-vec4s
// ∈ {tx + TX j}, i < 4, j < 2: interleaved, so neighbouring invocations read neighbouring words)
// in registers (`tile_fma`). One workgroup owns a TA × TB tile of P, TA = 4 TY, TB = 8 TX.
//   estep_tiled       S = X μᵀ (a = rows, b = bases, r = channels), then the softmax over the
//                     bases in the epilogue (the flash-attention pattern: one workgroup owns a
//                     block of rows and streams C; the logits never reach memory when K4 ≤ TB,
//                     and otherwise go to γ as scratch, one pass over K blocks with an online
//                     max and sum, then a rescaling pass over the workgroup's own rows);
//   estep_grad_tiled  dγ = X dAᵀ + 1 dNᵀ (+ dγ in) and dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ));
//   wsum_tiled        Wᵀ X over one chunk of rows (a = bases, b = channels, r = rows) and Σ W:
//                     split-N partials that hem.wgsl's *_finish entry points add up;
//   dx_tiled          dX += γ dA + s · dS μ (a = rows, b = channels, r = bases).
// Rows past N (and bases, channels past the tile) are clamped or zero-filled on load and masked on
// store, so every access is in bounds without robustness. Every invocation reaches every barrier:
// there is no early return.
//
// Interfaces: X is binding 0 and the B-side operand of estep_tiled and estep_grad_tiled (μ, dA)
// binding 1 in both, shared by their staging code; otherwise each entry point has its own
// bindings, numbered in order with its uniform last.

override TX: u32 = 8;   // invocations along b (each owns 2 vec4s of b)
override TY: u32 = 8;   // invocations along a (each owns 4 values of a)
override RT: u32 = 16;  // reduction steps per staged chunk (a multiple of 4)
override RBF: bool = false;       // estep_tiled: S = 2 X μᵀ − ‖μ‖² instead of X μᵀ
override DGAMMA_IN: bool = false; // estep_grad_tiled: dS holds an incoming dγ on entry
override PART: u32 = 0u;          // dx_tiled: 0 both parts into dX, 1 γ dA alone, 2 s dS μ alone

override WG: u32 = TX * TY;
override TA: u32 = 4u * TY;     // a per workgroup tile
override TB4: u32 = 2u * TX;    // b per workgroup tile, in vec4s
override A_LEN: u32 = RT * TA;
override B_LEN: u32 = RT * TB4;
override RED_LEN: u32 = TA * TX;
// #include "hem-estep.wgsl"


var<workgroup> as_: array<f32, A_LEN>;        // A chunk [RT, TA]
var<workgroup> bs: array<vec4<f32>, B_LEN>;   // B chunk [RT, TB4]
var<workgroup> red: array<f32, RED_LEN>;      // one value per (a, tx): reductions along b

@group(0) @binding(0) var<storage, read> tx_x: array<vec4<f32>>;  // X [B, N, C]
@group(0) @binding(1) var<storage, read> tx_m: array<vec4<f32>>;  // μ or dA [B or 1, K4, C]

// P-block += A-chunk B-chunk over the first `steps` reduction steps of the staged chunk.
fn tile_fma(acc: ptr<function, array<vec4<f32>, 8>>, tx: u32, ty: u32, steps: u32) {
  for (var r = 0u; r < steps; r++) {
    let ao = r * TA + ty;
    let a0 = as_[ao];
    let a1 = as_[ao + TY];
    let a2 = as_[ao + 2u * TY];
    let a3 = as_[ao + 3u * TY];
    let b0 = bs[r * TB4 + tx];
    let b1 = bs[r * TB4 + tx + TX];
    (*acc)[0] += a0 * b0; (*acc)[1] += a0 * b1;
    (*acc)[2] += a1 * b0; (*acc)[3] += a1 * b1;
    (*acc)[4] += a2 * b0; (*acc)[5] += a2 * b1;
    (*acc)[6] += a3 * b0; (*acc)[7] += a3 * b1;
  }
}

// Reduce one value per owned a (v[i] for a = ty + TY i) over the TX invocations sharing it:
// the maximum when `is_max`, else the sum. Call in uniform control flow (two barriers).
fn across_b(v: vec4<f32>, tx: u32, ty: u32, is_max: bool) -> vec4<f32> {
  workgroupBarrier();
  for (var i = 0u; i < 4u; i++) { red[(ty + TY * i) * TX + tx] = v[i]; }
  workgroupBarrier();
  var out = vec4<f32>(select(0.0, NEG_BIG, is_max));
  for (var i = 0u; i < 4u; i++) {
    let row = (ty + TY * i) * TX;
    for (var t = 0u; t < TX; t++) {
      let w = red[row + t];
      out[i] = select(out[i] + w, max(out[i], w), is_max);
    }
  }
  return out;
}

// Stage, for estep_tiled and estep_grad_tiled, channels [c0, c0 + RT) of rows row0 … row0 + TA − 1
// of X (transposed into as_: [channel, row]) and of the bases kb·4TB4 … of μ or dA (into bs:
// [channel, base vec4]). Rows past N are clamped, channels past C and bases past K4 read as 0.
fn stage_rows_bases(xb: u32, mb: u32, row0: u32, kb: u32, c0: u32, lid: u32, N: u32, C: u32, K4: u32) {
  let cs = C / 4u;
  let r4 = RT / 4u;
  for (var idx = lid; idx < TA * r4; idx += WG) {
    let r = idx / r4;
    let c4 = idx % r4;
    let cv = c0 / 4u + c4;
    let n = min(row0 + r, N - 1u);
    let v = select(vec4<f32>(), tx_x[xb + n * cs + min(cv, cs - 1u)], cv < cs);
    for (var e = 0u; e < 4u; e++) { as_[(c4 * 4u + e) * TA + r] = v[e]; }
  }
  let tb = 4u * TB4;
  for (var idx = lid; idx < tb * r4; idx += WG) {
    let k = idx / r4;
    let c4 = idx % r4;
    let cv = c0 / 4u + c4;
    let gk = kb * tb + k;
    let ok = cv < cs && gk < K4;
    let v = select(vec4<f32>(), tx_m[mb + min(gk, K4 - 1u) * cs + min(cv, cs - 1u)], ok);
    for (var e = 0u; e < 4u; e++) { bs[(c4 * 4u + e) * TB4 + k / 4u][k % 4u] = v[e]; }
  }
}

// The [TA rows × TB bases] block kb of X Mᵀ (M = μ or dA), summed over all channels; with `sq`
// the squared norms ‖M_k‖² of the invocation's 8 bases go to q (for 'rbf').
fn rows_by_bases(acc: ptr<function, array<vec4<f32>, 8>>, q: ptr<function, array<vec4<f32>, 2>>, sq: bool,
                 xb: u32, mb: u32, row0: u32, kb: u32, lid: u32, N: u32, C: u32, K4: u32) {
  let tx = lid % TX;
  let ty = lid / TX;
  for (var c0 = 0u; c0 < C; c0 += RT) {
    workgroupBarrier();
    stage_rows_bases(xb, mb, row0, kb, c0, lid, N, C, K4);
    workgroupBarrier();
    tile_fma(acc, tx, ty, RT);
    if (sq) {
      for (var r = 0u; r < RT; r++) {
        let b0 = bs[r * TB4 + tx];
        let b1 = bs[r * TB4 + tx + TX];
        (*q)[0] += b0 * b0;
        (*q)[1] += b1 * b1;
      }
    }
  }
}

// The workgroup's first row and its batch element.
fn first_row(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * TA;
}

// ------------------------------------------------------------------------------------ estep_tiled
// EstepParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(2) var<storage, read_write> te_gamma: array<vec4<f32>>; // γ [B, N, K4]
@group(0) @binding(3) var<uniform> te: EstepParams;

// Mask padded bases of the invocation's vec4 j in block kb (−∞ for logits, 0 otherwise).
fn base_ok(kb: u32, tx: u32, j: u32, K: u32) -> vec4<bool> {
  let k0 = (kb * TB4 + tx + TX * j) * 4u;
  return (vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u)) < vec4<u32>(K);
}

@compute @workgroup_size(WG)
fn estep_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let N = te.N;
  let K4 = te.K4;
  let row0 = first_row(wid, nwg);
  let b = wid.z;
  let xb = b * N * (te.C / 4u);
  let mb = b * (te.mu_stride / 4u);
  let gs = K4 / 4u;
  let gb = b * N * gs;
  let tx = lid % TX;
  let ty = lid / TX;
  let blocks = (gs + TB4 - 1u) / TB4;
  var m = vec4<f32>(NEG_BIG); // running max per owned row
  var l = vec4<f32>();        // running Σ exp(s − m)
  var s = array<vec4<f32>, 8>();
  for (var kb = 0u; kb < blocks; kb++) {
    var acc = array<vec4<f32>, 8>();
    var q = array<vec4<f32>, 2>();
    rows_by_bases(&acc, &q, RBF, xb, mb, row0, kb, lid, N, te.C, K4);
    var bmax = vec4<f32>(NEG_BIG);
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 2u; j++) {
        var v = acc[i * 2u + j] * te.inv_tau;
        if (RBF) { v = (2.0 * acc[i * 2u + j] - q[j]) * te.inv_tau; }
        s[i * 2u + j] = select(vec4<f32>(NEG_BIG), v, base_ok(kb, tx, j, te.K));
        bmax[i] = max(bmax[i], max(max(s[i * 2u + j].x, s[i * 2u + j].y), max(s[i * 2u + j].z, s[i * 2u + j].w)));
      }
    }
    let mnew = max(m, across_b(bmax, tx, ty, true));
    var part = vec4<f32>();
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 2u; j++) {
        let e = select(vec4<f32>(), exp(s[i * 2u + j] - mnew[i]), base_ok(kb, tx, j, te.K));
        part[i] += e.x + e.y + e.z + e.w;
        if (blocks == 1u) { s[i * 2u + j] = e; }
      }
    }
    l = l * exp(m - mnew) + across_b(part, tx, ty, false);
    m = mnew;
    if (blocks > 1u) {
      // Logits to γ as scratch; the rescaling pass below reads back what this invocation wrote.
      for (var i = 0u; i < 4u; i++) {
        let n = row0 + ty + TY * i;
        for (var j = 0u; j < 2u; j++) {
          let kv = kb * TB4 + tx + TX * j;
          if (n < N && kv < gs) { te_gamma[gb + n * gs + kv] = s[i * 2u + j]; }
        }
      }
    }
  }
  let inv = 1.0 / l;
  for (var kb = 0u; kb < blocks; kb++) {
    for (var i = 0u; i < 4u; i++) {
      let n = row0 + ty + TY * i;
      for (var j = 0u; j < 2u; j++) {
        let kv = kb * TB4 + tx + TX * j;
        if (n >= N || kv >= gs) { continue; }
        if (blocks == 1u) {
          te_gamma[gb + n * gs + kv] = s[i * 2u + j] * inv[i];
        } else {
          let e = select(vec4<f32>(), exp(te_gamma[gb + n * gs + kv] - m[i]), base_ok(kb, tx, j, te.K));
          te_gamma[gb + n * gs + kv] = e * inv[i];
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------- estep_grad_tiled
// EstepGradParams: kernels/include/hem-estep.wgsl.

@group(0) @binding(2) var<storage, read> tg_dn: array<vec4<f32>>;     // dN [B, K4]
@group(0) @binding(3) var<storage, read> tg_gamma: array<vec4<f32>>;  // γ [B, N, K4]
// dS [B, N, K4]; with DGAMMA_IN it holds the incoming dγ on entry and is updated in place.
@group(0) @binding(4) var<storage, read_write> tg_ds: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> tgp: EstepGradParams;

@compute @workgroup_size(WG)
fn estep_grad_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let N = tgp.N;
  let K4 = tgp.K4;
  let row0 = first_row(wid, nwg);
  let b = wid.z;
  let xb = b * N * (tgp.C / 4u);
  let mb = b * K4 * (tgp.C / 4u);
  let gs = K4 / 4u;
  let gb = b * N * gs;
  let tx = lid % TX;
  let ty = lid / TX;
  let blocks = (gs + TB4 - 1u) / TB4;
  var r = vec4<f32>(); // Σ_k dγ γ per owned row
  var dg = array<vec4<f32>, 8>();
  var g = array<vec4<f32>, 8>();
  for (var kb = 0u; kb < blocks; kb++) {
    var acc = array<vec4<f32>, 8>();
    var q = array<vec4<f32>, 2>();
    rows_by_bases(&acc, &q, false, xb, mb, row0, kb, lid, N, tgp.C, K4);
    var part = vec4<f32>();
    for (var i = 0u; i < 4u; i++) {
      let n = min(row0 + ty + TY * i, N - 1u);
      for (var j = 0u; j < 2u; j++) {
        let kv = min(kb * TB4 + tx + TX * j, gs - 1u);
        let at = gb + n * gs + kv;
        let live = row0 + ty + TY * i < N && kb * TB4 + tx + TX * j < gs;
        var d = acc[i * 2u + j] + tg_dn[b * gs + kv];
        if (DGAMMA_IN) { d += tg_ds[at]; }
        let gm = select(vec4<f32>(), tg_gamma[at], live);
        dg[i * 2u + j] = d;
        g[i * 2u + j] = gm;
        part[i] += dot(d, gm);
      }
    }
    r += across_b(part, tx, ty, false);
    if (blocks > 1u) {
      for (var i = 0u; i < 4u; i++) {
        let n = row0 + ty + TY * i;
        for (var j = 0u; j < 2u; j++) {
          let kv = kb * TB4 + tx + TX * j;
          if (n < N && kv < gs) { tg_ds[gb + n * gs + kv] = dg[i * 2u + j]; }
        }
      }
    }
  }
  for (var kb = 0u; kb < blocks; kb++) {
    for (var i = 0u; i < 4u; i++) {
      let n = row0 + ty + TY * i;
      for (var j = 0u; j < 2u; j++) {
        let kv = kb * TB4 + tx + TX * j;
        if (n >= N || kv >= gs) { continue; }
        let at = gb + n * gs + kv;
        if (blocks == 1u) {
          tg_ds[at] = g[i * 2u + j] * (dg[i * 2u + j] - vec4<f32>(r[i]));
        } else {
          tg_ds[at] = tg_gamma[at] * (tg_ds[at] - vec4<f32>(r[i]));
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------ wsum_tiled
struct WsumTiledParams {
  N: u32,
  C: u32,
  K4: u32,
  chunks: u32,
  rows_per_chunk: u32,
}

@group(0) @binding(0) var<storage, read> tw_x: array<vec4<f32>>;          // X [B, N, C]
@group(0) @binding(1) var<storage, read> tw_w: array<vec4<f32>>;          // W [B, N, K4]
@group(0) @binding(2) var<storage, read_write> tw_part: array<vec4<f32>>; // P [B, chunks, K4, C]
@group(0) @binding(3) var<storage, read_write> tw_sum: array<f32>;        // s [B, chunks, K4]
@group(0) @binding(4) var<uniform> twp: WsumTiledParams;

// One workgroup per (chunk, TA bases, 4 TB4 channels): P[chunk] = Σ_n W_nᵀ ⊗ x_n over the chunk's
// rows, and s[chunk] = Σ_n W_n (the invocations with tx = 0 add their bases' column of W).
@compute @workgroup_size(WG)
fn wsum_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let N = twp.N;
  let cs = twp.C / 4u;
  let gs = twp.K4 / 4u;
  let ktiles = (twp.K4 + TA - 1u) / TA;
  let ctiles = (cs + TB4 - 1u) / TB4;
  let id = wid.y * nwg.x + wid.x;
  let ct = id % ctiles;
  let kt = (id / ctiles) % ktiles;
  let chunk = min(id / (ctiles * ktiles), twp.chunks - 1u); // surplus workgroups redo the last chunk
  let live_wg = id < twp.chunks * ktiles * ctiles;           // … and store nothing
  let b = wid.z;
  let xb = b * N * cs;
  let wb = b * N * gs;
  let tx = lid % TX;
  let ty = lid / TX;
  let n_begin = chunk * twp.rows_per_chunk;
  let n_end = min(N, n_begin + twp.rows_per_chunk);
  let r4 = RT / 4u;
  var acc = array<vec4<f32>, 8>();
  var s = vec4<f32>();
  for (var n0 = n_begin; n0 < n_end; n0 += RT) {
    workgroupBarrier();
    // W rows → as_ [row, base] (no transpose: W is row-major in bases), X rows → bs [row, chan].
    for (var idx = lid; idx < RT * (TA / 4u); idx += WG) {
      let r = idx / (TA / 4u);
      let k4 = idx % (TA / 4u);
      let kv = kt * (TA / 4u) + k4;
      let ok = n0 + r < n_end && kv < gs;
      let v = select(vec4<f32>(), tw_w[wb + min(n0 + r, N - 1u) * gs + min(kv, gs - 1u)], ok);
      for (var e = 0u; e < 4u; e++) { as_[r * TA + k4 * 4u + e] = v[e]; }
    }
    for (var idx = lid; idx < RT * TB4; idx += WG) {
      let r = idx / TB4;
      let cv = ct * TB4 + idx % TB4;
      let ok = n0 + r < n_end && cv < cs;
      bs[idx] = select(vec4<f32>(), tw_x[xb + min(n0 + r, N - 1u) * cs + min(cv, cs - 1u)], ok);
    }
    workgroupBarrier();
    tile_fma(&acc, tx, ty, RT);
    if (tx == 0u) {
      for (var r = 0u; r < RT; r++) {
        let ao = r * TA + ty;
        s += vec4<f32>(as_[ao], as_[ao + TY], as_[ao + 2u * TY], as_[ao + 3u * TY]);
      }
    }
  }
  if (!live_wg) { return; }
  let pb = (b * twp.chunks + chunk) * twp.K4;
  for (var i = 0u; i < 4u; i++) {
    let k = kt * TA + ty + TY * i;
    if (k >= twp.K4) { continue; }
    for (var j = 0u; j < 2u; j++) {
      let cv = ct * TB4 + tx + TX * j;
      if (cv < cs) { tw_part[(pb + k) * cs + cv] = acc[i * 2u + j]; }
    }
    if (tx == 0u && ct == 0u) { tw_sum[pb + k] = s[i]; }
  }
}

// -------------------------------------------------------------------------------------- dx_tiled
struct DxTiledParams {
  N: u32,
  C: u32,
  K4: u32,
  mu_stride: u32,
  scale: f32,    // s = 1/τ ('dot') or 2/τ ('rbf')
}

@group(0) @binding(0) var<storage, read> td_gamma: array<vec4<f32>>;  // γ [B, N, K4]
@group(0) @binding(1) var<storage, read> td_ds: array<vec4<f32>>;     // dS [B, N, K4]
@group(0) @binding(2) var<storage, read> td_da: array<vec4<f32>>;     // dA [B, K4, C]
@group(0) @binding(3) var<storage, read> td_mu: array<vec4<f32>>;     // μ⁽ᵗ⁾ [B or 1, K4, C]
@group(0) @binding(4) var<storage, read_write> td_dx: array<vec4<f32>>; // dX [B, N, C]
@group(0) @binding(5) var<uniform> tdp: DxTiledParams;

// Stage bases [k0, k0 + RT) for one product of dx_tiled: rows of γ (or dS) transposed into as_
// [base, row], the same bases of dA (or μ) into bs [base, channel vec4]. gb, ab, mb: the batch
// element's offsets into γ and dS, dA, μ.
fn stage_dx(nstep: bool, gb: u32, ab: u32, mb: u32, row0: u32, ct: u32, k0: u32, lid: u32) {
  let N = tdp.N;
  let gs = tdp.K4 / 4u;
  let cs = tdp.C / 4u;
  let r4 = RT / 4u;
  for (var idx = lid; idx < TA * r4; idx += WG) {
    let r = idx / r4;
    let k4 = idx % r4;
    let kv = k0 / 4u + k4;
    let at = gb + min(row0 + r, N - 1u) * gs + min(kv, gs - 1u);
    var v = vec4<f32>();
    if (kv < gs) { if (nstep) { v = td_gamma[at]; } else { v = td_ds[at]; } }
    for (var e = 0u; e < 4u; e++) { as_[(k4 * 4u + e) * TA + r] = v[e]; }
  }
  for (var idx = lid; idx < RT * TB4; idx += WG) {
    let r = idx / TB4;
    let cv = ct * TB4 + idx % TB4;
    let at = min(k0 + r, tdp.K4 - 1u) * cs + min(cv, cs - 1u);
    var v = vec4<f32>();
    if (k0 + r < tdp.K4 && cv < cs) { if (nstep) { v = td_da[ab + at]; } else { v = td_mu[mb + at]; } }
    bs[idx] = v;
  }
}

// One workgroup per (TA rows, 4 TB4 channels): dXᵀ-block += γ dA and s dS μ over all bases.
@compute @workgroup_size(WG)
fn dx_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let N = tdp.N;
  let cs = tdp.C / 4u;
  let gs = tdp.K4 / 4u;
  let ctiles = (cs + TB4 - 1u) / TB4;
  let id = wid.y * nwg.x + wid.x;
  let ct = id % ctiles;
  let row0 = (id / ctiles) * TA;
  let b = wid.z;
  let gb = b * N * gs;
  let ab = b * tdp.K4 * cs;
  let mb = b * (tdp.mu_stride / 4u);
  let tx = lid % TX;
  let ty = lid / TX;
  var accn = array<vec4<f32>, 8>();
  var acce = array<vec4<f32>, 8>();
  for (var k0 = 0u; k0 < tdp.K4; k0 += RT) {
    if (PART != 2u) {
      workgroupBarrier();
      stage_dx(true, gb, ab, mb, row0, ct, k0, lid);
      workgroupBarrier();
      tile_fma(&accn, tx, ty, RT);
    }
    if (PART != 1u) {
      workgroupBarrier();
      stage_dx(false, gb, ab, mb, row0, ct, k0, lid);
      workgroupBarrier();
      tile_fma(&acce, tx, ty, RT);
    }
  }
  let xb = b * N * cs;
  for (var i = 0u; i < 4u; i++) {
    let n = row0 + ty + TY * i;
    if (n >= N) { continue; }
    for (var j = 0u; j < 2u; j++) {
      let cv = ct * TB4 + tx + TX * j;
      if (cv >= cs) { continue; }
      let at = xb + n * cs + cv;
      switch (PART) {
        case 1u: { td_dx[at] = accn[i * 2u + j]; }
        case 2u: { td_dx[at] = tdp.scale * acce[i * 2u + j]; }
        default: { td_dx[at] = td_dx[at] + accn[i * 2u + j] + tdp.scale * acce[i * 2u + j]; }
      }
    }
  }
}
