// Fused log-softmax + negative log-likelihood over the last axis.
//   forward:  loss[i] = logsumexp(x_i) − x_i[label_i], 0 for rows whose label is the ignore index.
//             (The mean over counted rows is a scaled sum done by the reduce kernel.)
//   backward: dx_i = g · (softmax(x_i) − onehot(label_i)) / count, 0 for ignored rows.
//             The softmax is recomputed from x: one extra pass over a row is cheaper than
//             storing a rows × classes probability tensor between forward and backward.
// One thread per row: rows are independent and class counts are small (≤ a few hundred).

// Interfaces: each entry point has its own uniform struct (the forward does not read 1 / count),
// and its bindings are numbered 0, 1, … in order, the uniform last (numbers repeat across entry
// points, which is allowed because each gets its own bind group layout).

override WG: u32 = 64;

struct ForwardParams {
  rows: u32,
  classes: u32,
  ignore_index: i32,
}

struct BackwardParams {
  rows: u32,
  classes: u32,
  ignore_index: i32,
  inv_count: f32,   // 1 / (rows whose label counts)
}

// forward
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<uniform> p: ForwardParams;

// backward
@group(0) @binding(0) var<storage, read> bx: array<f32>;
@group(0) @binding(1) var<storage, read> blabels: array<i32>;
@group(0) @binding(2) var<storage, read> bg: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;
@group(0) @binding(4) var<uniform> bp: BackwardParams;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let label = labels[row];
  if (label == p.ignore_index || label < 0 || u32(label) >= p.classes) {
    loss[row] = 0.0;
    return;
  }
  let base = row * p.classes;
  var m = -3.402823e38;
  for (var c = 0u; c < p.classes; c++) { m = max(m, x[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < p.classes; c++) { s += exp(x[base + c] - m); }
  loss[row] = (m + log(s)) - x[base + u32(label)];
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= bp.rows) { return; }
  let label = blabels[row];
  let base = row * bp.classes;
  if (label == bp.ignore_index || label < 0 || u32(label) >= bp.classes) {
    for (var c = 0u; c < bp.classes; c++) { bdx[base + c] = 0.0; }
    return;
  }
  var m = -3.402823e38;
  for (var c = 0u; c < bp.classes; c++) { m = max(m, bx[base + c]); }
  var s = 0.0;
  for (var c = 0u; c < bp.classes; c++) { s += exp(bx[base + c] - m); }
  let k = bg[0] * bp.inv_count;
  let inv = 1.0 / s;
  for (var c = 0u; c < bp.classes; c++) {
    let prob = exp(bx[base + c] - m) * inv;
    bdx[base + c] = k * (prob - select(0.0, 1.0, c == u32(label)));
  }
}
