// Bench-only probes for the roofline of bench/hem-profile.ts (bench/roofline.ts launches them):
// WebGPU reports no peak figures, so the adapter's are measured.
//   fma_peak   peak f32 FMA throughput: 8 independent vec4 FMA chains per invocation (32 lanes in
//              flight, enough to hide the FMA latency), a = fma(a, m, c) with m and c from a
//              uniform so that the compiler cannot fold the chains. With m = 1 and c = 2⁻¹⁰ every
//              step is exact in f32, so the host can check each invocation's result to the bit.
//   read_sum   read bandwidth: a grid-stride sum of a large vec4 buffer (one f32 written per
//              invocation, negligible next to the bytes read).
//   copy       copy bandwidth: a grid-stride vec4 copy (bytes read + bytes written).

override WG: u32 = 64;

// ------------------------------------------------------------------------------------- fma_peak
struct FmaParams {
  iterations: u32,  // loop trips; each trip runs 4 FMA steps on each of the 8 chains
  m: f32,
  c: f32,
}

@group(0) @binding(0) var<storage, read_write> fout: array<f32>;  // one value per invocation
@group(0) @binding(1) var<uniform> fp: FmaParams;

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let s = f32(i % 64u);
  var a0 = vec4<f32>(s, s + 1.0, s + 2.0, s + 3.0);
  var a1 = a0 + vec4<f32>(4.0);
  var a2 = a0 + vec4<f32>(8.0);
  var a3 = a0 + vec4<f32>(12.0);
  var a4 = a0 + vec4<f32>(16.0);
  var a5 = a0 + vec4<f32>(20.0);
  var a6 = a0 + vec4<f32>(24.0);
  var a7 = a0 + vec4<f32>(28.0);
  let m = vec4<f32>(fp.m);
  let c = vec4<f32>(fp.c);
  for (var t = 0u; t < fp.iterations; t++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  let v = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  fout[i] = (v.x + v.y) + (v.z + v.w);
}

// ------------------------------------------------------------------------------------- read_sum
struct StreamParams {
  n4: u32,       // vec4 elements in the buffer
  threads: u32,  // invocations in the grid (the stride)
}

@group(0) @binding(0) var<storage, read> rin: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> rout: array<f32>;   // one partial sum per invocation
@group(0) @binding(2) var<uniform> rp: StreamParams;

@compute @workgroup_size(WG)
fn read_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= rp.threads) { return; }
  var acc = vec4<f32>();
  for (var j = i; j < rp.n4; j += rp.threads) { acc += rin[j]; }
  rout[i] = (acc.x + acc.y) + (acc.z + acc.w);
}

// ----------------------------------------------------------------------------------------- copy
@group(0) @binding(0) var<storage, read> cin: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> cout: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> cp: StreamParams;

@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= cp.threads) { return; }
  for (var j = i; j < cp.n4; j += cp.threads) { cout[j] = cin[j]; }
}
