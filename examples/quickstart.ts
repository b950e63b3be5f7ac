/**
 * The README's first run: get a device, build tensors, multiply, softmax, backpropagate, and
 * check the gradient against a finite difference on the host. `npm start` runs this file.
 */
import { adapterInfo, crossEntropy, init, matmul, memoryStats, randn, softmax, sum, mul, tensor, tidy } from '../src/index.node.ts';

const t0 = performance.now();
await init();
const info = adapterInfo();
console.log(`hemgpu on ${info.description || info.device} (${info.vendor}, ${info.software ? 'CPU driver' : 'GPU'}, via ${info.via})`);

// Features x [N, C] and bases mu [K, C]: one E-step of the HEM layer, by hand.
const N = 6,
  C = 4,
  K = 3;
const x = randn([N, C], { seed: 1, requiresGrad: true });
const mu = randn([K, C], { seed: 2, requiresGrad: true });
const loss = tidy(() => {
  const gamma = softmax(matmul(x, mu, { transB: true }), { scale: 1 / Math.sqrt(C) }); // [N, K]
  const recon = matmul(gamma, mu); // R-step: [N, C]
  const l = sum(mul(recon, recon));
  l.backward(); // forward and backward in one tidy: intermediates are freed after both
  return l;
});
console.log('loss                 ', (await loss.item()).toFixed(6));
console.log('d loss / d mu [0, :] ', Array.from((await mu.grad!.read()).slice(0, C), (v) => v.toFixed(5)).join(' '));

// Check one gradient entry against a central difference computed from the same ops.
const xs = await x.read();
const ms = await mu.read();
const lossAt = async (m: Float32Array): Promise<number> => {
  const t = tidy(() => {
    const xm = tensor(xs, [N, C]);
    const mm = tensor(m, [K, C]);
    const r = matmul(softmax(matmul(xm, mm, { transB: true }), { scale: 1 / Math.sqrt(C) }), mm);
    return sum(mul(r, r));
  });
  const v = await t.item();
  t.dispose();
  return v;
};
const h = 1e-2;
const plus = ms.slice();
plus[0]! += h;
const minus = ms.slice();
minus[0]! -= h;
const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
const an = (await mu.grad!.read())[0]!;
console.log(`gradient check mu[0,0]: autograd ${an.toFixed(5)}  finite difference ${fd.toFixed(5)}  ${Math.abs(an - fd) < 2e-2 * Math.max(1, Math.abs(fd)) ? 'OK' : 'MISMATCH'}`);

// A classifier loss with an ignored label.
const logits = tensor(
  [
    [2, 0.5, -1],
    [0.1, 0.2, 0.3],
  ],
  [2, 3],
);
console.log('cross-entropy        ', (await crossEntropy(logits, [0, -100]).item()).toFixed(6));
const m = memoryStats();
console.log(`memory: ${m.liveTensors} live tensors, ${m.liveBytes} B live, ${m.pooledBytes} B pooled; ${(performance.now() - t0).toFixed(0)} ms`);
process.exit(0);
