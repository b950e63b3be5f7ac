// The uniform of every matmul entry point (kernels/matmul.wgsl, kernels/matmul-shared.wgsl):
// C[b] = alpha · op(A[b]) · op(B[b]) with A [M, K], B [K, N] (or transposed), batch strides in
// elements (0: one operand shared by the batch).
struct Params {
  M: u32,
  N: u32,
  K: u32,
  stride_a: u32,
  stride_b: u32,
  stride_c: u32,
  alpha: f32,
  // Split-K: workgroup_id.z = batch · splits + s; split s sums k in [s·k_chunk, (s+1)·k_chunk)
  // into its own output slice (the host adds the slices). splits = 1, k_chunk = K otherwise.
  splits: u32,
  k_chunk: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}
