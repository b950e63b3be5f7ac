// Tensor initialisation on the GPU: constant fill and seeded counter-based random numbers.
// Element i of a random tensor depends only on (seed, i), so results are reproducible and
// independent of dispatch shape. The generator is the PCG hash (O'Neill's PCG-RXS-M-XS step
// applied to a counter): pcg(pcg(seed ^ stream) ^ i), mixed once more for Box-Muller's second draw.
//   const_fill   — y = value
//   uniform_fill — y = low + (high − low) · u, u ∈ [0, 1) with 24 random bits
//   normal_fill  — y = mean + std · z, z standard normal by the Box-Muller transform

override WG: u32 = 256;

// Per-generator salts, so rand and randn with one seed are independent streams. The seed is
// hashed before the index is mixed in, so (seed a, index b) and (seed b, index a) differ.
const UNIFORM_STREAM: u32 = 0x2545f491u;
const NORMAL_STREAM: u32 = 0x6a09e667u;

struct FillParams {
  n: u32,
  value: f32,
  _p0: u32,
  _p1: u32,
}

struct RandomParams {
  n: u32,
  seed: u32,
  a: f32,   // uniform: low;  normal: mean
  b: f32,   // uniform: high; normal: std
}

// const_fill
@group(0) @binding(0) var<storage, read_write> fy: array<f32>;
@group(0) @binding(1) var<uniform> fp: FillParams;

// uniform_fill, normal_fill (binding numbers repeat across entry points: each gets its own
// bind group layout)
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> p: RandomParams;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn unit(h: u32) -> f32 {
  return f32(h >> 8u) * (1.0 / 16777216.0); // [0, 1)
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn const_fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= fp.n) { return; }
  fy[i] = fp.value;
}

@compute @workgroup_size(WG)
fn uniform_fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let h = pcg(pcg(p.seed ^ UNIFORM_STREAM) ^ i);
  y[i] = p.a + (p.b - p.a) * unit(h);
}

@compute @workgroup_size(WG)
fn normal_fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let h1 = pcg(pcg(p.seed ^ NORMAL_STREAM) ^ i);
  let h2 = pcg(h1 ^ 0x9e3779b9u);
  let u1 = 1.0 - unit(h1); // (0, 1]: log stays finite
  let u2 = unit(h2);
  let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  y[i] = p.a + p.b * z;
}
