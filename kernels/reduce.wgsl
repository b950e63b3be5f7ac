// Sum (times a scale: mean = sum / count) over any set of axes.
// The input is viewed as kept dimensions × reduced dimensions, each described by shape and
// strides in the uniform (adjacent dimensions merged on the host, rank ≤ 8 each).
// Two variants, chosen by the PER_THREAD override:
//   PER_THREAD = true  — one thread per output, a serial loop over the reduced elements
//                        (many outputs, short reductions: no barriers at all);
//   PER_THREAD = false — one workgroup per output (or per slice of a long reduction: a first
//                        pass of a two-pass sum), WG threads stride over the reduced elements and
//                        combine in a workgroup-memory tree (few outputs, long reductions).

override WG: u32 = 64;
override PER_THREAD: bool = false;

struct Params {
  n_out: u32,
  n_red: u32,
  kept_rank: u32,
  red_rank: u32,
  scale: f32,
  // Workgroup variant only: the reduced range of each output is split into `chunks` slices of
  // `chunk_len` elements, one workgroup each, writing y[o · chunks + slice] (the host sums the
  // slices in a second pass). 1 and n_red when not split.
  chunks: u32,
  chunk_len: u32,
  _p0: u32,
  kept_shape: array<vec4<u32>, 2>,
  kept_stride: array<vec4<u32>, 2>,
  red_shape: array<vec4<u32>, 2>,
  red_stride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

fn kept_offset(o: u32) -> u32 {
  var rem = o;
  var off = 0u;
  for (var d = i32(p.kept_rank) - 1; d >= 0; d--) {
    let s = p.kept_shape[u32(d) / 4u][u32(d) % 4u];
    off += (rem % s) * p.kept_stride[u32(d) / 4u][u32(d) % 4u];
    rem = rem / s;
  }
  return off;
}

fn red_offset(r: u32) -> u32 {
  var rem = r;
  var off = 0u;
  for (var d = i32(p.red_rank) - 1; d >= 0; d--) {
    let s = p.red_shape[u32(d) / 4u][u32(d) % 4u];
    off += (rem % s) * p.red_stride[u32(d) / 4u][u32(d) % 4u];
    rem = rem / s;
  }
  return off;
}

fn load(i: u32) -> f32 {
  return x[min(i, arrayLength(&x) - 1u)];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  if (PER_THREAD) {
    // No early return: the barriers below must stay in uniform control flow.
    let o = group * WG + lid;
    if (o < p.n_out) {
      let base = kept_offset(o);
      var acc = 0.0;
      for (var r = 0u; r < p.n_red; r++) {
        acc += load(base + red_offset(r));
      }
      y[o] = acc * p.scale;
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
