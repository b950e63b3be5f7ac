// conv2d helpers, NHWC. The op (src/ops/conv2d.ts) pads the matmul operands to multiples of 4 so
// that every product takes the matmul's vec4 path: cols has mp ≥ M = B·Ho·Wo rows and kp ≥ kh·kw·Cin
// columns, both multiples of 4, the extra rows and columns being 0; the product has cp ≥ Cout
// columns. Entry points:
//   im2col     — cols[m, k] for m = (b, oy, ox) and k = (ky, kx, ci):
//                x[b, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw, ci], or 0 in the zero padding. One
//                invocation writes 4 consecutive columns (one vec4).
//   im2col_c4  — the same when Cin is a multiple of 4 (then kp = kh·kw·Cin): one invocation per
//                (row, tap) copies the tap's Cin/4 vec4s of x, so the index arithmetic (divisions
//                by the geometry) is done once per tap, not once per vec4.
//   col2im     — the adjoint of im2col as a gather: each input element (b, iy, ix, ci) sums the
//                dcols entries that read it, Σ_{ky, kx} dcols[(b, oy, ox), (ky, kx, ci)] over the taps
//                with oy·sh − ph + ky·dh = iy and ox·sw − pw + kx·dw = ix for an output pixel in
//                range. One invocation per input element, no atomics.
//   col2im_c4  — the same when Cin is a multiple of 4 and kh·kw ≤ MAX_TAPS: one invocation per
//                input pixel finds the taps that read it once, then sums each of its Cin/4 vec4s
//                over them.
//   dx_direct  — the input gradient in one product, without dcols: for each input pixel and 4·BLK
//                channels, dx = Σ_{taps reading the pixel} Σ_co dY[out pixel, co] · w[tap, ci, co],
//                an implicit product over K = kh·kw·cp whose A rows are dY's rows gathered per tap
//                (col2im(dY · Wᵀ) without writing and re-reading the [M, kh·kw·Cin] dcols, and
//                with the long inner dimension the register-blocked product runs fastest at).
//                Needs Cin a multiple of 4.
//   epilogue   — y[m, co] = prod[m, co] + bias[co] for m < M, co < Cout: drops the padded rows and
//                columns of the product and adds the bias (HAS_BIAS) in one pass.
// Every read is bounds-checked by the invocation that makes it (robustness is off on SwiftShader).
// Interfaces: a uniform struct per family holding only what it reads (im2col, im2col_c4 and
// dx_direct share one, col2im and col2im_c4 another: the variants of each read the same fields), and each
// entry point's bindings are numbered 0, 1, … in order, the uniform last; numbers repeat across
// entry points, which is allowed because each gets its own bind group layout.

override WG: u32 = 256;
override HAS_BIAS: bool = false;
// dx_direct: 4 × 4 blocks of (input pixels × channels) per invocation along each side (2 or 4),
// and whether a stride is > 1 (without one, no division finds a tap's output pixel).
override BLK: u32 = 4u;
override STRIDED: bool = true;

// im2col, im2col_c4 and dx_direct: the geometry, the rows that hold data and the row length of
// the matrix they read or write (im2col: cols [mp, kp]; dx_direct: dY [≥ B·Ho·Wo, cp] and
// w [≥ kh·kw·Cin, cp]).
struct RowsParams {
  n: u32,       // invocations
  m: u32,       // rows that hold data: B·Ho·Wo output pixels (im2col), B·H·W input pixels (dx_direct)
  h: u32,
  w: u32,
  c: u32,       // Cin (a multiple of 4 for dx_direct)
  ho: u32,
  wo: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  row: u32,     // row length, a multiple of 4: kp (cols, ≥ kh·kw·Cin) or cp (dY and w, ≥ Cout)
}

// col2im, col2im_c4: the geometry (the padded rows of dcols are never read).
struct Col2imParams {
  n: u32,       // invocations
  h: u32,
  w: u32,
  c: u32,       // Cin
  ho: u32,
  wo: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  kp: u32,      // row length of dcols
}

struct EpilogueParams {
  n: u32,       // M·Cout
  cout: u32,
  cp: u32,      // row length of the product
  _pad: u32,
}

// im2col (x) and im2col_c4 (x4)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> cols: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: RowsParams;

// col2im (dcols, dx) and col2im_c4 (dcols4, dx4)
@group(0) @binding(0) var<storage, read> dcols: array<f32>;
@group(0) @binding(0) var<storage, read> dcols4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> q: Col2imParams;

// dx_direct
@group(0) @binding(0) var<storage, read> ddy: array<vec4<f32>>;     // dY [rows, cp]
@group(0) @binding(1) var<storage, read> dw4: array<vec4<f32>>;     // w as [kp, cp], row (ky, kx, ci)
@group(0) @binding(2) var<storage, read_write> ddx: array<vec4<f32>>; // dx [B, H, W, Cin]
@group(0) @binding(3) var<uniform> r: RowsParams;

// epilogue
@group(0) @binding(0) var<storage, read> prod: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> e: EpilogueParams;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Output pixel (b·h + oy, ox) → the input row base b·H and the top-left tap position (iy0, ix0).
struct Origin {
  b: u32,
  iy0: i32,
  ix0: i32,
}

fn origin(row: u32) -> Origin {
  let ox = row % p.wo;
  let r2 = row / p.wo;
  let oy = r2 % p.ho;
  return Origin(r2 / p.ho, i32(oy * p.sh) - i32(p.ph), i32(ox * p.sw) - i32(p.pw));
}

// x[b, iy, ix, ci] or 0 outside the image.
fn tap(o: Origin, ky: u32, kx: u32, ci: u32) -> f32 {
  let iy = o.iy0 + i32(ky * p.dh);
  let ix = o.ix0 + i32(kx * p.dw);
  if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { return 0.0; }
  let src = ((o.b * p.h + u32(iy)) * p.w + u32(ix)) * p.c + ci;
  return x[min(src, arrayLength(&x) - 1u)];
}

@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= p.n) { return; }
  let kp4 = p.row / 4u;
  let row = i / kp4;
  let col = (i - row * kp4) * 4u;
  var v = vec4<f32>(0.0);
  if (row < p.m) {
    let o = origin(row);
    var ci = col % p.c;
    let t = col / p.c;
    var kx = t % p.kw;
    var ky = t / p.kw;
    for (var j = 0u; j < 4u; j++) {
      if (ky < p.kh) { v[j] = tap(o, ky, kx, ci); } // columns past kh·kw·Cin stay 0
      ci++;
      if (ci == p.c) {
        ci = 0u;
        kx++;
        if (kx == p.kw) { kx = 0u; ky++; }
      }
    }
  }
  cols[i] = v;
}

@compute @workgroup_size(WG)
fn im2col_c4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);  // (row, tap) of cols; n = mp · kh · kw
  if (i >= p.n) { return; }
  let taps = p.kh * p.kw;
  let row = i / taps;
  let t = i - row * taps;
  let c4 = p.c / 4u;
  let dst = (row * p.row + t * p.c) / 4u;
  var src = 0u;
  var inside = false;
  if (row < p.m) {
    let o = origin(row);
    let ky = t / p.kw;
    let iy = o.iy0 + i32(ky * p.dh);
    let ix = o.ix0 + i32((t - ky * p.kw) * p.dw);
    inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    if (inside) { src = ((o.b * p.h + u32(iy)) * p.w + u32(ix)) * c4; }
  }
  let last = arrayLength(&x4) - 1u;
  for (var j = 0u; j < c4; j++) {
    var v = vec4<f32>(0.0);
    if (inside) { v = x4[min(src + j, last)]; }
    cols[dst + j] = v;
  }
}

// The output pixel that reads input position i through tap k along one axis, or none:
// o·s = i + pad − k·d must be a non-negative multiple of s below n_out·s.
fn source_out(i: u32, k: u32, s: u32, pad: u32, d: u32, n_out: u32) -> i32 {
  let t = i32(i + pad) - i32(k * d);
  if (t < 0) { return -1; }
  let o = u32(t) / s;
  if (o * s != u32(t) || o >= n_out) { return -1; }
  return i32(o);
}

@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= q.n) { return; }
  let ci = i % q.c;
  let r1 = i / q.c;
  let ix = r1 % q.w;
  let r2 = r1 / q.w;
  let iy = r2 % q.h;
  let b = r2 / q.h;
  let last = arrayLength(&dcols) - 1u;
  var acc = 0.0;
  for (var ky = 0u; ky < q.kh; ky++) {
    let oy = source_out(iy, ky, q.sh, q.ph, q.dh, q.ho);
    if (oy < 0) { continue; }
    for (var kx = 0u; kx < q.kw; kx++) {
      let ox = source_out(ix, kx, q.sw, q.pw, q.dw, q.wo);
      if (ox < 0) { continue; }
      let m = (b * q.ho + u32(oy)) * q.wo + u32(ox);
      acc += dcols[min(m * q.kp + (ky * q.kw + kx) * q.c + ci, last)];
    }
  }
  dx[i] = acc;
}

// col2im_c4 handles kernels of up to MAX_TAPS taps (the launcher takes col2im beyond).
const MAX_TAPS: u32 = 16u;

@compute @workgroup_size(WG)
fn col2im_c4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);  // one input pixel (b, iy, ix); n = B · H · W
  if (i >= q.n) { return; }
  let ix = i % q.w;
  let r2 = i / q.w;
  let iy = r2 % q.h;
  let b = r2 / q.h;
  // The vec4 offsets in dcols of the taps that read this pixel: row m, columns (ky, kx, 0..Cin).
  var base: array<u32, MAX_TAPS>;
  var count = 0u;
  for (var ky = 0u; ky < q.kh; ky++) {
    let oy = source_out(iy, ky, q.sh, q.ph, q.dh, q.ho);
    if (oy < 0) { continue; }
    for (var kx = 0u; kx < q.kw; kx++) {
      let ox = source_out(ix, kx, q.sw, q.pw, q.dw, q.wo);
      if (ox < 0 || count == MAX_TAPS) { continue; }
      let m = (b * q.ho + u32(oy)) * q.wo + u32(ox);
      base[count] = (m * q.kp + (ky * q.kw + kx) * q.c) / 4u;
      count++;
    }
  }
  let c4 = q.c / 4u;
  let last = arrayLength(&dcols4) - 1u;
  for (var j = 0u; j < c4; j++) {
    var acc = vec4<f32>(0.0);
    for (var t = 0u; t < count; t++) { acc += dcols4[min(base[t] + j, last)]; }
    dx4[i * c4 + j] = acc;
  }
}

// Four input pixels (b·H·W + iy·W + ix, already split) → the rows of dY that read them through
// tap (ky, kx), as vec4 offsets of the row starts; −1 where no output pixel does.
fn dy_rows(b: vec4<u32>, iy: vec4<u32>, ix: vec4<u32>, ky: u32, kx: u32) -> vec4<i32> {
  let ty = vec4<i32>(iy + vec4<u32>(r.ph)) - vec4<i32>(i32(ky * r.dh));
  let tx = vec4<i32>(ix + vec4<u32>(r.pw)) - vec4<i32>(i32(kx * r.dw));
  var oy = vec4<u32>(max(ty, vec4<i32>(0)));
  var ox = vec4<u32>(max(tx, vec4<i32>(0)));
  var ok = (ty >= vec4<i32>(0)) & (tx >= vec4<i32>(0));
  if (STRIDED) {
    oy /= vec4<u32>(r.sh);
    ox /= vec4<u32>(r.sw);
    ok &= (vec4<i32>(oy * r.sh) == ty) & (vec4<i32>(ox * r.sw) == tx);
  }
  ok &= (oy < vec4<u32>(r.ho)) & (ox < vec4<u32>(r.wo));
  let row = (b * r.ho + oy) * r.wo + ox;
  return select(vec4<i32>(-1), vec4<i32>(row * (r.row / 4u)), ok);
}

// The Aᵀ-block of four input pixels at output channels 4·co4..: column i = dY's row rows[i]
// (0 where it is −1).
fn dy_block(rows: vec4<i32>, co4: u32) -> mat4x4<f32> {
  let z = vec4<f32>(0.0);
  let s = vec4<u32>(max(rows, vec4<i32>(0))) + vec4<u32>(co4);
  return mat4x4<f32>(select(z, ddy[s.x], rows.x >= 0), select(z, ddy[s.y], rows.y >= 0),
                     select(z, ddy[s.z], rows.z >= 0), select(z, ddy[s.w], rows.w >= 0));
}

// The Bᵀ-block of input channels 4·c4.. at output channels 4·co4.. of tap t: w's rows
// (t, ci..ci+3) at co..co+3, transposed (column j: channel ci+j... as the product needs).
fn w_block_t(t: u32, c4: u32, co4: u32) -> mat4x4<f32> {
  let cp4 = r.row / 4u;
  let row = t * r.c + c4 * 4u;
  return transpose(mat4x4<f32>(dw4[row * cp4 + co4], dw4[(row + 1u) * cp4 + co4],
                               dw4[(row + 2u) * cp4 + co4], dw4[(row + 3u) * cp4 + co4]));
}

// Pixels p..p+3 (clamped into range) split into (b, iy, ix).
struct Pixels {
  b: vec4<u32>,
  iy: vec4<u32>,
  ix: vec4<u32>,
}

fn pixels(first: u32) -> Pixels {
  let q = min(vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(r.m - 1u));
  let ix = q % vec4<u32>(r.w);
  let t = q / vec4<u32>(r.w);
  return Pixels(t / vec4<u32>(r.h), t % vec4<u32>(r.h), ix);
}

fn store_dx_block(first: u32, c4: u32, acc: mat4x4<f32>) {
  let cin4 = r.c / 4u;
  if (c4 >= cin4) { return; }
  for (var i = 0u; i < 4u; i++) {
    if (first + i < r.m) { ddx[(first + i) * cin4 + c4] = acc[i]; }
  }
}

// One invocation per 4·BLK input pixels × 4·BLK input channels; the taps outermost, so each
// pixel's source rows in dY are found once per tap. Channel blocks past Cin are clamped:
// duplicates whose results are not stored.
@compute @workgroup_size(WG)
fn dx_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= r.n) { return; }
  let cin4 = r.c / 4u;
  let cg = (cin4 + BLK - 1u) / BLK;
  let p0 = (i / cg) * 4u * BLK;
  let c0 = (i % cg) * BLK;
  let c1 = min(c0 + 1u, cin4 - 1u); let c2 = min(c0 + 2u, cin4 - 1u); let c3 = min(c0 + 3u, cin4 - 1u);
  let q0 = pixels(p0); let q1 = pixels(p0 + 4u); let q2 = pixels(p0 + 8u); let q3 = pixels(p0 + 12u);
  // a<i><j>: the dxᵀ-block of pixels p0 + 4i.. and channel block c0 + j.
  var a00 = mat4x4<f32>(); var a01 = mat4x4<f32>(); var a02 = mat4x4<f32>(); var a03 = mat4x4<f32>();
  var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>(); var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>();
  var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
  var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>(); var a32 = mat4x4<f32>(); var a33 = mat4x4<f32>();
  let co4s = r.row / 4u;
  for (var t = 0u; t < r.kh * r.kw; t++) {
    let ky = t / r.kw;
    let kx = t - ky * r.kw;
    let s0 = dy_rows(q0.b, q0.iy, q0.ix, ky, kx);
    let s1 = dy_rows(q1.b, q1.iy, q1.ix, ky, kx);
    var s2 = vec4<i32>(-1);
    var s3 = vec4<i32>(-1);
    if (BLK > 2u) {
      s2 = dy_rows(q2.b, q2.iy, q2.ix, ky, kx);
      s3 = dy_rows(q3.b, q3.iy, q3.ix, ky, kx);
    }
    // A tap that reads none of these pixels adds nothing.
    if (all(s0 < vec4<i32>(0)) && all(s1 < vec4<i32>(0)) && all(s2 < vec4<i32>(0)) && all(s3 < vec4<i32>(0))) { continue; }
    for (var co4 = 0u; co4 < co4s; co4++) {
      let w0 = w_block_t(t, c0, co4);
      let w1 = w_block_t(t, c1, co4);
      let g0 = dy_block(s0, co4);
      let g1 = dy_block(s1, co4);
      a00 += w0 * g0; a01 += w1 * g0;
      a10 += w0 * g1; a11 += w1 * g1;
      if (BLK > 2u) {
        let w2 = w_block_t(t, c2, co4);
        let w3 = w_block_t(t, c3, co4);
        let g2 = dy_block(s2, co4);
        let g3 = dy_block(s3, co4);
        a02 += w2 * g0; a03 += w3 * g0;
        a12 += w2 * g1; a13 += w3 * g1;
        a20 += w0 * g2; a21 += w1 * g2; a22 += w2 * g2; a23 += w3 * g2;
        a30 += w0 * g3; a31 += w1 * g3; a32 += w2 * g3; a33 += w3 * g3;
      }
    }
  }
  store_dx_block(p0, c0, a00); store_dx_block(p0, c0 + 1u, a01);
  store_dx_block(p0 + 4u, c0, a10); store_dx_block(p0 + 4u, c0 + 1u, a11);
  if (BLK > 2u) {
    store_dx_block(p0, c0 + 2u, a02); store_dx_block(p0, c0 + 3u, a03);
    store_dx_block(p0 + 4u, c0 + 2u, a12); store_dx_block(p0 + 4u, c0 + 3u, a13);
    store_dx_block(p0 + 8u, c0, a20); store_dx_block(p0 + 8u, c0 + 1u, a21);
    store_dx_block(p0 + 8u, c0 + 2u, a22); store_dx_block(p0 + 8u, c0 + 3u, a23);
    store_dx_block(p0 + 12u, c0, a30); store_dx_block(p0 + 12u, c0 + 1u, a31);
    store_dx_block(p0 + 12u, c0 + 2u, a32); store_dx_block(p0 + 12u, c0 + 3u, a33);
  }
}

@compute @workgroup_size(WG)
fn epilogue(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= e.n) { return; }
  let co = i % e.cout;
  var v = prod[min((i / e.cout) * e.cp + co, arrayLength(&prod) - 1u)];
  if (HAS_BIAS) { v += bias[min(co, arrayLength(&bias) - 1u)]; }
  y[i] = v;
}
