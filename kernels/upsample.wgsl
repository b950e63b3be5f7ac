// Bilinear resampling of NHWC images with PyTorch's align_corners = false, and its adjoint.
//   forward  — one invocation per output pixel (b, oy, ox), over its C channels (the index
//              arithmetic and the weights once per pixel). Along each axis the source
//              coordinate is s = max((o + 0.5)·r − 0.5, 0) with r = in/out (or 1/scale); it reads
//              i0 = min(floor(s), in − 1), i1 = min(i0 + 1, in − 1) with weights 1 − l and l,
//              l = s − i0 (PyTorch's upsample_bilinear2d arithmetic, in f32).
//   axis_adjoint — the adjoint scatters each output gradient to 4 input pixels; here it is a
//              gather, and separable: dx = A_yᵀ (A_xᵀ dy) runs as two dispatches of this entry, one
//              per axis (the op picks the order with the smaller intermediate). An invocation
//              per element of the result walks the outputs whose sample can touch its pixel
//              (|s − i| < 1), recomputes their weights with the very same `coord` as the forward
//              and sums w·dy. No atomics. Two 1-D passes touch ~2/r + 3 outputs per element each,
//              where one 2-D gather would touch (2/r + 3)² (9× less work at r = 1/2). Each
//              invocation sums RUN consecutive elements of the inner axis, so the index arithmetic
//              and the weights are computed once per RUN elements.
// Every read is bounds-checked by the invocation that makes it (robustness is off on SwiftShader).
// Interfaces: each entry point has its own uniform struct holding only what it reads, and its
// bindings are numbered 0, 1, … in order, the uniform last (numbers repeat across entry points,
// which is allowed because each gets its own bind group layout).

override WG: u32 = 256;

// forward
struct UpParams {
  n: u32,      // invocations: B·Ho·Wo
  h: u32,
  w: u32,
  c: u32,
  ho: u32,
  wo: u32,
  ry: f32,     // source pixels per output pixel along h
  rx: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: UpParams;

// axis_adjoint: elements of the inner axis per invocation (1..4).
override RUN: u32 = 4u;

// axis_adjoint
struct AxisParams {
  n: u32,      // invocations: outer·n_in·⌈inner / RUN⌉
  n_in: u32,
  n_out: u32,
  inner: u32,
  r: f32,      // source pixels per output pixel along this axis
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> a: AxisParams;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

struct Coord {
  i0: u32,
  i1: u32,
  l: f32,      // weight of i1; i0 gets 1 − l
}

fn coord(o: u32, r: f32, n_in: u32) -> Coord {
  let s = max((f32(o) + 0.5) * r - 0.5, 0.0);
  let i0 = min(u32(s), n_in - 1u); // s ≥ 0, so the conversion truncates = floors
  let i1 = min(i0 + 1u, n_in - 1u);
  return Coord(i0, i1, s - f32(i0));
}

// Weight of input index i in the sample of output o along one axis.
fn weight(c: Coord, i: u32) -> f32 {
  return select(0.0, 1.0 - c.l, c.i0 == i) + select(0.0, c.l, c.i1 == i);
}

// Outputs o whose sample may touch input i: s(o) ∈ (i − 1, i + 1), i.e.
// o ∈ (lo, hi) with lo = (i − 0.5)/r − 0.5 and hi = (i + 1.5)/r − 0.5, whose first and last
// integers are floor(lo) + 1 and ceil(hi) − 1. Starting at floor(lo) and ending at ceil(hi) (one
// more on each side) covers every output the f32 forward puts on i: its s̃ and the f32 lo, hi err
// by ~1e-6 of a pixel, far below the one-output margin. The extra outputs get weight 0.
fn out_range(i: u32, r: f32, n_out: u32) -> vec2<u32> {
  let lo = i32(floor((f32(i) - 0.5) / r - 0.5));
  let hi = i32(ceil((f32(i) + 1.5) / r - 0.5));
  return vec2<u32>(u32(max(lo, 0)), u32(clamp(hi, 0, i32(n_out) - 1)));
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);  // output pixel (b, oy, ox)
  if (i >= p.n) { return; }
  let ox = i % p.wo;
  let r2 = i / p.wo;
  let oy = r2 % p.ho;
  let b = r2 / p.ho;
  let cy = coord(oy, p.ry, p.h);
  let cx = coord(ox, p.rx, p.w);
  let last = arrayLength(&x) - 1u;
  let row0 = (b * p.h + cy.i0) * p.w;
  let row1 = (b * p.h + cy.i1) * p.w;
  let s00 = (row0 + cx.i0) * p.c;
  let s01 = (row0 + cx.i1) * p.c;
  let s10 = (row1 + cx.i0) * p.c;
  let s11 = (row1 + cx.i1) * p.c;
  for (var ch = 0u; ch < p.c; ch++) {
    let v00 = x[min(s00 + ch, last)];
    let v01 = x[min(s01 + ch, last)];
    let v10 = x[min(s10 + ch, last)];
    let v11 = x[min(s11 + ch, last)];
    let top = (1.0 - cx.l) * v00 + cx.l * v01;
    let bottom = (1.0 - cx.l) * v10 + cx.l * v11;
    y[i * p.c + ch] = (1.0 - cy.l) * top + cy.l * bottom;
  }
}

@compute @workgroup_size(WG)
fn axis_adjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let idx = linear_id(wid, nwg, lid);
  if (idx >= a.n) { return; }
  let runs = (a.inner + RUN - 1u) / RUN;
  let k0 = (idx % runs) * RUN;
  let r1 = idx / runs;
  let i = r1 % a.n_in;
  let o = r1 / a.n_in;
  let range = out_range(i, a.r, a.n_out);
  let base = o * a.n_out;
  // Elements k0..k0+RUN−1 of the inner axis; those past its end are clamped and not stored.
  let ks = min(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(a.inner - 1u));
  let last = arrayLength(&g) - 1u;
  var acc = vec4<f32>(0.0);
  for (var j = range.x; j <= range.y; j++) {
    let w = weight(coord(j, a.r, a.n_in), i);
    if (w == 0.0) { continue; }
    let row = (base + j) * a.inner;
    var v = vec4<f32>(g[min(row + ks.x, last)], 0.0, 0.0, 0.0);
    if (RUN > 1u) { v.y = g[min(row + ks.y, last)]; }
    if (RUN > 2u) { v.z = g[min(row + ks.z, last)]; }
    if (RUN > 3u) { v.w = g[min(row + ks.w, last)]; }
    acc += w * v;
  }
  let at = (o * a.n_in + i) * a.inner;
  for (var t = 0u; t < RUN; t++) {
    if (k0 + t < a.inner) { dx[at + k0 + t] = acc[t]; }
  }
}
