// Fused scaled softmax along the last axis: y = softmax(scale · x), and its backward
// dx = scale · y ⊙ (dy − rowsum(dy ⊙ y)), each in one kernel.
// Stable for any finite logits: the row maximum is subtracted before exp, so the largest term is
// exp(0) = 1 and the sum is ≥ 1.
// Variants (override ROW_PER_THREAD):
//   true  — each thread owns a whole row (short rows such as K = 64 responsibilities; no
//           barriers, which are costly on CPU drivers);
//   false — a workgroup of WG threads owns a row and reduces in workgroup memory (long rows).

// Interfaces: forward and backward read the same uniform struct, each through a binding of its
// own; each entry point's bindings are numbered 0, 1, … in order, the uniform last (numbers repeat
// across entry points, which is allowed because each gets its own bind group layout).

override WG: u32 = 64;
override ROW_PER_THREAD: bool = true;

// Both entry points: rows × cols, and the scale of the logits.
struct Params {
  rows: u32,
  cols: u32,
  scale: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@group(0) @binding(0) var<storage, read> by: array<f32>;
@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bdx: array<f32>;
@group(0) @binding(3) var<uniform> bp: Params;

var<workgroup> red: array<f32, WG>;

// Workgroup-wide reduction of v; op 0 = max, 1 = sum. Every invocation gets the result.
fn wg_reduce(v: f32, lid: u32, op: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let o = red[lid + s];
      red[lid] = select(red[lid] + o, max(red[lid], o), op == 0u);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  let cols = p.cols;
  if (ROW_PER_THREAD) {
    // No early return: the barriers of the other variant must stay in uniform control flow.
    let row = group * WG + lid;
    if (row < p.rows) {
      let base = row * cols;
      var m = -3.402823e38;
      for (var c = 0u; c < cols; c++) { m = max(m, p.scale * x[base + c]); }
      var s = 0.0;
      for (var c = 0u; c < cols; c++) {
        let e = exp(p.scale * x[base + c] - m);
        y[base + c] = e;
        s += e;
      }
      let inv = 1.0 / s;
      for (var c = 0u; c < cols; c++) { y[base + c] *= inv; }
    }
    return;
  }
  let row = group;
  let live = row < p.rows;
  let base = select(0u, row * cols, live);
  var m = -3.402823e38;
  if (live) {
    for (var c = lid; c < cols; c += WG) { m = max(m, p.scale * x[base + c]); }
  }
  m = wg_reduce(m, lid, 0u);
  var s = 0.0;
  if (live) {
    for (var c = lid; c < cols; c += WG) {
      let e = exp(p.scale * x[base + c] - m);
      y[base + c] = e;
      s += e;
    }
  }
  s = wg_reduce(s, lid, 1u);
  if (live) {
    let inv = 1.0 / s;
    for (var c = lid; c < cols; c += WG) { y[base + c] *= inv; }
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  let cols = bp.cols;
  if (ROW_PER_THREAD) {
    let row = group * WG + lid;
    if (row < bp.rows) {
      let base = row * cols;
      var d = 0.0;
      for (var c = 0u; c < cols; c++) { d += bdy[base + c] * by[base + c]; }
      for (var c = 0u; c < cols; c++) {
        bdx[base + c] = bp.scale * by[base + c] * (bdy[base + c] - d);
      }
    }
    return;
  }
  let row = group;
  let live = row < bp.rows;
  let base = select(0u, row * cols, live);
  var d = 0.0;
  if (live) {
    for (var c = lid; c < cols; c += WG) { d += bdy[base + c] * by[base + c]; }
  }
  d = wg_reduce(d, lid, 1u);
  if (live) {
    for (var c = lid; c < cols; c += WG) {
      bdx[base + c] = bp.scale * by[base + c] * (bdy[base + c] - d);
    }
  }
}
