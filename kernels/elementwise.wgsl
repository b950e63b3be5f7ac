// Elementwise kernels. Four entry points share this file:
//   unary  — y = f(x) for one of the ops below, chosen by the OP override;
//   binary — z = g(a, b) with NumPy broadcasting through per-input strides (stride 0 = broadcast);
//   gather — y[i] = x[offset(i)]: a strided copy, used for broadcast-expand, transposes, slices;
//   pad    — a gather that reads 0 wherever a coordinate is past the source's extent.
// Shapes and strides travel in a uniform (rank ≤ 8), indexed in place: a helper taking the array
// as a parameter would copy it per call (WGSL passes arrays by value), which SwiftShader does not
// optimise away. Variants come from overrides, never from editing this text. Every access is bounds-checked by the index it is computed from.
// Interfaces: each entry point has its own uniform struct, and its bindings are numbered 0, 1, …
// in order, the uniform last (numbers repeat across entry points, which is allowed because each
// gets its own bind group layout).

override WG: u32 = 256;
override OP: u32 = 0;
// binary: true when an input's strides differ from the output's (else a plain zip).
override BROADCAST: bool = false;
override G_RANK: u32 = 8;   // gather: the coalesced rank of its output (1..8)
override P_RANK: u32 = 8;   // pad: the rank of its output (1..8)
override B_RANK: u32 = 8;   // binary with BROADCAST: the coalesced rank (1..3), or 8 for any rank (shape padded with 1s)

// Unary OP codes.
const U_AFFINE: u32 = 0u;   // p0 * x + p1  (neg, scalar add/mul/sub)
const U_EXP: u32 = 1u;
const U_LOG: u32 = 2u;
const U_SQRT: u32 = 3u;
const U_RELU: u32 = 4u;
const U_POW: u32 = 5u;      // x^p0 with the sign rules of real powers
const U_RDIV: u32 = 6u;     // p0 / x
const U_ABS: u32 = 7u;
// Binary OP codes.
const B_ADD: u32 = 0u;
const B_SUB: u32 = 1u;
const B_MUL: u32 = 2u;
const B_DIV: u32 = 3u;
const B_RELU_GRAD: u32 = 4u; // a * (b > 0): ReLU's backward, a = dy, b = x
const B_SIGN_MUL: u32 = 5u;  // a * sign(b): |x|'s backward, a = dy, b = x

struct UnaryParams {
  n: u32,
  p0: f32,
  p1: f32,
  _pad: u32,
}

// binary: output shape and each input's strides (0 along a broadcast axis); its rank is the
// B_RANK override.
struct BinaryParams {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  shape: array<vec4<u32>, 2>,
  stride_a: array<vec4<u32>, 2>,
  stride_b: array<vec4<u32>, 2>,
}

// gather: output shape and the source strides it is read through (its rank is the G_RANK override).
struct GatherParams {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  shape: array<vec4<u32>, 2>,
  stride: array<vec4<u32>, 2>,
}

// pad: output shape, and the source's strides and extent (coordinates past it read 0); its rank
// is the P_RANK override.
struct PadParams {
  n: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  shape: array<vec4<u32>, 2>,
  src_stride: array<vec4<u32>, 2>,
  src_shape: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> ux: array<f32>;
@group(0) @binding(1) var<storage, read_write> uy: array<f32>;
@group(0) @binding(2) var<uniform> up: UnaryParams;

@group(0) @binding(0) var<storage, read> ba: array<f32>;
@group(0) @binding(1) var<storage, read> bb: array<f32>;
@group(0) @binding(2) var<storage, read_write> bz: array<f32>;
@group(0) @binding(3) var<uniform> bp: BinaryParams;

@group(0) @binding(0) var<storage, read> gx: array<f32>;
@group(0) @binding(1) var<storage, read_write> gy: array<f32>;
@group(0) @binding(2) var<uniform> gp: GatherParams;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// ±∞ and NaN built at run time (WGSL rejects them as constants); `zero` is 0 but not a constant.
fn special(bits: u32, zero: f32) -> f32 {
  return bitcast<f32>(bits | (bitcast<u32>(zero) & 0u));
}

// WGSL leaves log(x) for x ≤ 0 indeterminate (SwiftShader returns −88.03 for 0 and log|x| for
// x < 0): give the IEEE results −∞ and NaN explicitly.
fn real_log(x: f32) -> f32 {
  if (x > 0.0) { return log(x); }
  if (x == 0.0) { return special(0xff800000u, x); }
  return special(0x7fc00000u, x);
}

fn real_pow(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  // pow(0, p) = exp2(p · log2(0)) is indeterminate too (SwiftShader: 7.7e-20 for p = 0.5,
  // 1.7e38 for p = −1): 0 for p > 0, +∞ for p < 0.
  if (x == 0.0) { return select(0.0, special(0x7f800000u, x), p < 0.0); }
  let m = pow(abs(x), p);
  if (x >= 0.0) { return m; }
  // A negative base with a non-integer exponent has no real power: NaN (built at run time, since
  // WGSL rejects a constant NaN).
  if (fract(p) != 0.0) { return special(0x7fc00000u, x); }
  let odd = fract(p * 0.5) != 0.0;
  return select(m, -m, odd);
}

fn unary_op(x: f32) -> f32 {
  switch (OP) {
    case U_AFFINE: { return up.p0 * x + up.p1; }
    case U_EXP: { return exp(x); }
    case U_LOG: { return real_log(x); }
    case U_SQRT: { return sqrt(x); }
    case U_RELU: { return max(x, 0.0); }
    case U_POW: { return real_pow(x, up.p0); }
    case U_RDIV: { return up.p0 / x; }
    case U_ABS: { return abs(x); }
    default: { return x; }
  }
}

@compute @workgroup_size(WG)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= up.n) { return; }
  uy[i] = unary_op(ux[i]);
}

fn binary_op(a: f32, b: f32) -> f32 {
  switch (OP) {
    case B_ADD: { return a + b; }
    case B_SUB: { return a - b; }
    case B_MUL: { return a * b; }
    case B_DIV: { return a / b; }
    case B_RELU_GRAD: { return select(0.0, a, b > 0.0); }
    case B_SIGN_MUL: { return a * sign(b); }
    default: { return a; }
  }
}

@compute @workgroup_size(WG)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= bp.n) { return; }
  if (!BROADCAST) {
    bz[i] = binary_op(ba[i], bb[i]);
    return;
  }
  // As gather_offset below, one dimension at a time with constant indices; the rank is the B_RANK
  // override (the branches vanish at compile time: 2× faster on a CPU driver than branching on a
  // uniform's rank). Ranks 4–8 run as 8: the host pads the shape with size-1 dimensions, which
  // change nothing.
  var rem = i;
  var o = vec2<u32>();
  let r = B_RANK;
  if (r > 7u) { binary_step(&rem, &o, bp.shape[1].w, vec2<u32>(bp.stride_a[1].w, bp.stride_b[1].w)); }
  if (r > 6u) { binary_step(&rem, &o, bp.shape[1].z, vec2<u32>(bp.stride_a[1].z, bp.stride_b[1].z)); }
  if (r > 5u) { binary_step(&rem, &o, bp.shape[1].y, vec2<u32>(bp.stride_a[1].y, bp.stride_b[1].y)); }
  if (r > 4u) { binary_step(&rem, &o, bp.shape[1].x, vec2<u32>(bp.stride_a[1].x, bp.stride_b[1].x)); }
  if (r > 3u) { binary_step(&rem, &o, bp.shape[0].w, vec2<u32>(bp.stride_a[0].w, bp.stride_b[0].w)); }
  if (r > 2u) { binary_step(&rem, &o, bp.shape[0].z, vec2<u32>(bp.stride_a[0].z, bp.stride_b[0].z)); }
  if (r > 1u) { binary_step(&rem, &o, bp.shape[0].y, vec2<u32>(bp.stride_a[0].y, bp.stride_b[0].y)); }
  o += rem * vec2<u32>(bp.stride_a[0].x, bp.stride_b[0].x);
  bz[i] = binary_op(ba[min(o.x, arrayLength(&ba) - 1u)], bb[min(o.y, arrayLength(&bb) - 1u)]);
}

fn binary_step(rem: ptr<function, u32>, o: ptr<function, vec2<u32>>, s: u32, strides: vec2<u32>) {
  *o += (*rem % s) * strides;
  *rem = *rem / s;
}

// #include "shape-walk.wgsl"

// The source offset of output element i, from the innermost of G_RANK dimensions out. Written
// out per dimension with constant indices: on a CPU driver a uniform read at a constant index is
// one load for the whole SIMD group, where a loop's run-time index makes every read a gather (the
// loop made a scalar's broadcast 7× as slow as an add). The outermost dimension needs no modulo
// (i < n).

fn gather_offset(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  if (G_RANK > 7u) { dim_step(&rem, &o, gp.shape[1].w, gp.stride[1].w); }
  if (G_RANK > 6u) { dim_step(&rem, &o, gp.shape[1].z, gp.stride[1].z); }
  if (G_RANK > 5u) { dim_step(&rem, &o, gp.shape[1].y, gp.stride[1].y); }
  if (G_RANK > 4u) { dim_step(&rem, &o, gp.shape[1].x, gp.stride[1].x); }
  if (G_RANK > 3u) { dim_step(&rem, &o, gp.shape[0].w, gp.stride[0].w); }
  if (G_RANK > 2u) { dim_step(&rem, &o, gp.shape[0].z, gp.stride[0].z); }
  if (G_RANK > 1u) { dim_step(&rem, &o, gp.shape[0].y, gp.stride[0].y); }
  return o + rem * gp.stride[0].x;
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= gp.n) { return; }
  gy[i] = gx[min(gather_offset(i), arrayLength(&gx) - 1u)];
}

@group(0) @binding(0) var<storage, read> px: array<f32>;
@group(0) @binding(1) var<storage, read_write> py: array<f32>;
@group(0) @binding(2) var<uniform> pp: PadParams;

// One dimension of pad's source offset: the coordinate along it, whether it lies inside the
// source, and what is left for the outer dimensions (constant indices, as gather_offset).
fn pad_step(rem: ptr<function, u32>, o: ptr<function, u32>, inside: ptr<function, bool>, s: u32, stride: u32, extent: u32) {
  let idx = *rem % s;
  *rem = *rem / s;
  *inside = *inside && idx < extent;
  *o += idx * stride;
}

@compute @workgroup_size(WG)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= pp.n) { return; }
  var rem = i;
  var o = 0u;
  var inside = true;
  if (P_RANK > 7u) { pad_step(&rem, &o, &inside, pp.shape[1].w, pp.src_stride[1].w, pp.src_shape[1].w); }
  if (P_RANK > 6u) { pad_step(&rem, &o, &inside, pp.shape[1].z, pp.src_stride[1].z, pp.src_shape[1].z); }
  if (P_RANK > 5u) { pad_step(&rem, &o, &inside, pp.shape[1].y, pp.src_stride[1].y, pp.src_shape[1].y); }
  if (P_RANK > 4u) { pad_step(&rem, &o, &inside, pp.shape[1].x, pp.src_stride[1].x, pp.src_shape[1].x); }
  if (P_RANK > 3u) { pad_step(&rem, &o, &inside, pp.shape[0].w, pp.src_stride[0].w, pp.src_shape[0].w); }
  if (P_RANK > 2u) { pad_step(&rem, &o, &inside, pp.shape[0].z, pp.src_stride[0].z, pp.src_shape[0].z); }
  if (P_RANK > 1u) { pad_step(&rem, &o, &inside, pp.shape[0].y, pp.src_stride[0].y, pp.src_shape[0].y); }
  // The outermost dimension: i < n, so no modulo.
  inside = inside && rem < pp.src_shape[0].x;
  o += rem * pp.src_stride[0].x;
  py[i] = select(0.0, px[min(o, arrayLength(&px) - 1u)], inside);
}
