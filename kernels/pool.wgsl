// 2-D max and average pooling of NHWC images x [B, H, W, C] → y [B, OH, OW, C], PyTorch semantics
// (ceil_mode = false, dilation 1): output (oh, ow) covers input rows oh·sh − ph … + kh − 1 and
// columns ow·sw − pw … + kw − 1; positions outside the image are padding.
//   max_forward  — max pool (padding acts as −∞: it never wins; every window holds at least one
//                  image pixel since padding ≤ kernel / 2), and the argmax as h·W + w (i32, per
//                  output, PyTorch's index convention). Ties: the first maximum in window order
//                  (row-major), as PyTorch's `val > max` scan; a NaN wins (the last NaN, as
//                  PyTorch's `val > max || isnan(val)`), tested on bits because WGSL may assume
//                  floats are never NaN.
//   max_backward — dx[b, h, w, c] = Σ dy over the outputs whose window covers (h, w) and whose
//                  argmax is (h, w): a gather, no atomics, deterministic order.
//   avg_forward  — mean of the window; divisor kh·kw (count_include_pad: with ceil_mode = false
//                  every window lies inside the padded image) or the number of image pixels.
//   avg_backward — dx = Σ over covering outputs of dy / divisor(output).
// One invocation per output (forward) or input (backward) element, channels fastest, so adjacent
// invocations touch adjacent addresses. Every index is bounded by the uniform's shapes, which the
// host sets from the bound tensors (x and dx hold B·H·W·C values, y, dy and idx B·OH·OW·C).

override WG: u32 = 256;

struct Params {
  n: u32,       // elements of the dispatch's output (y for forward, dx for backward)
  C: u32,
  H: u32,
  W: u32,
  OH: u32,
  OW: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  include_pad: u32,  // avg pool: 1 = divide by kh·kw, 0 = by the image pixels in the window
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> idx: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> ridx: array<i32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn invocation(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The image rows [r.x, r.y) and columns [r.z, r.w) of output (oh, ow)'s window.
fn window(oh: u32, ow: u32) -> vec4<u32> {
  let h0 = i32(oh * p.sh) - i32(p.ph);
  let w0 = i32(ow * p.sw) - i32(p.pw);
  return vec4<u32>(u32(max(h0, 0)), u32(clamp(h0 + i32(p.kh), 0, i32(p.H))),
                   u32(max(w0, 0)), u32(clamp(w0 + i32(p.kw), 0, i32(p.W))));
}

// The outputs whose windows cover image pixel (h, w): rows [r.x, r.y), columns [r.z, r.w).
fn covering(h: u32, w: u32) -> vec4<u32> {
  // oh·sh − ph ≤ h ≤ oh·sh − ph + kh − 1  ⇔  (h + ph − kh + 1) / sh ≤ oh ≤ (h + ph) / sh.
  let lo_h = i32(h + p.ph) - i32(p.kh) + 1;
  let lo_w = i32(w + p.pw) - i32(p.kw) + 1;
  let oh0 = select(0u, (u32(lo_h) + p.sh - 1u) / p.sh, lo_h > 0);
  let ow0 = select(0u, (u32(lo_w) + p.sw - 1u) / p.sw, lo_w > 0);
  let oh1 = min(p.OH, (h + p.ph) / p.sh + 1u);
  let ow1 = min(p.OW, (w + p.pw) / p.sw + 1u);
  return vec4<u32>(oh0, max(oh0, oh1), ow0, max(ow0, ow1));
}

fn avg_divisor(oh: u32, ow: u32) -> f32 {
  if (p.include_pad != 0u) { return f32(p.kh * p.kw); }
  let r = window(oh, ow);
  return f32((r.y - r.x) * (r.w - r.z));
}

@compute @workgroup_size(WG)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = i % p.C;
  let ow = (i / p.C) % p.OW;
  let oh = (i / (p.C * p.OW)) % p.OH;
  let b = i / (p.C * p.OW * p.OH);
  let r = window(oh, ow);
  let base = b * p.H * p.W;
  var best = x[((base + r.x * p.W + r.z) * p.C) + c];
  var arg = r.x * p.W + r.z;
  for (var h = r.x; h < r.y; h++) {
    for (var w = r.z; w < r.w; w++) {
      let v = x[(base + h * p.W + w) * p.C + c];
      // Bit tests for NaN: a driver may compile `v > best` assuming neither is NaN.
      if (is_nan(v) || (!is_nan(best) && v > best)) {
        best = v;
        arg = h * p.W + w;
      }
    }
  }
  y[i] = best;
  idx[i] = i32(arg);
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = i % p.C;
  let w = (i / p.C) % p.W;
  let h = (i / (p.C * p.W)) % p.H;
  let b = i / (p.C * p.W * p.H);
  let me = i32(h * p.W + w);
  let r = covering(h, w);
  var acc = 0.0;
  for (var oh = r.x; oh < r.y; oh++) {
    for (var ow = r.z; ow < r.w; ow++) {
      let o = ((b * p.OH + oh) * p.OW + ow) * p.C + c;
      if (ridx[o] == me) { acc += dy[o]; }
    }
  }
  dx[i] = acc;
}

@compute @workgroup_size(WG)
fn avg_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = i % p.C;
  let ow = (i / p.C) % p.OW;
  let oh = (i / (p.C * p.OW)) % p.OH;
  let b = i / (p.C * p.OW * p.OH);
  let r = window(oh, ow);
  let base = b * p.H * p.W;
  var acc = 0.0;
  for (var h = r.x; h < r.y; h++) {
    for (var w = r.z; w < r.w; w++) {
      acc += x[(base + h * p.W + w) * p.C + c];
    }
  }
  y[i] = acc / avg_divisor(oh, ow);
}

@compute @workgroup_size(WG)
fn avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.n) { return; }
  let c = i % p.C;
  let w = (i / p.C) % p.W;
  let h = (i / (p.C * p.W)) % p.H;
  let b = i / (p.C * p.W * p.H);
  let r = covering(h, w);
  var acc = 0.0;
  for (var oh = r.x; oh < r.y; oh++) {
    for (var ow = r.z; ow < r.w; ow++) {
      acc += dy[((b * p.OH + oh) * p.OW + ow) * p.C + c] / avg_divisor(oh, ow);
    }
  }
  dx[i] = acc;
}
