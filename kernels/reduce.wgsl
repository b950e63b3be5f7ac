// Sum (times a scale: mean = sum / count) over any set of axes.
// The input is viewed as kept dimensions × reduced dimensions, each described by shape and
// strides in the uniform (adjacent dimensions merged on the host, rank ≤ 8 each).
// Two variants, chosen by the PER_THREAD override:
//   PER_THREAD = true  — one thread per output (or per slice of its reduced range), a serial
//                        loop over the reduced elements (many outputs, short reductions, and
//                        every reduction on a CPU driver: no barriers at all);
//   PER_THREAD = false — one workgroup per output (or per slice of a long reduction: a first
//                        pass of a two-pass sum), WG threads stride over the reduced elements and
//                        combine in a workgroup-memory tree (few outputs, long reductions).

override WG: u32 = 64;
override PER_THREAD: bool = false;
// The merged ranks of the kept and the reduced dimensions: 1, 2 or 3 written out, 8 for any rank
// up to 8 (the host pads the shapes with size 1, stride 0). Offsets are computed per dimension at
// constant indices: on a CPU driver a uniform read at a constant index is one load for the whole
// SIMD group, where a loop's run-time index made every read a gather and every element pay a
// division per dimension (a 262K-element sum took 14 ms on SwiftShader).
override K_RANK: u32 = 8u;
override R_RANK: u32 = 8u;

struct Params {
  n_out: u32,
  n_red: u32,
  scale: f32,
  // The reduced range of each output is split into `chunks` slices of `chunk_len` elements, one
  // workgroup (or, PER_THREAD, one invocation) each, writing y[o · chunks + slice]; the host sums
  // the slices in a second pass. 1 and n_red when not split.
  chunks: u32,
  chunk_len: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  kept_shape: array<vec4<u32>, 2>,
  kept_stride: array<vec4<u32>, 2>,
  red_shape: array<vec4<u32>, 2>,
  red_stride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

// #include "shape-walk.wgsl"

// Offset of kept index o (< n_out, so the outermost dimension needs no modulo).
fn kept_offset(o: u32) -> u32 {
  var rem = o;
  var off = 0u;
  if (K_RANK > 7u) { dim_step(&rem, &off, p.kept_shape[1].w, p.kept_stride[1].w); }
  if (K_RANK > 6u) { dim_step(&rem, &off, p.kept_shape[1].z, p.kept_stride[1].z); }
  if (K_RANK > 5u) { dim_step(&rem, &off, p.kept_shape[1].y, p.kept_stride[1].y); }
  if (K_RANK > 4u) { dim_step(&rem, &off, p.kept_shape[1].x, p.kept_stride[1].x); }
  if (K_RANK > 3u) { dim_step(&rem, &off, p.kept_shape[0].w, p.kept_stride[0].w); }
  if (K_RANK > 2u) { dim_step(&rem, &off, p.kept_shape[0].z, p.kept_stride[0].z); }
  if (K_RANK > 1u) { dim_step(&rem, &off, p.kept_shape[0].y, p.kept_stride[0].y); }
  return off + rem * p.kept_stride[0].x;
}

// Offset of reduced index r (< n_red).
fn red_offset(r: u32) -> u32 {
  var rem = r;
  var off = 0u;
  if (R_RANK > 7u) { dim_step(&rem, &off, p.red_shape[1].w, p.red_stride[1].w); }
  if (R_RANK > 6u) { dim_step(&rem, &off, p.red_shape[1].z, p.red_stride[1].z); }
  if (R_RANK > 5u) { dim_step(&rem, &off, p.red_shape[1].y, p.red_stride[1].y); }
  if (R_RANK > 4u) { dim_step(&rem, &off, p.red_shape[1].x, p.red_stride[1].x); }
  if (R_RANK > 3u) { dim_step(&rem, &off, p.red_shape[0].w, p.red_stride[0].w); }
  if (R_RANK > 2u) { dim_step(&rem, &off, p.red_shape[0].z, p.red_stride[0].z); }
  if (R_RANK > 1u) { dim_step(&rem, &off, p.red_shape[0].y, p.red_stride[0].y); }
  return off + rem * p.red_stride[0].x;
}

fn load(i: u32) -> f32 {
  return x[min(i, arrayLength(&x) - 1u)];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  if (PER_THREAD) {
    // One invocation per (output, slice). No early return: the barriers below must stay in
    // uniform control flow. Four interleaved partial sums: independent adds, and each sums a
    // quarter of the slice (a smaller rounding error than one serial sum).
    let t = group * WG + lid;
    if (t < p.n_out * p.chunks) {
      let base = kept_offset(t / p.chunks);
      let r0 = (t % p.chunks) * p.chunk_len;
      let r_end = min(p.n_red, r0 + p.chunk_len);
      var acc = vec4<f32>();
      var r = r0;
      for (; r + 3u < r_end; r += 4u) {
        acc += vec4<f32>(load(base + red_offset(r)), load(base + red_offset(r + 1u)),
                         load(base + red_offset(r + 2u)), load(base + red_offset(r + 3u)));
      }
      for (; r < r_end; r++) { acc.x += load(base + red_offset(r)); }
      y[t] = ((acc.x + acc.y) + (acc.z + acc.w)) * p.scale;
    }
    return;
  }
  // One workgroup per (output, slice); `group` is uniform across the workgroup, so the barriers
  // below are reached by every invocation.
  let o = group / p.chunks;
  let slice = group % p.chunks;
  let live = o < p.n_out;
  let base = select(0u, kept_offset(o), live);
  let r_end = min(p.n_red, (slice + 1u) * p.chunk_len);
  var acc = 0.0;
  if (live) {
    for (var r = slice * p.chunk_len + lid; r < r_end; r += WG) {
      acc += load(base + red_offset(r));
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u && live) {
    y[group] = partial[0] * p.scale;
  }
}
