// What the HEM E-step kernels share (kernels/hem.wgsl, hem-tiled.wgsl, hem-subgroups.wgsl): the
// masked softmax's "minus infinity" and the uniforms of the E-step and its adjoint.
const NEG_BIG: f32 = -3.402823e38;

// The E-step γ = softmax(S / τ): X [B, N, C], μ [B or 1, K4, C], γ [B, N, K4].
struct EstepParams {
  N: u32,
  C: u32,
  K: u32,         // the real number of bases; K..K4-1 are padding (γ = 0)
  K4: u32,
  mu_stride: u32, // K4·C, or 0 when μ is shared by the batch
  inv_tau: f32,   // 1 / τ
}

// The E-step's adjoint: dγ and the softmax adjoint dS over [B, N, K4].
struct EstepGradParams {
  N: u32,
  C: u32,
  K4: u32,
}
