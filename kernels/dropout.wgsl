// Inverted dropout: y_i = x_i · keep_i / (1 − p), keep_i = [u_i ≥ p], where u_i is a uniform draw
// from a counter-based hash of (seed, i) — the PCG hash of kernels/random.wgsl,
// pcg(pcg(seed ^ DROPOUT_STREAM) ^ i), with its own stream salt so a dropout mask and rand() with
// the same seed are independent. Element i's mask depends only on (seed, i): the backward pass
// regenerates it by running this same kernel on dy with the same seed, so no mask is stored.
// The comparison is on the hash's top 24 bits against an integer threshold, drop iff
// (h >> 8) < threshold with threshold = round(p · 2^24): the drop probability is exactly
// threshold / 2^24 (within 2^-25 of p).

override WG: u32 = 256;

const DROPOUT_STREAM: u32 = 0x3c6ef372u;

struct Params {
  n: u32,
  seed: u32,
  threshold: u32,  // round(p · 2^24)
  scale: f32,      // 1 / (1 − p)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let h = pcg(pcg(p.seed ^ DROPOUT_STREAM) ^ i);
  let keep = (h >> 8u) >= p.threshold;
  y[i] = x[i] * select(0.0, p.scale, keep); // x · mask · scale, as PyTorch
}
