// Fused optimizer updates: ONE dispatch updates every parameter of a parameter group.
//
// Layout (built by src/optim/optimizer.ts). A group's parameters, gradients and optimizer state
// are packed in flat buffers: parameter i occupies elements [start_i, end_i), with start_i a
// multiple of CHUNK = 256, so every chunk of 256 elements (one workgroup) belongs to exactly one
// parameter. `tab` (i32 words) holds
//   tab[c]                   the parameter owning chunk c, for c < n_chunks (constant);
//   tab[n_chunks + 4·i + k]  k = 0..3: end_i, active_i (0 = no gradient this step: skip it),
//                            bits of bc1_i = 1 − β1^step_i, bits of sqrt(1 − β2^step_i)
//                            (AdamW only; per parameter, as PyTorch keeps a step count per
//                            parameter; computed in float64 on the host each step).
// Hyper-parameters and the learning rate are uniforms, so a step never compiles a pipeline.
// Every access is bounds-checked here (Dawn's robustness is off on SwiftShader): chunk and
// parameter indices against the uniform counts and tab's length, elements against each
// buffer's arrayLength.
//
// The arithmetic follows PyTorch's single-tensor algorithms (torch/optim/sgd.py, adamw.py)
// operation by operation.
//
// Interfaces: each entry point has its own uniform struct holding only what it reads, and its
// bindings are numbered 0, 1, … in order, the uniform last (theta, grad and tab are 0, 1, 2 in
// both; the numbers after them repeat across the entry points, which is allowed because each gets
// its own bind group layout).

const CHUNK: u32 = 256u;

struct SgdParams {
  n_chunks: u32,
  n_params: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
  nesterov: u32,
  _pad0: u32,
  _pad1: u32,
}

struct AdamParams {
  n_chunks: u32,
  n_params: u32,
  lr: f32,
  beta2: f32,
  // 1 − β1, 1 − β2 and 1 − lr·wd computed in float64 on the host: 1 − f32(0.999) in f32 would
  // carry a relative error of ~1e-4 (β1 itself is never needed).
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  decay: f32,
  eps: f32,
}

// Both entry points (read by locate()).
@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> tab: array<i32>;

// sgd
@group(0) @binding(3) var<storage, read_write> mom: array<f32>;
@group(0) @binding(4) var<uniform> sp: SgdParams;

// adamw
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<uniform> ap: AdamParams;

const NONE: u32 = 0xffffffffu;

// The element this invocation updates and its parameter's row in `tab`, or (NONE, 0): chunk c is
// the workgroup, the element c·CHUNK + lid; skipped past the chunk count, past the parameter's end,
// for a parameter with no gradient this step, and past the ends of theta and grad. `width`: the
// table words of the row the entry point reads (2 for SGD, 4 for AdamW), checked against tab.
fn locate(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, n_chunks: u32, n_params: u32, width: u32) -> vec2<u32> {
  let c = wid.y * nwg.x + wid.x;
  let nm = arrayLength(&tab);
  if (c >= n_chunks || c >= nm) { return vec2<u32>(NONE, 0u); }
  let pi = u32(tab[c]);
  let row = n_chunks + 4u * pi;
  if (pi >= n_params || row + width - 1u >= nm) { return vec2<u32>(NONE, 0u); }
  let e = c * CHUNK + lid;
  if (tab[row + 1u] == 0 || e >= u32(tab[row]) || e >= arrayLength(&theta) || e >= arrayLength(&grad)) {
    return vec2<u32>(NONE, 0u);
  }
  return vec2<u32>(e, row);
}

// SGD (PyTorch, dampening 0): g ← g + wd·θ; v ← μ·v + g; g ← g + μ·v (nesterov) or v; θ ← θ − lr·g.
// A zero momentum buffer makes the first step v = g exactly, as PyTorch's clone on first use.
@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let at = locate(wid, nwg, lid, sp.n_chunks, sp.n_params, 2u);
  let e = at.x;
  if (e == NONE) { return; }

  let th = theta[e];
  var g = grad[e];
  if (sp.weight_decay != 0.0) {
    g = g + sp.weight_decay * th;
  }
  if (sp.momentum != 0.0 && e < arrayLength(&mom)) {
    let v = sp.momentum * mom[e] + g;
    mom[e] = v;
    if (sp.nesterov != 0u) {
      g = g + sp.momentum * v;
    } else {
      g = v;
    }
  }
  theta[e] = th - sp.lr * g;
}

// AdamW (PyTorch): θ ← θ·(1 − lr·wd); m ← m + (1 − β1)(g − m); v ← β2·v + (1 − β2)·g·g;
// θ ← θ − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps).
@compute @workgroup_size(256)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let at = locate(wid, nwg, lid, ap.n_chunks, ap.n_params, 4u);
  let e = at.x;
  let row = at.y;
  if (e == NONE || e >= arrayLength(&exp_avg) || e >= arrayLength(&exp_avg_sq)) { return; }
  let bc1 = bitcast<f32>(tab[row + 2u]);
  let bc2_sqrt = bitcast<f32>(tab[row + 3u]);

  let th = theta[e] * ap.decay;
  let g = grad[e];
  let m0 = exp_avg[e];
  let m = m0 + ap.one_minus_beta1 * (g - m0);
  let v = ap.beta2 * exp_avg_sq[e] + ap.one_minus_beta2 * (g * g);
  exp_avg[e] = m;
  exp_avg_sq[e] = v;
  let step_size = ap.lr / bc1;
  let denom = sqrt(v) / bc2_sqrt + ap.eps;
  theta[e] = th - step_size * (m / denom);
}
