// Batch normalisation over the last axis (channels; NHWC images and [N, C] alike): x is viewed as
// R = size / C rows of C channels, and each channel is normalised over its R values.
//
// Forward (training): stats_partial → stats_finalize → normalize. Forward (eval): stats_eval → normalize.
// Backward: grad_partial → grad_finalize → dx (training) or dx_eval.
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

override WG: u32 = 64;
// Channels per workgroup tile: a power of two dividing WG; WG / CT row lanes.
override CT: u32 = 64;

struct Params {
  rows: u32,        // R
  channels: u32,    // C
  chunk_rows: u32,  // rows per slice
  chunks: u32,      // slices (ceil(R / chunk_rows))
  blocks: u32,      // channel tiles (ceil(C / CT))
  n: u32,           // R · C
  momentum: f32,    // running = (1 − momentum) · running + momentum · batch
  eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;            // [R, C]
@group(0) @binding(1) var<storage, read_write> part: array<f32>;   // [chunks, C, 2] per-slice partials
@group(0) @binding(2) var<uniform> p: Params;

@group(0) @binding(3) var<storage, read> fpart: array<f32>;            // [chunks, C, 2]
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;      // [2, C]: mean, 1/σ
@group(0) @binding(5) var<storage, read_write> run_mean: array<f32>;   // [C], updated in place
@group(0) @binding(6) var<storage, read_write> run_var: array<f32>;    // [C], updated in place
@group(0) @binding(7) var<storage, read> ev_mean: array<f32>;          // [C] running mean (eval)
@group(0) @binding(8) var<storage, read> ev_var: array<f32>;           // [C] running variance (eval)

@group(0) @binding(9) var<storage, read> sstats: array<f32>;           // [2, C]: mean, 1/σ
@group(0) @binding(10) var<storage, read> gamma: array<f32>;           // [C]
@group(0) @binding(11) var<storage, read> beta: array<f32>;            // [C]
@group(0) @binding(12) var<storage, read_write> y: array<f32>;         // [R, C]

@group(0) @binding(13) var<storage, read> dy: array<f32>;              // [R, C]
@group(0) @binding(14) var<storage, read_write> dgamma: array<f32>;    // [C]
@group(0) @binding(15) var<storage, read_write> dbeta: array<f32>;     // [C]
@group(0) @binding(16) var<storage, read> rdgamma: array<f32>;         // [C] (dgamma, read back)
@group(0) @binding(17) var<storage, read> rdbeta: array<f32>;          // [C] (dbeta, read back)
@group(0) @binding(18) var<storage, read_write> dx: array<f32>;        // [R, C]

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

fn tile_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Tile {
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
fn slice_rows(k: u32) -> u32 {
  let r0 = min(p.rows, k * p.chunk_rows);
  return min(p.rows, r0 + p.chunk_rows) - r0;
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
  let t = tile_of(wid, nwg, lid);
  var n = 0u;
  var m = 0.0;
  var s = 0.0;
  if (t.live) {
    let C = p.channels;
    for (var r = t.r0 + t.lane; r < t.r1; r += WG / CT) {
      let v = x[r * C + t.ch];
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
    let o = (t.chunk * p.channels + t.ch) * 2u;
    part[o] = wa[lid];
    part[o + 1u] = wb[lid];
  }
}

// Pass 2 (one invocation per channel): combine the slices, write mean and 1/σ (biased variance)
// and update the running statistics in place (unbiased variance, as PyTorch).
@compute @workgroup_size(WG)
fn stats_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = p.channels;
  if (c >= C) { return; }
  var acc = vec3<f32>(0.0, 0.0, 0.0);
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * C + c) * 2u;
    acc = chan(acc, vec3<f32>(f32(slice_rows(k)), fpart[o], fpart[o + 1u]));
  }
  let R = f32(p.rows);
  let mean = acc.y;
  let var_b = acc.z / R;
  stats[c] = mean;
  stats[C + c] = inverseSqrt(var_b + p.eps);
  let mo = p.momentum;
  run_mean[c] = (1.0 - mo) * run_mean[c] + mo * mean;
  run_var[c] = (1.0 - mo) * run_var[c] + mo * (acc.z / (R - 1.0));
}

// Eval statistics: mean and 1/σ from the running statistics (a snapshot for the backward pass).
@compute @workgroup_size(WG)
fn stats_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = p.channels;
  if (c >= C) { return; }
  stats[c] = ev_mean[c];
  stats[C + c] = inverseSqrt(ev_var[c] + p.eps);
}

// y = (x − mean) · (γ / σ) + β, one invocation per element.
@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let C = p.channels;
  let c = i % C;
  y[i] = (x[i] - sstats[c]) * (gamma[c] * sstats[C + c]) + beta[c];
}

// Backward pass 1: per (slice, channel) Σ dy and Σ dy · (x − mean) into part.
@compute @workgroup_size(WG)
fn grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid, nwg, lid);
  var a = 0.0;
  var b = 0.0;
  if (t.live) {
    let C = p.channels;
    let mean = sstats[t.ch];
    for (var r = t.r0 + t.lane; r < t.r1; r += WG / CT) {
      let i = r * C + t.ch;
      let g = dy[i];
      a += g;
      b += g * (x[i] - mean);
    }
  }
  wa[lid] = a;
  wb[lid] = b;
  combine_lanes(lid, t.lane, false);
  if (t.live && t.lane == 0u) {
    let o = (t.chunk * p.channels + t.ch) * 2u;
    part[o] = wa[lid];
    part[o + 1u] = wb[lid];
  }
}

// Backward pass 2 (one invocation per channel): dβ = Σ dy, dγ = Σ dy · x̂ = (Σ dy · (x − mean)) / σ.
@compute @workgroup_size(WG)
fn grad_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  let C = p.channels;
  if (c >= C) { return; }
  var a = 0.0;
  var b = 0.0;
  for (var k = 0u; k < p.chunks; k++) {
    let o = (k * C + c) * 2u;
    a += fpart[o];
    b += fpart[o + 1u];
  }
  dbeta[c] = a;
  dgamma[c] = b * sstats[C + c];
}

// Training dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), with mean(dy) = dβ / R and
// mean(dy · x̂) = dγ / R from grad_finalize.
@compute @workgroup_size(WG)
fn dx_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let C = p.channels;
  let c = i % C;
  let inv_r = 1.0 / f32(p.rows);
  let istd = sstats[C + c];
  let xhat = (x[i] - sstats[c]) * istd;
  dx[i] = gamma[c] * istd * (dy[i] - rdbeta[c] * inv_r - xhat * (rdgamma[c] * inv_r));
}

// Eval dx = γ/σ · dy (the running statistics are constants).
@compute @workgroup_size(WG)
fn dx_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let C = p.channels;
  let c = i % C;
  dx[i] = gamma[c] * sstats[C + c] * dy[i];
}
