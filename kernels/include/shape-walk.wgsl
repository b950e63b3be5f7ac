// One dimension of a row-major shape walk (gather's source offsets, reduce's kept and reduced
// offsets): the index rem % s along it times its stride, and what is left for the outer
// dimensions. Kernels write the walk out per dimension at constant uniform indices, the rank an
// override: on a CPU driver a uniform read at a run-time index is a gather per read.
fn dim_step(rem: ptr<function, u32>, off: ptr<function, u32>, s: u32, stride: u32) {
  *off += (*rem % s) * stride;
  *rem = *rem / s;
}
