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
//
// Interfaces: every entry point reads the whole pooling geometry `Pool` (the helpers take it as a
// parameter) through a uniform of its own; average pooling's divisor rule is the INCLUDE_PAD
// override. Each entry point's bindings are numbered 0, 1, … in order, the uniform last; numbers
// repeat across entry points, which is allowed because each gets its own bind group layout.

override WG: u32 = 256;
// avg_forward, avg_backward: true = divide by kh·kw (count_include_pad), false = by the number of
// image pixels in the window.
override INCLUDE_PAD: bool = false;

// The geometry: input [B, H, W, C], output [B, OH, OW, C], window kh × kw, stride, padding.
struct Pool {
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
}

// max_forward
@group(0) @binding(0) var<storage, read> mx: array<f32>;
@group(0) @binding(1) var<storage, read_write> my: array<f32>;
@group(0) @binding(2) var<storage, read_write> midx: array<i32>;
@group(0) @binding(3) var<uniform> mp: Pool;

// max_backward
@group(0) @binding(0) var<storage, read> ndy: array<f32>;
@group(0) @binding(1) var<storage, read> nidx: array<i32>;
@group(0) @binding(2) var<storage, read_write> ndx: array<f32>;
@group(0) @binding(3) var<uniform> np: Pool;

// avg_forward
@group(0) @binding(0) var<storage, read> ax: array<f32>;
@group(0) @binding(1) var<storage, read_write> ay: array<f32>;
@group(0) @binding(2) var<uniform> ap: Pool;

// avg_backward
@group(0) @binding(0) var<storage, read> bdy: array<f32>;
@group(0) @binding(1) var<storage, read_write> bdx: array<f32>;
@group(0) @binding(2) var<uniform> bp: Pool;

fn invocation(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The image rows [r.x, r.y) and columns [r.z, r.w) of output (oh, ow)'s window.
fn window(p: Pool, oh: u32, ow: u32) -> vec4<u32> {
  let h0 = i32(oh * p.sh) - i32(p.ph);
  let w0 = i32(ow * p.sw) - i32(p.pw);
  return vec4<u32>(u32(max(h0, 0)), u32(clamp(h0 + i32(p.kh), 0, i32(p.H))),
                   u32(max(w0, 0)), u32(clamp(w0 + i32(p.kw), 0, i32(p.W))));
}

// The outputs whose windows cover image pixel (h, w): rows [r.x, r.y), columns [r.z, r.w).
fn covering(p: Pool, h: u32, w: u32) -> vec4<u32> {
  // oh·sh − ph ≤ h ≤ oh·sh − ph + kh − 1  ⇔  (h + ph − kh + 1) / sh ≤ oh ≤ (h + ph) / sh.
  let lo_h = i32(h + p.ph) - i32(p.kh) + 1;
  let lo_w = i32(w + p.pw) - i32(p.kw) + 1;
  let oh0 = select(0u, (u32(lo_h) + p.sh - 1u) / p.sh, lo_h > 0);
  let ow0 = select(0u, (u32(lo_w) + p.sw - 1u) / p.sw, lo_w > 0);
  let oh1 = min(p.OH, (h + p.ph) / p.sh + 1u);
  let ow1 = min(p.OW, (w + p.pw) / p.sw + 1u);
  return vec4<u32>(oh0, max(oh0, oh1), ow0, max(ow0, ow1));
}

fn avg_divisor(p: Pool, oh: u32, ow: u32) -> f32 {
  if (INCLUDE_PAD) { return f32(p.kh * p.kw); }
  let r = window(p, oh, ow);
  return f32((r.y - r.x) * (r.w - r.z));
}

@compute @workgroup_size(WG)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= mp.n) { return; }
  let c = i % mp.C;
  let ow = (i / mp.C) % mp.OW;
  let oh = (i / (mp.C * mp.OW)) % mp.OH;
  let b = i / (mp.C * mp.OW * mp.OH);
  let r = window(mp, oh, ow);
  let base = b * mp.H * mp.W;
  var best = mx[((base + r.x * mp.W + r.z) * mp.C) + c];
  var arg = r.x * mp.W + r.z;
  for (var h = r.x; h < r.y; h++) {
    for (var w = r.z; w < r.w; w++) {
      let v = mx[(base + h * mp.W + w) * mp.C + c];
      // Bit tests for NaN: a driver may compile `v > best` assuming neither is NaN.
      if (is_nan(v) || (!is_nan(best) && v > best)) {
        best = v;
        arg = h * mp.W + w;
      }
    }
  }
  my[i] = best;
  midx[i] = i32(arg);
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= np.n) { return; }
  let c = i % np.C;
  let w = (i / np.C) % np.W;
  let h = (i / (np.C * np.W)) % np.H;
  let b = i / (np.C * np.W * np.H);
  let me = i32(h * np.W + w);
  let r = covering(np, h, w);
  var acc = 0.0;
  for (var oh = r.x; oh < r.y; oh++) {
    for (var ow = r.z; ow < r.w; ow++) {
      let o = ((b * np.OH + oh) * np.OW + ow) * np.C + c;
      if (nidx[o] == me) { acc += ndy[o]; }
    }
  }
  ndx[i] = acc;
}

@compute @workgroup_size(WG)
fn avg_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= ap.n) { return; }
  let c = i % ap.C;
  let ow = (i / ap.C) % ap.OW;
  let oh = (i / (ap.C * ap.OW)) % ap.OH;
  let b = i / (ap.C * ap.OW * ap.OH);
  let r = window(ap, oh, ow);
  let base = b * ap.H * ap.W;
  var acc = 0.0;
  for (var h = r.x; h < r.y; h++) {
    for (var w = r.z; w < r.w; w++) {
      acc += ax[(base + h * ap.W + w) * ap.C + c];
    }
  }
  ay[i] = acc / avg_divisor(ap, oh, ow);
}

@compute @workgroup_size(WG)
fn avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= bp.n) { return; }
  let c = i % bp.C;
  let w = (i / bp.C) % bp.W;
  let h = (i / (bp.C * bp.W)) % bp.H;
  let b = i / (bp.C * bp.W * bp.H);
  let r = covering(bp, h, w);
  var acc = 0.0;
  for (var oh = r.x; oh < r.y; oh++) {
    for (var ow = r.z; ow < r.w; ow++) {
      acc += bdy[((b * bp.OH + oh) * bp.OW + ow) * bp.C + c] / avg_divisor(bp, oh, ow);
    }
  }
  bdx[i] = acc;
}
