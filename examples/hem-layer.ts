/**
 * The README's HEM example: the layer with both presets, a custom configuration, the trace,
 * and the HEM module with EMANet's moving average.   node scripts/run.mjs examples/hem-layer.ts
 */
import { HEM, adapterInfo, hem, init, matmul, mul, randn, softmax, sum, tidy } from '../src/index.node.ts';

await init();
console.log(`adapter: ${adapterInfo().description || adapterInfo().device}`);

// The README's first example: one E-step and R-step by hand.
{
  const x = randn([4096, 64], { seed: 1, requiresGrad: true });
  const mu = randn([64, 64], { seed: 2, requiresGrad: true });
  const loss = tidy(() => {
    const gamma = softmax(matmul(x, mu, { transB: true }), { scale: 1 / 8 });
    const l = sum(mul(matmul(gamma, mu), x));
    l.backward();
    return l;
  });
  console.log('hand-written E/R-step loss', (await loss.item()).toFixed(3), 'dmu[0, 0:4]', Array.from((await mu.grad!.read()).slice(0, 4), (v) => v.toFixed(3)).join(' '));
}

const B = 2,
  N = 32 * 32,
  C = 64,
  K = 16;
const x = randn([B, N, C], { seed: 3, requiresGrad: true });
const mu0 = randn([K, C], { seed: 4, std: 1 / Math.sqrt(C), requiresGrad: true });
const g = randn([B, N, C], { seed: 5 });

const { out, trace } = hem(x, mu0, { preset: 'hemnet', trace: true });
sum(mul(out, g)).backward();
const t = await trace!.read();
const fmt = (v: number[]): string => v.map((z) => z.toPrecision(4)).join(', ');
console.log('hemnet (η = 0.5, τ = √C, T = 3)');
console.log('  ELBO per iteration        ', fmt(t.elbo));
console.log('  ‖μ(t+1) − μ(t)‖           ', fmt(t.muStep));
console.log('  mean |dE/dX| from N-steps ', fmt(t.gradXFromNStep));
console.log('  mean |dE/dX| from E-steps ', fmt(t.gradXFromEStep));
console.log('  ‖dE/dμ(t)‖, t = 0..T      ', fmt(t.gradMuNorm));

const emanet = hem(x, mu0, { preset: 'emanet' });
console.log('emanet preset: out requires grad?', emanet.out.requiresGrad, '(no gradient through the EM iterations)');
const custom = hem(x, mu0, { eta: 0.2, iterations: 6, estep: 'rbf', fused: false, trace: true });
console.log('rbf E-step, η = 0.2, T = 6, unfused: ELBO', fmt((await custom.trace!.read()).elbo));

const unit = new HEM({ channels: C, bases: K });
const before = await unit.mu0.read();
unit.forward(x.detach());
const after = await unit.mu0.read();
console.log('HEM module: μ(0) moved by', Math.sqrt(before.reduce((s, v, i) => s + (v - after[i]!) ** 2, 0)).toFixed(4), 'after one training-mode forward');
process.exit(0);
