// Batched symmetric eigendecomposition A = U diag(λ) Uᵀ by parallel cyclic Jacobi, and the two
// elementwise cores of its adjoints (src/kernels/eigh.ts launches them; src/ops/eigh.ts records).
//
// `jacobi`: one workgroup per matrix. The input is symmetrised, W = (A + Aᵀ)/2, and scaled by
// 1/max|W| (no overflow or underflow in the rotations; λ is scaled back at the end). A sweep
// visits every pair (p, q) once, in m − 1 rounds of m/2 disjoint pairs (m = d rounded up to even;
// the circle/round-robin ordering, a dummy index when d is odd). A round: (1) one invocation per
// pair computes the rotation (c, s) that zeroes W[p, q] (Golub & Van Loan, sym.schur2), or (1, 0)
// when |W[p,q]| ≤ TOL·sqrt(|W[p,p]·W[q,q]|) or |W[p,q]| ≤ TOL² (relative to max|W| = 1): the
// pair is already diagonal to f32 precision; (2) W ← Jᵀ W J by 2×2 blocks: the block of rows
// of pair P and columns of pair Q depends only on itself and the two rotations, so every block is
// updated in place independently (the rotated pair's own off-diagonal set to 0), and U ← U J by
// row pairs. A sweep that applies no rotation ends the iteration (every off-diagonal entry is
// below the threshold: ‖off(W)‖_F ≤ TOL·‖W‖_F up to the TOL² floor); at most `max_sweeps`
// sweeps run in any case, so the kernel always terminates (the sweeps used are written to
// `sweeps`, −1 for non-finite input; max_sweeps + 1 means "did not converge").
// Then λ_i = W[i,i] are sorted ascending by rank (ties by index) and the columns of U follow;
// each column's sign makes its entry of largest magnitude (the first such) positive.
// Non-finite input (NaN or ±Inf anywhere in the matrix, detected from the bit pattern, since WGSL
// lets compilers assume finite floats) gives NaN values and vectors for that matrix.
// Storage (override LOCAL): true — W and U live in workgroup memory (d ≤ LOCAL_D, 8 KiB of the
// 16 KiB WebGPU guarantees); false — in global scratch ([n, d, d] each, `work` and `uwork`), any
// d. The round's pair and rotation tables (MAX_PAIRS) bound d ≤ 2·MAX_PAIRS.
// Work per round: the d²/4 blocks are walked without integer division (the pair table is built
// once per round; block indices advance incrementally), and only blocks P ≤ Q are computed, the
// block Q, P written as their transpose (W stays exactly symmetric).
//
// `eigh_vectors_core`: out = sym(K̃ ∘ M) for M = Uᵀ dU, K̃_ij = 1/(λ_j − λ_i), i.e.
// out_ij = (M_ij − M_ji) / (2(λ_j − λ_i)), and 0 where |λ_i − λ_j| ≤ gap·max|λ| (degenerate pairs:
// for a loss invariant to the basis inside an eigenspace M is symmetric there and the exact term
// is 0; see src/ops/eigh.ts).
// `spectral_core`: out = G ∘ sym(M) with the divided differences G_ij = (f_i − f_j)/(λ_i − λ_j),
// and (f'_i + f'_j)/2 where |λ_i − λ_j| ≤ gap·max|λ| (Daleckii-Krein); f' counts as 0 at
// λ ≤ floor (the spectral function clamps its argument there).

override WG: u32 = 64;
override LOCAL: bool = false;
const MAX_PAIRS: u32 = 512u;
const LOCAL_D: u32 = 32u;
// Workgroup arrays for W and U: LOCAL_D² each in the LOCAL variant, one element otherwise.
override LOCAL_N: u32 = select(1u, LOCAL_D * LOCAL_D, LOCAL);

struct JacobiParams {
  n: u32,
  d: u32,
  max_sweeps: u32,
  tol: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> work: array<f32>;
@group(0) @binding(2) var<storage, read_write> uwork: array<f32>;
@group(0) @binding(3) var<storage, read_write> values: array<f32>;
@group(0) @binding(4) var<storage, read_write> vectors: array<f32>;
@group(0) @binding(5) var<storage, read_write> sweeps: array<i32>;
@group(0) @binding(6) var<uniform> jp: JacobiParams;

var<workgroup> rot: array<vec2<f32>, MAX_PAIRS>;
// Pair k of the current round: p | q << 16 (p < q; q = d for the dummy index when d is odd).
var<workgroup> pairs: array<u32, MAX_PAIRS>;
var<workgroup> wloc: array<f32, LOCAL_N>;
var<workgroup> uloc: array<f32, LOCAL_N>;
var<workgroup> red: array<f32, WG>;
var<workgroup> red_out: f32;
var<workgroup> applied: atomic<u32>;
var<workgroup> applied_total: u32;

// W and U element i of matrix `base` (row * d + col), in workgroup or global memory.
fn ldw(base: u32, i: u32) -> f32 {
  if (LOCAL) { return wloc[i]; }
  return work[base + i];
}
fn stw(base: u32, i: u32, v: f32) {
  if (LOCAL) { wloc[i] = v; } else { work[base + i] = v; }
}
fn ldu(base: u32, i: u32) -> f32 {
  if (LOCAL) { return uloc[i]; }
  return uwork[base + i];
}
fn stu(base: u32, i: u32, v: f32) {
  if (LOCAL) { uloc[i] = v; } else { uwork[base + i] = v; }
}

// Make every invocation's W and U writes visible to the others.
fn sync_wu() {
  if (!LOCAL) { storageBarrier(); }
  workgroupBarrier();
}

fn non_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// The pair k of round r of the circle ordering of m (even) indices: (p, q), p < q.
fn pair_of(k: u32, r: u32, m: u32) -> vec2<u32> {
  let last = m - 1u;
  var i: u32;
  var j: u32;
  if (k == 0u) {
    i = last;
    j = r % last;
  } else {
    i = (r + k) % last;
    j = (r + last - k) % last;
  }
  return vec2<u32>(min(i, j), max(i, j));
}

fn unpack(pq: u32) -> vec2<u32> {
  return vec2<u32>(pq & 0xffffu, pq >> 16u);
}

// Workgroup max of v; every invocation gets the result.
fn wg_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out = red[0]; }
  // A workgroup-uniform value: the caller branches on it around barriers.
  return workgroupUniformLoad(&red_out);
}

// One round: rotations of its pairs (into rot), then W ← Jᵀ W J and U ← U J.
fn round(base: u32, d: u32, r: u32, m: u32, lid: u32, tol: f32, floor: f32) {
  let half = m / 2u;
  for (var k = lid; k < half; k += WG) {
    let pq = pair_of(k, r, m);
    pairs[k] = pq.x | (pq.y << 16u);
    var cs = vec2<f32>(1.0, 0.0);
    if (pq.y < d) {
      let app = ldw(base, pq.x * d + pq.x);
      let aqq = ldw(base, pq.y * d + pq.y);
      let apq = ldw(base, pq.x * d + pq.y);
      if (abs(apq) > tol * sqrt(abs(app * aqq)) && abs(apq) > floor) {
        let theta = (aqq - app) / (2.0 * apq);
        var t = 0.5 / theta;  // |θ| large: t ≈ 1/(2θ)
        if (abs(theta) < 1e15) { t = sign(theta) / (abs(theta) + sqrt(theta * theta + 1.0)); }
        if (theta == 0.0) { t = 1.0; }
        let c = 1.0 / sqrt(t * t + 1.0);
        cs = vec2<f32>(c, t * c);
        atomicAdd(&applied, 1u);
      }
    }
    rot[k] = cs;
  }
  sync_wu();
  // W ← Jᵀ W J by 2×2 blocks (pair P's rows × pair Q's columns), P ≤ Q; block (Q, P) is its
  // transpose. b = bp·half + bq advances by WG without a division.
  let step_p = WG / half;
  let step_q = WG % half;
  var bp = lid / half;
  var bq = lid % half;
  for (var b = lid; b < half * half; b += WG) {
    if (bp <= bq) {
      let rp = rot[bp];
      let rq = rot[bq];
      if (rp.y != 0.0 || rq.y != 0.0) {
        let P = unpack(pairs[bp]);
        let Q = unpack(pairs[bq]);
        let p2 = P.y < d;
        let q2 = Q.y < d;
        // The dummy index (= d) has no row or column: its entries read as 0 and are not written.
        let i11 = P.x * d + Q.x;
        let i12 = P.x * d + Q.y;
        let i21 = P.y * d + Q.x;
        let i22 = P.y * d + Q.y;
        let w11 = ldw(base, i11);
        let w12 = select(0.0, ldw(base, select(i11, i12, q2)), q2);
        let w21 = select(0.0, ldw(base, select(i11, i21, p2)), p2);
        let w22 = select(0.0, ldw(base, select(i11, i22, p2 && q2)), p2 && q2);
        // Rows: [c −s; s c] applied to (row p, row q) (Jᵀ W).
        let x11 = rp.x * w11 - rp.y * w21;
        let x12 = rp.x * w12 - rp.y * w22;
        let x21 = rp.y * w11 + rp.x * w21;
        let x22 = rp.y * w12 + rp.x * w22;
        // Columns: (col p, col q) · [c s; −s c] (W J).
        let y11 = rq.x * x11 - rq.y * x12;
        var y12 = rq.y * x11 + rq.x * x12;
        var y21 = rq.x * x21 - rq.y * x22;
        let y22 = rq.y * x21 + rq.x * x22;
        if (bp == bq && rp.y != 0.0) {
          y12 = 0.0;
          y21 = 0.0;
        }
        stw(base, i11, y11);
        if (q2) { stw(base, i12, y12); }
        if (p2) { stw(base, i21, y21); }
        if (p2 && q2) { stw(base, i22, y22); }
        if (bp != bq) {
          stw(base, Q.x * d + P.x, y11);
          if (q2) { stw(base, Q.y * d + P.x, y12); }
          if (p2) { stw(base, Q.x * d + P.y, y21); }
          if (p2 && q2) { stw(base, Q.y * d + P.y, y22); }
        }
      }
    }
    bp += step_p;
    bq += step_q;
    if (bq >= half) {
      bq -= half;
      bp += 1u;
    }
  }
  // U ← U J: columns p, q of every row; e = row·half + k, advanced the same way.
  let step_row = WG / half;
  var row = lid / half;
  var k = lid % half;
  for (var e = lid; e < d * half; e += WG) {
    let cs = rot[k];
    if (cs.y != 0.0) {
      let pq = unpack(pairs[k]);
      let ip = row * d + pq.x;
      let iq = row * d + pq.y;
      let up = ldu(base, ip);
      let uq = ldu(base, iq);
      stu(base, ip, cs.x * up - cs.y * uq);
      stu(base, iq, cs.y * up + cs.x * uq);
    }
    row += step_row;
    k += step_q;
    if (k >= half) {
      k -= half;
      row += 1u;
    }
  }
  sync_wu();
}

@compute @workgroup_size(WG)
fn jacobi(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let mat = wid.y * nwg.x + wid.x;
  if (mat >= jp.n) { return; }  // workgroup-uniform
  let d = jp.d;
  let dd = d * d;
  let base = mat * dd;
  let tol = jp.tol;
  let floor = tol * tol;

  // Scale and finiteness (bad = 1 when any entry is NaN or ±Inf).
  var mx = 0.0;
  var bad = 0.0;
  for (var e = lid; e < dd; e += WG) {
    let v = a[base + e];
    let w = 0.5 * (v + a[base + (e % d) * d + e / d]);  // max|sym(A)|: the same for A and sym(A)
    if (non_finite(v)) { bad = 1.0; } else { mx = max(mx, abs(w)); }
  }
  bad = wg_max(bad, lid);
  mx = wg_max(mx, lid);
  if (bad > 0.0) {
    let nan = bitcast<f32>(0x7fc00000u | (jp.d & 0u));  // runtime: a NaN constant does not compile
    for (var e = lid; e < dd; e += WG) { vectors[base + e] = nan; }
    for (var i = lid; i < d; i += WG) { values[mat * d + i] = nan; }
    if (lid == 0u) { sweeps[mat] = -1; }
    return;
  }
  let inv = select(1.0 / mx, 1.0, mx == 0.0);
  for (var e = lid; e < dd; e += WG) {
    let i = e / d;
    let j = e % d;
    stw(base, e, 0.5 * (a[base + e] + a[base + j * d + i]) * inv);
    stu(base, e, select(0.0, 1.0, i == j));
  }
  if (lid == 0u) { atomicStore(&applied, 0u); }
  sync_wu();

  let m = d + (d & 1u);
  var used = jp.max_sweeps + 1u;
  for (var sweep = 0u; sweep < jp.max_sweeps; sweep++) {
    for (var r = 0u; r + 1u < m; r++) {
      round(base, d, r, m, lid, tol, floor);
    }
    if (lid == 0u) {
      applied_total = atomicLoad(&applied);
      atomicStore(&applied, 0u);
    }
    let count = workgroupUniformLoad(&applied_total);
    if (count == 0u) {
      used = sweep + 1u;
      break;
    }
  }
  if (lid == 0u) { sweeps[mat] = i32(used); }

  // Sort ascending by rank; signs: the largest-magnitude entry of each column positive.
  for (var i = lid; i < d; i += WG) {
    let li = ldw(base, i * d + i);
    var rank = 0u;
    for (var j = 0u; j < d; j++) {
      let lj = ldw(base, j * d + j);
      if (lj < li || (lj == li && j < i)) { rank++; }
    }
    values[mat * d + rank] = li * mx;
    var big = 0.0;
    var sgn = 1.0;
    for (var k = 0u; k < d; k++) {
      let u = ldu(base, k * d + i);
      if (abs(u) > big) {
        big = abs(u);
        sgn = select(1.0, -1.0, u < 0.0);
      }
    }
    for (var k = 0u; k < d; k++) {
      vectors[base + k * d + rank] = sgn * ldu(base, k * d + i);
    }
  }
}

struct VectorsParams {
  count: u32,
  d: u32,
  gap: f32,
}

@group(0) @binding(0) var<storage, read> vlam: array<f32>;
@group(0) @binding(1) var<storage, read> vm: array<f32>;
@group(0) @binding(2) var<storage, read_write> vout: array<f32>;
@group(0) @binding(3) var<uniform> vp: VectorsParams;

// |λ_i − λ_j| ≤ gap·max|λ| of the matrix (λ sorted: max|λ| = max(|λ_0|, |λ_{d−1}|)).
fn degenerate(li: f32, lj: f32, lo: f32, hi: f32, gap: f32) -> bool {
  return abs(li - lj) <= gap * max(abs(lo), abs(hi));
}

@compute @workgroup_size(WG)
fn vectors_core(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.y * nwg.x * WG + gid.x;
  if (e >= vp.count) { return; }
  let d = vp.d;
  let dd = d * d;
  let mat = e / dd;
  let i = (e % dd) / d;
  let j = e % d;
  let lb = mat * d;
  let li = vlam[lb + i];
  let lj = vlam[lb + j];
  var out = 0.0;
  if (!degenerate(li, lj, vlam[lb], vlam[lb + d - 1u], vp.gap)) {
    out = 0.5 * (vm[e] - vm[mat * dd + j * d + i]) / (lj - li);
  }
  vout[e] = out;
}

struct SpectralParams {
  count: u32,
  d: u32,
  gap: f32,
}

@group(0) @binding(0) var<storage, read> slam: array<f32>;
@group(0) @binding(1) var<storage, read> sf: array<f32>;
@group(0) @binding(2) var<storage, read> sdf: array<f32>;
@group(0) @binding(3) var<storage, read> sm: array<f32>;
@group(0) @binding(4) var<storage, read_write> sout: array<f32>;
// Per matrix: the floor its eigenvalues were raised to before f (f' counts as 0 at or below it).
@group(0) @binding(5) var<storage, read> sfloor: array<f32>;
@group(0) @binding(6) var<uniform> sp: SpectralParams;

@compute @workgroup_size(WG)
fn spectral_core(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.y * nwg.x * WG + gid.x;
  if (e >= sp.count) { return; }
  let d = sp.d;
  let dd = d * d;
  let mat = e / dd;
  let i = (e % dd) / d;
  let j = e % d;
  let lb = mat * d;
  let li = slam[lb + i];
  let lj = slam[lb + j];
  var g: f32;
  // Pair-relative: the divided difference's rounding grows as ε·|f|/|λ_i − λ_j|, the trapezoid's
  // error as (λ_i − λ_j)²·|f'''|, so small eigenvalues (log, powers) get their own scale.
  if (abs(li - lj) <= sp.gap * max(abs(li), abs(lj))) {
    let fl = sfloor[mat];
    let di = select(0.0, sdf[lb + i], li > fl);
    let dj = select(0.0, sdf[lb + j], lj > fl);
    g = 0.5 * (di + dj);
  } else {
    g = (sf[lb + i] - sf[lb + j]) / (li - lj);
  }
  sout[e] = g * 0.5 * (sm[e] + sm[mat * dd + j * d + i]);
}
