// Bench-only probes of what one operation costs per invocation on the adapter (bench/op-costs.ts
// launches them; issue 24): each invocation runs `iterations` trips of 8 independent chains of
// one kind of operation, so the time per operation is the kernel's time over
// invocations · iterations · 8. Every probe writes one u32 or f32 per invocation (bit-cast to the i32 output buffer) that the host
// recomputes exactly, so a probe the compiler folded or that read the wrong place fails.
//   fma_f32      f32 multiply-add (x = x · m + c)
//   div_u32      u32 division by a run-time divisor (x = x / d + k)
//   mul_u32      u32 multiply-add (x = x · m + k)
//   load_seq     f32 storage loads, consecutive invocations reading consecutive addresses
//   load_same    f32 storage loads, every invocation of a workgroup reading the same address
//   load_stride  f32 storage loads, consecutive invocations 16 floats apart
//   load_vec4    vec4<f32> storage loads, consecutive invocations reading consecutive vec4s
//   load_wg      f32 loads from workgroup memory, consecutive invocations consecutive addresses
//   empty        nothing (one store): what a dispatch costs beside its work

override WG: u32 = 64;

struct Params {
  iterations: u32,
  // fma: x·m + c; u32 probes: divisor d and addend k; loads: the buffer's length in floats - 1 (a mask).
  m: f32,
  c: f32,
  d: u32,
  k: u32,
  mask: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

fn gid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn fma_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  let s = f32(i % 64u);
  var x0 = s; var x1 = s + 1.0; var x2 = s + 2.0; var x3 = s + 3.0;
  var x4 = s + 4.0; var x5 = s + 5.0; var x6 = s + 6.0; var x7 = s + 7.0;
  for (var t = 0u; t < p.iterations; t++) {
    x0 = x0 * p.m + p.c; x1 = x1 * p.m + p.c; x2 = x2 * p.m + p.c; x3 = x3 * p.m + p.c;
    x4 = x4 * p.m + p.c; x5 = x5 * p.m + p.c; x6 = x6 * p.m + p.c; x7 = x7 * p.m + p.c;
  }
  out[i] = bitcast<i32>(bitcast<u32>(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))));
}

@compute @workgroup_size(WG)
fn div_u32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  var x0 = i; var x1 = i + 1u; var x2 = i + 2u; var x3 = i + 3u;
  var x4 = i + 4u; var x5 = i + 5u; var x6 = i + 6u; var x7 = i + 7u;
  for (var t = 0u; t < p.iterations; t++) {
    x0 = x0 / p.d + p.k; x1 = x1 / p.d + p.k; x2 = x2 / p.d + p.k; x3 = x3 / p.d + p.k;
    x4 = x4 / p.d + p.k; x5 = x5 / p.d + p.k; x6 = x6 / p.d + p.k; x7 = x7 / p.d + p.k;
  }
  out[i] = bitcast<i32>(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)));
}

@compute @workgroup_size(WG)
fn mul_u32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  var x0 = i; var x1 = i + 1u; var x2 = i + 2u; var x3 = i + 3u;
  var x4 = i + 4u; var x5 = i + 5u; var x6 = i + 6u; var x7 = i + 7u;
  for (var t = 0u; t < p.iterations; t++) {
    x0 = x0 * p.d + p.k; x1 = x1 * p.d + p.k; x2 = x2 * p.d + p.k; x3 = x3 * p.d + p.k;
    x4 = x4 * p.d + p.k; x5 = x5 * p.d + p.k; x6 = x6 * p.d + p.k; x7 = x7 * p.d + p.k;
  }
  out[i] = bitcast<i32>(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)));
}

// The loads: trip t of invocation i reads element idx(t, j, i) for chains j = 0..7; the address
// pattern across invocations is the probe's subject. Sums are exact: src holds small integers.
fn load_probe(i: u32, lane_step: u32, group_same: bool) -> u32 {
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  var s4 = 0.0; var s5 = 0.0; var s6 = 0.0; var s7 = 0.0;
  var lane = i * lane_step;
  if (group_same) { lane = (i / WG) * 8u; }
  for (var t = 0u; t < p.iterations; t++) {
    let b = lane + t * 8u * 64u;
    s0 += src[(b + 0u * 64u) & p.mask]; s1 += src[(b + 1u * 64u) & p.mask];
    s2 += src[(b + 2u * 64u) & p.mask]; s3 += src[(b + 3u * 64u) & p.mask];
    s4 += src[(b + 4u * 64u) & p.mask]; s5 += src[(b + 5u * 64u) & p.mask];
    s6 += src[(b + 6u * 64u) & p.mask]; s7 += src[(b + 7u * 64u) & p.mask];
  }
  return u32(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
}

@compute @workgroup_size(WG)
fn load_seq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  out[i] = bitcast<i32>(load_probe(i, 1u, false));
}

@compute @workgroup_size(WG)
fn load_same(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  out[i] = bitcast<i32>(load_probe(i, 1u, true));
}

@compute @workgroup_size(WG)
fn load_stride(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  out[i] = bitcast<i32>(load_probe(i, 16u, false));
}

@group(0) @binding(0) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out4: array<i32>;
@group(0) @binding(2) var<uniform> p4: Params;

@compute @workgroup_size(WG)
fn load_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  let m4 = p4.mask / 4u; // the vec4 view's length - 1
  var s0 = vec4<f32>(); var s1 = vec4<f32>(); var s2 = vec4<f32>(); var s3 = vec4<f32>();
  var s4 = vec4<f32>(); var s5 = vec4<f32>(); var s6 = vec4<f32>(); var s7 = vec4<f32>();
  for (var t = 0u; t < p4.iterations; t++) {
    let b = i + t * 8u * 64u;
    s0 += src4[(b + 0u * 64u) & m4]; s1 += src4[(b + 1u * 64u) & m4];
    s2 += src4[(b + 2u * 64u) & m4]; s3 += src4[(b + 3u * 64u) & m4];
    s4 += src4[(b + 4u * 64u) & m4]; s5 += src4[(b + 5u * 64u) & m4];
    s6 += src4[(b + 6u * 64u) & m4]; s7 += src4[(b + 7u * 64u) & m4];
  }
  let v = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  out4[i] = bitcast<i32>(u32((v.x + v.y) + (v.z + v.w)));
}

var<workgroup> tile: array<f32, 512>;

@compute @workgroup_size(WG)
fn load_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  for (var j = lid; j < 512u; j += WG) { tile[j] = src[j & p.mask]; }
  workgroupBarrier();
  var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
  var s4 = 0.0; var s5 = 0.0; var s6 = 0.0; var s7 = 0.0;
  for (var t = 0u; t < p.iterations; t++) {
    let b = lid + t * 8u;
    s0 += tile[(b + 0u * 64u) & 511u]; s1 += tile[(b + 1u * 64u) & 511u];
    s2 += tile[(b + 2u * 64u) & 511u]; s3 += tile[(b + 3u * 64u) & 511u];
    s4 += tile[(b + 4u * 64u) & 511u]; s5 += tile[(b + 5u * 64u) & 511u];
    s6 += tile[(b + 6u * 64u) & 511u]; s7 += tile[(b + 7u * 64u) & 511u];
  }
  out[i] = bitcast<i32>(u32(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))));
}

@compute @workgroup_size(WG)
fn empty(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gid(wid, nwg, lid);
  out[i] = bitcast<i32>(i + p.k);
}
