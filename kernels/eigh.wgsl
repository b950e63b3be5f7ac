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

// Both methods' start: W = sym(A)/max|sym(A)| and U = I in W and U's storage. Returns max|sym(A)|,
// or −1 after writing NaN values and vectors and sweeps = −1 when any entry is NaN or ±Inf.
// Workgroup-uniform result.
fn prologue(mat: u32, base: u32, d: u32, lid: u32) -> f32 {
  let dd = d * d;
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
    let nan = bitcast<f32>(0x7fc00000u | (d & 0u));  // runtime: a NaN constant does not compile
    for (var e = lid; e < dd; e += WG) { vectors[base + e] = nan; }
    for (var i = lid; i < d; i += WG) { values[mat * d + i] = nan; }
    if (lid == 0u) { sweeps[mat] = -1; }
    return -1.0;
  }
  let inv = select(1.0 / mx, 1.0, mx == 0.0);
  for (var e = lid; e < dd; e += WG) {
    let i = e / d;
    let j = e % d;
    stw(base, e, 0.5 * (a[base + e] + a[base + j * d + i]) * inv);
    stu(base, e, select(0.0, 1.0, i == j));
  }
  sync_wu();
  return mx;
}

// Both methods' end, with the eigenvalues (scaled by 1/mx) on W's diagonal and the vectors as
// U's columns: values ascending by rank (ties by index), the columns following; each column's
// sign makes its entry of largest magnitude (the first such) positive.
fn epilogue(mat: u32, base: u32, d: u32, lid: u32, mx: f32) {
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

@compute @workgroup_size(WG)
fn jacobi(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let mat = wid.y * nwg.x + wid.x;
  if (mat >= jp.n) { return; }  // workgroup-uniform
  let d = jp.d;
  let base = mat * d * d;
  let tol = jp.tol;
  let floor = tol * tol;
  let mx = prologue(mat, base, d, lid);
  if (mx < 0.0) { return; }
  if (lid == 0u) { atomicStore(&applied, 0u); }
  workgroupBarrier();

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
  epilogue(mat, base, d, lid, mx);
}

// ---------------------------------------------------------------------------------------------
// `tridiagonal_ql`: the same decomposition by Householder tridiagonalisation and the implicit QL
// iteration with Wilkinson-type shifts (EISPACK's tred2 + tql2; Golub & Van Loan §8.3), one
// workgroup per matrix, W and U in global scratch, d ≤ QL_MAX_D. About 6·d³ flops against
// Jacobi's ~3.5·d³ memory operations per sweep (6–10 sweeps).
// 1. For k = 0 … d − 3: the reflector H_k = I − β v vᵀ, v = x − α e₁ with x = W[k + 1.., k]
//    and α = −sign(x₀)·‖x‖ (so v₀ = x₀ − α adds magnitudes; vᵀv = 2‖x‖(‖x‖ + |x₀|)), makes
//    column k tridiagonal: W ← H W H on the trailing block as p = β W v, w = p − (β vᵀp / 2) v,
//    W ← W − v wᵀ − w vᵀ (each invocation its rows). diag[k] = W[k, k], off[k] = α (or x₀ when
//    the tail of x is already 0: β = 0), and v is kept in row k of W.
// 2. U ← H_0 (H_1 (… H_{d−3})) from U = I, each invocation its columns (no barrier: a column of
//    U needs only itself and the v's).
// 3. QL on (diag, off): invocation 0 finds the next unreduced block [l, m] (|off[m]| ≤
//    TOL·(|diag[m]| + |diag[m + 1]|), or ≤ TOL² relative to max|W| = 1), runs one implicit QL
//    step on it (Numerical Recipes' tqli, with a hypot that cannot overflow) and records its
//    rotations (c_i, s_i), i = m − 1 … l; then every invocation applies them to its rows of U
//    (columns i, i + 1 of one row form a chain: one load and one store per rotation). At most
//    max_sweeps steps per eigenvalue; `sweeps` gets the total number of QL steps, or −2 when an
//    eigenvalue did not converge within the bound (its value and vector are then the last
//    iterate), −1 for non-finite input.
// Then the eigenvalues go on W's diagonal and the shared epilogue sorts and signs them.

const QL_MAX_D: u32 = 256u;
var<workgroup> ql_diag: array<f32, QL_MAX_D>;
var<workgroup> ql_off: array<f32, QL_MAX_D>;
var<workgroup> ql_v: array<f32, QL_MAX_D>;
var<workgroup> ql_w: array<f32, QL_MAX_D>;
var<workgroup> ql_cs: array<vec2<f32>, QL_MAX_D>;
// The QL step to apply: first rotation index, count, done (1 when every eigenvalue converged).
var<workgroup> ql_ctl: vec3<u32>;

// Workgroup sum of v; every invocation gets the result.
fn wg_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { red_out = red[0]; }
  return workgroupUniformLoad(&red_out);
}

// sqrt(x² + y²) without overflow or underflow in the squares.
fn hypot2(x: f32, y: f32) -> f32 {
  let ax = abs(x);
  let ay = abs(y);
  let big = max(ax, ay);
  if (big == 0.0) { return 0.0; }
  let sx = ax / big;
  let sy = ay / big;
  return big * sqrt(sx * sx + sy * sy);
}

// Householder step k (see above); W's writes are made visible before it returns.
fn householder(base: u32, d: u32, k: u32, lid: u32) {
  let r0 = k * d;
  // ‖x‖² as x₀² + the tail's own sum: a tail below x₀'s rounding still gets its reflector.
  var part = 0.0;
  for (var i = k + 2u + lid; i < d; i += WG) {
    let x = ldw(base, r0 + i);
    part += x * x;
  }
  let tail = wg_sum(part, lid);
  let x0 = ldw(base, r0 + k + 1u);
  let nx = sqrt(x0 * x0 + tail);
  let alpha = select(-nx, nx, x0 < 0.0);
  let vtv = 2.0 * nx * (nx + abs(x0));
  // The tail of x is 0: the column is already tridiagonal, H = I.
  let skip = tail == 0.0 || vtv == 0.0;
  let beta = select(2.0 / vtv, 0.0, skip);
  for (var i = k + 1u + lid; i < d; i += WG) {
    ql_v[i] = select(ldw(base, r0 + i), x0 - alpha, i == k + 1u);
  }
  workgroupBarrier();
  var vdotp = 0.0;
  for (var i = k + 1u + lid; i < d; i += WG) {
    var s = 0.0;
    for (var j = k + 1u; j < d; j++) { s += ldw(base, i * d + j) * ql_v[j]; }
    s *= beta;
    ql_w[i] = s;
    vdotp += ql_v[i] * s;
  }
  let kk = 0.5 * beta * wg_sum(vdotp, lid);
  for (var i = k + 1u + lid; i < d; i += WG) { ql_w[i] = ql_w[i] - kk * ql_v[i]; }
  workgroupBarrier();
  for (var i = k + 1u + lid; i < d; i += WG) {
    let vi = ql_v[i];
    let wi = ql_w[i];
    for (var j = k + 1u; j < d; j++) {
      stw(base, i * d + j, ldw(base, i * d + j) - (vi * ql_w[j] + wi * ql_v[j]));
    }
    stw(base, r0 + i, select(ql_v[i], 0.0, skip));  // row k keeps v for U (0: H_k = I)
  }
  if (lid == 0u) {
    ql_diag[k] = ldw(base, r0 + k);
    ql_off[k] = select(alpha, x0, skip);
  }
  sync_wu();
}

// U ← H_k U for k = d − 3 … 0 on this invocation's columns (v_k in row k of W, β_k = 2 / vᵀv).
fn accumulate(base: u32, d: u32, lid: u32) {
  for (var j = lid; j < d; j += WG) {
    for (var kk = 0u; kk + 2u < d; kk++) {
      let k = d - 3u - kk;
      if (j <= k) { continue; }  // columns 0..k of U are still e_j there
      var vtv = 0.0;
      var s = 0.0;
      for (var i = k + 1u; i < d; i++) {
        let v = ldw(base, k * d + i);
        vtv += v * v;
        s += v * ldu(base, i * d + j);
      }
      if (vtv == 0.0) { continue; }
      let f = 2.0 * s / vtv;
      for (var i = k + 1u; i < d; i++) {
        stu(base, i * d + j, ldu(base, i * d + j) - f * ldw(base, k * d + i));
      }
    }
  }
  sync_wu();
}

@compute @workgroup_size(WG)
fn tridiagonal_ql(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let mat = wid.y * nwg.x + wid.x;
  if (mat >= jp.n) { return; }  // workgroup-uniform
  let d = jp.d;
  let base = mat * d * d;
  let tol = jp.tol;
  let floor = tol * tol;
  let mx = prologue(mat, base, d, lid);
  if (mx < 0.0) { return; }

  for (var k = 0u; k + 2u < d; k++) { householder(base, d, k, lid); }
  if (lid == 0u) {
    for (var k = select(0u, d - 2u, d >= 2u); k < d; k++) { ql_diag[k] = ldw(base, k * d + k); }
    if (d >= 2u) { ql_off[d - 2u] = ldw(base, (d - 2u) * d + d - 1u); }
    ql_off[d - 1u] = 0.0;
  }
  accumulate(base, d, lid);

  // Invocation 0's state across the loop: the eigenvalue being found, its steps, the totals.
  var l = 0u;
  var iter = 0u;
  var total = 0u;
  var failed = false;
  loop {
    if (lid == 0u) {
      var ctl = vec3<u32>(0u, 0u, 1u);
      loop {
        if (l >= d) { break; }
        var m = l;
        loop {
          if (m + 1u >= d) { break; }
          let e = abs(ql_off[m]);
          if (e <= tol * (abs(ql_diag[m]) + abs(ql_diag[m + 1u])) || e <= floor) { break; }
          m++;
        }
        if (m == l || iter == jp.max_sweeps) {
          failed = failed || m != l;
          l++;
          iter = 0u;
          continue;
        }
        iter++;
        total++;
        // One implicit QL step on [l, m] (tqli).
        var g = (ql_diag[l + 1u] - ql_diag[l]) / (2.0 * ql_off[l]);
        var r = hypot2(g, 1.0);
        g = ql_diag[m] - ql_diag[l] + ql_off[l] / (g + select(-r, r, g >= 0.0));
        var s = 1.0;
        var c = 1.0;
        var p = 0.0;
        var first = l;  // the lowest rotation applied
        var i = m;
        var deflated = false;
        loop {
          if (i == l) { break; }
          i--;
          let f = s * ql_off[i];
          let b = c * ql_off[i];
          r = hypot2(f, g);
          ql_off[i + 1u] = r;
          if (r == 0.0) {
            // Underflow: the block splits at i + 1; rotations i + 1 … m − 1 were applied.
            ql_diag[i + 1u] -= p;
            ql_off[m] = 0.0;
            first = i + 1u;
            deflated = true;
            break;
          }
          s = f / r;
          c = g / r;
          g = ql_diag[i + 1u] - p;
          r = (ql_diag[i] - g) * s + 2.0 * c * b;
          p = s * r;
          ql_diag[i + 1u] = g + p;
          g = c * r - b;
          ql_cs[i] = vec2<f32>(c, s);
        }
        if (!deflated) {
          ql_diag[l] -= p;
          ql_off[l] = g;
          ql_off[m] = 0.0;
        }
        ctl = vec3<u32>(first, m - first, 0u);
        break;
      }
      ql_ctl = ctl;
    }
    let step = workgroupUniformLoad(&ql_ctl);
    if (step.z == 1u) { break; }
    // Rotations first + count − 1 … first on columns (i, i + 1) of this invocation's rows.
    if (step.y > 0u) {
      for (var row = lid; row < d; row += WG) {
        let r0 = row * d;
        let hi = step.x + step.y - 1u;
        var carry = ldu(base, r0 + hi + 1u);
        for (var t = 0u; t < step.y; t++) {
          let i = hi - t;
          let zi = ldu(base, r0 + i);
          let cs = ql_cs[i];
          stu(base, r0 + i + 1u, cs.y * zi + cs.x * carry);
          carry = cs.x * zi - cs.y * carry;
        }
        stu(base, r0 + step.x, carry);
      }
    }
    workgroupBarrier();  // before invocation 0 records the next step's rotations
  }
  if (lid == 0u) {
    for (var k = 0u; k < d; k++) { stw(base, k * d + k, ql_diag[k]); }
    sweeps[mat] = select(i32(total), -2, failed);
  }
  sync_wu();
  epilogue(mat, base, d, lid, mx);
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
