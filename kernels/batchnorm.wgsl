// Batch normalisation over the last axis (channels; NHWC images and [N, C] alike): x is viewed as
// R = size / C rows of C channels, and each channel is normalised over its R values.
//
// Forward (training): stats_partial → stats_finalize → normalize. Forward (eval): stats_eval → normalize.
// Backward: grad_partial → grad_finalize → dx (training) or dx_eval.
// With RELU, the op is ReLU(batch norm): normalize clamps at 0 and the backward passes read the
// output y to take dy where y > 0 and 0 elsewhere (ReLU's adjoint), so neither ReLU nor its
// adjoint costs a pass of its own.
//
// The element-wise passes (normalize, dx_train, dx_eval) run one invocation per (channel, run of
// rows_per rows): the channel's statistics and affine parameters are read once per run instead
// of once per element, and there is no division by C per element. Adjacent invocations take
// adjacent channels, so the loads of a row are contiguous.
//
// Per-channel reductions over R rows run in parallel: the rows are split into `chunks` slices of
// `chunk_rows` rows, and the channels into `blocks` tiles of CT channels; one workgroup of WG
// invocations owns one (tile, slice) pair, its invocations laid out as CT channel lanes (adjacent
// channels, so the loads of a row are contiguous) × WG / CT row lanes. Each invocation reduces its
// rows serially, the row lanes combine in workgroup memory, and the slices are combined per
// channel by a one-invocation-per-channel finalize pass.
//
// Statistics are accumulated with Welford's update per invocation and Chan, Golub and LeVeque's
// pairwise combination across lanes and slices (mean and M2 = Σ (x − mean)², not Σx and Σx²):
// in f32, Σx² − (Σx)²/R cancels catastrophically when |mean| ≫ σ (a channel with mean 1000 and
// σ = 1 loses every digit of the variance: Σx² ≈ 1e6·R rounds in steps of ≈ 0.06·R), while
// Welford's M2 is a sum of non-negative terms computed from deviations, whose relative error grows
// with n·u·sqrt(1 + mean²/σ²) at worst and is far smaller in practice. One pass over x either way;
// the price is one division per element, which memory bandwidth hides on GPUs.
//
// Indices are bounded by the uniform's rows × channels, which the host sets from the bound
// tensors' sizes (x, dy, y and dx hold rows · channels values; the per-channel arrays C; part
// chunks · C · 2).
//
// Interfaces: each entry point has a uniform of its own holding only what it reads (the two
// sliced reductions share `Tiling`, the element-wise passes `Elements`), and its bindings are
// numbered 0, 1, … in order, the uniform last; numbers repeat across entry points, which is
// allowed because each gets its own bind group layout. Helpers take what they need as parameters.

override WG: u32 = 64;
// Channels per workgroup tile: a power of two dividing WG; WG / CT row lanes.
override CT: u32 = 64;
// ReLU fused after the normalisation (normalize), and its adjoint before the batch norm's
// (grad_partial, dx_train, dx_eval read y for it).
override RELU: bool = false;

// stats_partial, grad_partial: the tiling of a per-channel reduction over R rows.
struct Tiling {
  rows: u32,        // R
  channels: u32,    // C
  chunk_rows: u32,  // rows per slice
  chunks: u32,      // slices (ceil(R / chunk_rows))
  blocks: u32,      // channel tiles (ceil(C / CT))
}

struct FinalizeParams {
  rows: u32,        // R
  channels: u32,    // C
  chunk_rows: u32,  // rows per slice
  chunks: u32,      // slices
  momentum: f32,    // running = (1 − momentum) · running + momentum · batch
  eps: f32,
}

struct EvalStatsParams {
  channels: u32,
  eps: f32,
}

// normalize, dx_train, dx_eval: one invocation per (channel, run of rows_per rows) of [R, C].
struct Elements {
  n: u32,           // invocations: C · ⌈R / rows_per⌉
  channels: u32,    // C
  rows: u32,        // R
  rows_per: u32,    // rows per invocation
}

struct GradFinalizeParams {
  channels: u32,
  chunks: u32,
}

// stats_partial
@group(0) @binding(0) var<storage, read> sx: array<f32>;            // [R, C]
@group(0) @binding(1) var<storage, read_write> spart: array<f32>;   // [chunks, C, 2] per-slice partials
@group(0) @binding(2) var<uniform> sp: Tiling;

// stats_finalize
@group(0) @binding(0) var<storage, read> fpart: array<f32>;            // [chunks, C, 2]
@group(0) @binding(1) var<storage, read_write> fstats: array<f32>;     // [2, C]: mean, 1/σ
@group(0) @binding(2) var<storage, read_write> frun_mean: array<f32>;  // [C], updated in place
@group(0) @binding(3) var<storage, read_write> frun_var: array<f32>;   // [C], updated in place
@group(0) @binding(4) var<uniform> fp: FinalizeParams;

// stats_eval
@group(0) @binding(0) var<storage, read> erun_mean: array<f32>;        // [C] running mean
@group(0) @binding(1) var<storage, read> erun_var: array<f32>;         // [C] running variance
@group(0) @binding(2) var<storage, read_write> estats: array<f32>;     // [2, C]: mean, 1/σ
@group(0) @binding(3) var<uniform> ep: EvalStatsParams;

// normalize
@group(0) @binding(0) var<storage, read> nx: array<f32>;               // [R, C]
@group(0) @binding(1) var<storage, read> nstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(2) var<storage, read> ngamma: array<f32>;           // [C]
@group(0) @binding(3) var<storage, read> nbeta: array<f32>;            // [C]
@group(0) @binding(4) var<storage, read_write> ny: array<f32>;         // [R, C]
@group(0) @binding(5) var<uniform> np: Elements;

// grad_partial
@group(0) @binding(0) var<storage, read> gx: array<f32>;               // [R, C]
@group(0) @binding(1) var<storage, read> gdy: array<f32>;              // [R, C]
@group(0) @binding(2) var<storage, read> gstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(3) var<storage, read> gy: array<f32>;               // [R, C] y (read with RELU)
@group(0) @binding(4) var<storage, read_write> gpart: array<f32>;      // [chunks, C, 2]
@group(0) @binding(5) var<uniform> gp: Tiling;

// grad_finalize
@group(0) @binding(0) var<storage, read> hpart: array<f32>;            // [chunks, C, 2]
@group(0) @binding(1) var<storage, read> hstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(2) var<storage, read_write> hdgamma: array<f32>;    // [C]
@group(0) @binding(3) var<storage, read_write> hdbeta: array<f32>;     // [C]
@group(0) @binding(4) var<uniform> hp: GradFinalizeParams;

// dx_train
@group(0) @binding(0) var<storage, read> tx: array<f32>;               // [R, C]
@group(0) @binding(1) var<storage, read> tdy: array<f32>;              // [R, C]
@group(0) @binding(2) var<storage, read> tstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(3) var<storage, read> tgamma: array<f32>;           // [C]
@group(0) @binding(4) var<storage, read> tdgamma: array<f32>;          // [C] (grad_finalize's dγ)
@group(0) @binding(5) var<storage, read> tdbeta: array<f32>;           // [C] (grad_finalize's dβ)
@group(0) @binding(6) var<storage, read> ty: array<f32>;               // [R, C] y (read with RELU)
@group(0) @binding(7) var<storage, read_write> tdx: array<f32>;        // [R, C]
@group(0) @binding(8) var<uniform> tp: Elements;

// dx_eval
@group(0) @binding(0) var<storage, read> vdy: array<f32>;              // [R, C]
@group(0) @binding(1) var<storage, read> vstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(2) var<storage, read> vgamma: array<f32>;           // [C]
@group(0) @binding(3) var<storage, read> vy: array<f32>;               // [R, C] y (read with RELU)
@group(0) @binding(4) var<storage, read_write> vdx: array<f32>;        // [R, C]
@group(0) @binding(5) var<uniform> vp: Elements;

var<workgroup> wn: array<f32, WG>;
var<workgroup> wa: array<f32, WG>;
var<workgroup> wb: array<f32, WG>;

// The (channel tile, row slice) of a reduction workgroup and this invocation's place in it.
struct Tile {
  ch: u32,     // channel
  lane: u32,   // row lane
  chunk: u32,  // row slice
  r0: u32,     // first row of the slice
  r1: u32,     // one past its last row
  live: bool,  // ch < C and chunk < chunks
}

fn tile_of(p: Tiling, wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Tile {
  let group = wid.y * nwg.x + wid.x;
  var t: Tile;
  t.chunk = group / p.blocks;
  t.ch = (group % p.blocks) * CT + lid % CT;
  t.lane = lid / CT;
  t.live = t.ch < p.channels && t.chunk < p.chunks;
  t.r0 = min(p.rows, t.chunk * p.chunk_rows);
  t.r1 = min(p.rows, t.r0 + p.chunk_rows);
  return t;
}

// Chan et al.'s combination of two (count, mean, M2) summaries; an empty b leaves a unchanged.
fn chan(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  if (b.x == 0.0) { return a; }
  let n = a.x + b.x;
  let w = b.x / n;
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * w, a.z + b.z + d * d * a.x * w);
}

// Rows of slice `k` (every slice but the last holds chunk_rows).
fn slice_rows(k: u32, rows: u32, chunk_rows: u32) -> u32 {
  let r0 = min(rows, k * chunk_rows);
  return min(rows, r0 + chunk_rows) - r0;
}

// Combine the WG / CT row lanes of each channel lane in workgroup memory (wn, wa, wb), either
// as (count, mean, M2) summaries (welford) or as two plain sums. Lane 0 ends with the result.
fn combine_lanes(lid: u32, lane: u32, welford: bool) {
  workgroupBarrier();
  for (var step = WG / CT / 2u; step > 0u; step = step / 2u) {
    if (lane < step) {
      let o = lid + step * CT;
      if (welford) {
        let r = chan(vec3<f32>(wn[lid], wa[lid], wb[lid]), vec3<f32>(wn[o], wa[o], wb[o]));
        wn[lid] = r.x;
        wa[lid] = r.y;
        wb[lid] = r.z;
      } else {
        wa[lid] += wa[o];
        wb[lid] += wb[o];
      }
    }
    workgroupBarrier();
  }
}

// Pass 1 of the training statistics: per (slice, channel) mean and M2 into part.
@compute @workgroup_size(WG)
fn stats_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(sp, wid, nwg, lid);
  var n = 0u;
  var m = 0.0;
  var s = 0.0;
  if (t.live) {
    let C = sp.channels;
    for (var r = t.r0 + t.lane; r < t.r1; r += WG / CT) {
      let v = sx[r * C + t.ch];
      n += 1u;
      let d = v - m;
      m += d / f32(n);
      s += d * (v - m);
    }
  }
  wn[lid] = f32(n);
  wa[lid] = m;
  wb[lid] = s;
  combine_lanes(lid, t.lane, true);
  if (t.live && t.lane == 0u) {
    let o = (t.chunk * sp.channels + t.ch) * 2u;
    spart[o] = wa[lid];
    spart[o + 1u] = wb[lid];
  }
}

// Pass 2 (one invocation per channel): combine the slices, write mean and 1/σ (biased variance)
// and update the running statistics in place (unbiased variance, as PyTorch).
@compute @workgroup_size(WG)
fn stats_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = fp.channels;
  if (c >= C) { return; }
  var acc = vec3<f32>(0.0, 0.0, 0.0);
  for (var k = 0u; k < fp.chunks; k++) {
    let o = (k * C + c) * 2u;
    acc = chan(acc, vec3<f32>(f32(slice_rows(k, fp.rows, fp.chunk_rows)), fpart[o], fpart[o + 1u]));
  }
  let R = f32(fp.rows);
  let mean = acc.y;
  let var_b = acc.z / R;
  fstats[c] = mean;
  fstats[C + c] = inverseSqrt(var_b + fp.eps);
  let mo = fp.momentum;
  frun_mean[c] = (1.0 - mo) * frun_mean[c] + mo * mean;
  frun_var[c] = (1.0 - mo) * frun_var[c] + mo * (acc.z / (R - 1.0));
}

// Eval statistics: mean and 1/σ from the running statistics (a snapshot for the backward pass).
@compute @workgroup_size(WG)
fn stats_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = ep.channels;
  if (c >= C) { return; }
  estats[c] = erun_mean[c];
  estats[C + c] = inverseSqrt(erun_var[c] + ep.eps);
}

// The run of rows an element-wise invocation owns: channel c, rows r0..r1−1 (empty past the end).
struct Run {
  c: u32,
  r0: u32,
  r1: u32,
}

fn run_of(i: u32, C: u32, R: u32, rows_per: u32) -> Run {
  let r0 = (i / C) * rows_per;
  return Run(i % C, r0, min(R, r0 + rows_per));
}

// y = (x − mean) · (γ / σ) + β (then max(·, 0) with RELU).
@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= np.n) { return; }
  let C = np.channels;
  let t = run_of(i, C, np.rows, np.rows_per);
  let mean = nstats[t.c];
  let scale = ngamma[t.c] * nstats[C + t.c];
  let shift = nbeta[t.c];
  for (var r = t.r0; r < t.r1; r++) {
    let at = r * C + t.c;
    var v = (nx[at] - mean) * scale + shift;
    if (RELU) { v = max(v, 0.0); }
    ny[at] = v;
  }
}

// Backward pass 1: per (slice, channel) Σ dy and Σ dy · (x − mean) into part.
@compute @workgroup_size(WG)
fn grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(gp, wid, nwg, lid);
  var a = 0.0;
  var b = 0.0;
  if (t.live) {
    let C = gp.channels;
    let mean = gstats[t.ch];
    for (var r = t.r0 + t.lane; r < t.r1; r += WG / CT) {
      let i = r * C + t.ch;
      var g = gdy[i];
      if (RELU) { g = select(0.0, g, gy[i] > 0.0); }
      a += g;
      b += g * (gx[i] - mean);
    }
  }
  wa[lid] = a;
  wb[lid] = b;
  combine_lanes(lid, t.lane, false);
  if (t.live && t.lane == 0u) {
    let o = (t.chunk * gp.channels + t.ch) * 2u;
    gpart[o] = wa[lid];
    gpart[o + 1u] = wb[lid];
  }
}

// Backward pass 2 (one invocation per channel): dβ = Σ dy, dγ = Σ dy · x̂ = (Σ dy · (x − mean)) / σ.
@compute @workgroup_size(WG)
fn grad_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = hp.channels;
  if (c >= C) { return; }
  var a = 0.0;
  var b = 0.0;
  for (var k = 0u; k < hp.chunks; k++) {
    let o = (k * C + c) * 2u;
    a += hpart[o];
    b += hpart[o + 1u];
  }
  hdbeta[c] = a;
  hdgamma[c] = b * hstats[C + c];
}

// Training dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), with mean(dy) = dβ / R and
// mean(dy · x̂) = dγ / R from grad_finalize (dy masked by y > 0 with RELU, as grad_partial's).
@compute @workgroup_size(WG)
fn dx_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= tp.n) { return; }
  let C = tp.channels;
  let t = run_of(i, C, tp.rows, tp.rows_per);
  let inv_r = 1.0 / f32(tp.rows);
  let istd = tstats[C + t.c];
  let mean = tstats[t.c];
  let scale = tgamma[t.c] * istd;
  let mean_dy = tdbeta[t.c] * inv_r;
  let mean_dyx = tdgamma[t.c] * inv_r;
  for (var r = t.r0; r < t.r1; r++) {
    let at = r * C + t.c;
    var dy = tdy[at];
    if (RELU) { dy = select(0.0, dy, ty[at] > 0.0); }
    let xhat = (tx[at] - mean) * istd;
    tdx[at] = scale * (dy - mean_dy - xhat * mean_dyx);
  }
}

// Eval dx = γ/σ · dy (the running statistics are constants; dy masked by y > 0 with RELU).
@compute @workgroup_size(WG)
fn dx_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= vp.n) { return; }
  let C = vp.channels;
  let t = run_of(i, C, vp.rows, vp.rows_per);
  let scale = vgamma[t.c] * vstats[C + t.c];
  for (var r = t.r0; r < t.r1; r++) {
    let at = r * C + t.c;
    var dy = vdy[at];
    if (RELU) { dy = select(0.0, dy, vy[at] > 0.0); }
    vdx[at] = scale * dy;
  }
}
