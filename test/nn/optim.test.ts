/**
 * SGD and AdamW (src/optim/, kernels/optim.wgsl) against float64 host transcriptions of
 * PyTorch's algorithms (torch/optim/sgd.py with dampening 0, torch/optim/adamw.py without
 * amsgrad): 5 steps over parameters of odd sizes (1, 3, 5, 7·33, 255, 257, 769 elements:
 * inside one 256-element chunk, across chunk boundaries), two groups with different lr, weight
 * decay and momentum, momentum on/off, Nesterov, learning-rate changes mid-run, a parameter with
 * gradients on some steps only and one that never gets a gradient (untouched, bit for bit).
 * Gradients come from real backward() passes: L = Σ_i Σ θ_i ⊙ W_i gives ∂L/∂θ_i = W_i exactly.
 * Also: one dispatch per group per step, no buffer growth, zeroGrad, setLr, state round trips
 * (bit-identical to an uninterrupted run), refused states, bad arguments, the poly schedule.
 *
 * Tolerances: running error analysis. The reference carries, next to each float64 value x, a
 * bound e on |engine − x|, propagated to first order through each operation in the kernel's
 * order (EV below; helpers.ts has the model): + − × are correctly rounded in WGSL, adding
 * u·(|z| + e) (u = 2^-24); x / y is 2.5 ULP and sqrt 4.5 ULP (1 / inverseSqrt), 1 ULP = 2u|z|.
 * Hyper-parameters reach the kernel as f32 (a uniform) or host-computed f32 (1 − β, 1 − lr·wd,
 * bias corrections): their rounding |f32(h) − h| is the constant's error. Products of two errors
 * are kept (a.e·b.e), and divisions use |b| − e_b, so the bound is not only first order.
 * The errors feed through the state (momentum, moments) from step to step as in the kernel.
 * An FMA contraction of a·b + c rounds once where the bound counts twice: still covered.
 * Flushing subnormals to zero (allowed on GPUs) is covered by an absolute 2^-126.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, ULP, expectClose, expectExact } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const FTZ = 2 ** -126;

// ---------------------------------------------------------------------------------------------
// Error-tracked float64 values

/** A float64 value and a bound on the f32 engine's distance from it. */
class EV {
  constructor(
    readonly v: number,
    readonly e: number,
  ) {}
}
/** An exact f32 input. */
const X = (v: number): EV => new EV(v, 0);
/** A hyper-parameter (or host-computed constant) that the kernel receives rounded to f32. */
const C = (h: number): EV => new EV(h, Math.abs(Math.fround(h) - h));
const round = (z: number, e: number, ulps: number): EV => new EV(z, e + ulps * ULP * (Math.abs(z) + e));
const add = (a: EV, b: EV): EV => round(a.v + b.v, a.e + b.e, 0.5);
const sub = (a: EV, b: EV): EV => round(a.v - b.v, a.e + b.e, 0.5);
const mul = (a: EV, b: EV): EV => round(a.v * b.v, Math.abs(a.v) * b.e + Math.abs(b.v) * a.e + a.e * b.e, 0.5);
function div(a: EV, b: EV): EV {
  const z = a.v / b.v;
  if (Math.abs(b.v) <= b.e) throw new Error('div: the denominator bound includes 0');
  return round(z, (a.e + Math.abs(z) * b.e) / (Math.abs(b.v) - b.e), 2.5);
}
function sqrt(a: EV): EV {
  const z = Math.sqrt(a.v);
  // |√x − √y| = |x − y| / (√x + √y)
  return round(z, a.e / (Math.sqrt(Math.max(a.v - a.e, 0)) + z), 4.5);
}
// 0.5 ULP = u: the correctly rounded operations.
void U;

// ---------------------------------------------------------------------------------------------
// The problem: parameters, groups, gradients per step

interface ParamSpec {
  shape: number[];
  group: number;
  /** Steps with a gradient (default: every step). */
  gradSteps?: number[];
}

const SPECS: ParamSpec[] = [
  { shape: [1], group: 0 },
  { shape: [3, 5, 17], group: 0 }, // 255: one chunk less one element
  { shape: [257], group: 0 }, // crosses a chunk boundary by one
  { shape: [5], group: 0, gradSteps: [] }, // never a gradient: must stay bit-identical
  { shape: [7, 33], group: 1 },
  { shape: [3], group: 1, gradSteps: [0, 3] }, // skipped steps: no decay, no state update
  { shape: [769], group: 1 }, // three chunks and one element
];
const STEPS = 5;

const sizeOf = (s: readonly number[]): number => s.reduce((a, d) => a * d, 1);
const hasGrad = (p: ParamSpec, step: number): boolean => (p.gradSteps ? p.gradSteps.includes(step) : true);

interface Problem {
  init: Float32Array[];
  /** grads[step][param] (f32 values), null where the parameter gets no gradient. */
  grads: (Float32Array | null)[][];
}

function problem(seed: number, specs = SPECS, steps = STEPS): Problem {
  const rng = new Rng(seed);
  const init = specs.map((p) => rng.f32(sizeOf(p.shape), -1, 1));
  const grads = Array.from({ length: steps }, (_, s) => specs.map((p) => (hasGrad(p, s) ? rng.f32(sizeOf(p.shape), -1, 1) : null)));
  return { init, grads };
}

function makeParams(values: Float32Array[], specs = SPECS): hg.Tensor[] {
  return values.map((v, i) => hg.tensor(v, specs[i]!.shape, { requiresGrad: true }).keep());
}

/** One backward pass giving each parameter with a gradient this step exactly its W. */
function backward(params: hg.Tensor[], grads: (Float32Array | null)[]): void {
  hg.tidy(() => {
    let loss: hg.Tensor | null = null;
    params.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      const l = hg.sum(hg.mul(p, hg.tensor(g, p.shape)));
      loss = loss ? hg.add(loss, l) : l;
    });
    (loss as hg.Tensor | null)?.backward();
  });
}

/** Learning-rate changes before a step: [step, group (undefined = all), lr]. */
type LrChange = [number, number | undefined, number];

function groupsOf<T>(params: hg.Tensor[], specs: ParamSpec[], extra: T[]): Array<{ params: hg.Tensor[] } & T> {
  return extra.map((x, g) => ({ ...x, params: params.filter((_, i) => specs[i]!.group === g) }));
}

async function runEngine(
  make: (params: hg.Tensor[]) => hg.SGD | hg.AdamW,
  prob: Problem,
  changes: LrChange[] = [],
  specs = SPECS,
): Promise<{ values: Float32Array[]; opt: hg.SGD | hg.AdamW; params: hg.Tensor[] }> {
  const params = makeParams(prob.init, specs);
  const opt = make(params);
  prob.grads.forEach((grads, s) => {
    for (const [at, g, lr] of changes) if (at === s) g === undefined ? opt.setLr(lr) : opt.setLr(g, lr);
    opt.zeroGrad();
    backward(params, grads);
    opt.step();
  });
  const values = await Promise.all(params.map((p) => p.read()));
  return { values, opt, params };
}

function dispose(r: { opt: { dispose(): void; zeroGrad(): void }; params: hg.Tensor[] }): void {
  r.opt.zeroGrad();
  r.opt.dispose();
  for (const p of r.params) p.dispose();
}

// ---------------------------------------------------------------------------------------------
// References (float64 transcriptions of PyTorch, with error bounds)

interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** torch.optim.SGD._single_tensor_sgd (dampening 0, maximize off), per group hyper-parameters. */
function refSgd(prob: Problem, hyper: SgdHyper[], changes: LrChange[] = [], specs = SPECS): EV[][] {
  const theta = prob.init.map((p) => Array.from(p, X));
  const buf: (EV[] | null)[] = specs.map(() => null);
  const h = hyper.map((x) => ({ ...x }));
  prob.grads.forEach((grads, s) => {
    for (const [at, g, lr] of changes) if (at === s) h.forEach((x, i) => (g === undefined || g === i ? (x.lr = lr) : 0));
    specs.forEach((spec, i) => {
      const grad = grads[i];
      if (!grad) return; // PyTorch skips parameters whose grad is None
      const { lr, momentum, weightDecay, nesterov } = h[spec.group]!;
      const th = theta[i]!;
      const first = buf[i] === null;
      if (momentum !== 0) buf[i] ??= new Array<EV>(th.length);
      for (let k = 0; k < th.length; k++) {
        let d = X(grad[k]!);
        if (weightDecay !== 0) d = add(d, mul(C(weightDecay), th[k]!));
        if (momentum !== 0) {
          // First use: buf = clone(d_p); later buf = μ·buf + d_p (the kernel's zero buffer gives the same).
          const b = first ? d : add(mul(C(momentum), buf[i]![k]!), d);
          buf[i]![k] = b;
          d = nesterov ? add(d, mul(C(momentum), b)) : b;
        }
        th[k] = sub(th[k]!, mul(C(lr), d));
      }
    });
  });
  return theta;
}

interface AdamHyper {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW._single_tensor_adamw (amsgrad, maximize, capturable off). */
function refAdamW(prob: Problem, hyper: AdamHyper[], changes: LrChange[] = [], specs = SPECS): EV[][] {
  const theta = prob.init.map((p) => Array.from(p, X));
  const m = prob.init.map((p) => Array.from(p, () => X(0)));
  const v = prob.init.map((p) => Array.from(p, () => X(0)));
  const step = specs.map(() => 0);
  const h = hyper.map((x) => ({ ...x }));
  prob.grads.forEach((grads, s) => {
    for (const [at, g, lr] of changes) if (at === s) h.forEach((x, i) => (g === undefined || g === i ? (x.lr = lr) : 0));
    specs.forEach((spec, i) => {
      const grad = grads[i];
      if (!grad) return;
      const { lr, betas, eps, weightDecay } = h[spec.group]!;
      const t = ++step[i]!;
      const bc1 = C(1 - betas[0] ** t);
      const bc2Sqrt = C(Math.sqrt(1 - betas[1] ** t));
      const stepSize = div(C(lr), bc1);
      for (let k = 0; k < grad.length; k++) {
        const g = X(grad[k]!);
        const th = mul(theta[i]![k]!, C(1 - lr * weightDecay)); // param.mul_(1 - lr * weight_decay)
        const mk = add(m[i]![k]!, mul(C(1 - betas[0]), sub(g, m[i]![k]!))); // exp_avg.lerp_(grad, 1 - beta1)
        const vk = add(mul(C(betas[1]), v[i]![k]!), mul(C(1 - betas[1]), mul(g, g))); // .mul_(b2).addcmul_(g, g, 1 - b2)
        m[i]![k] = mk;
        v[i]![k] = vk;
        const denom = add(div(sqrt(vk), bc2Sqrt), C(eps));
        theta[i]![k] = sub(th, mul(stepSize, div(mk, denom))); // param.addcdiv_(exp_avg, denom, -step_size)
      }
    });
  });
  return theta;
}

function expectParams(actual: Float32Array[], ref: EV[][], label: string, prob: Problem, specs = SPECS): void {
  specs.forEach((spec, i) => {
    const name = `${label}: parameter ${i} ${JSON.stringify(spec.shape)}`;
    if (spec.gradSteps && spec.gradSteps.length === 0) {
      expectExact(actual[i]!, prob.init[i]!, `${name} (never had a gradient)`);
      return;
    }
    expectClose(
      actual[i]!,
      ref[i]!.map((x) => x.v),
      { atol: FTZ, rtol: 0, bound: ref[i]!.map((x) => x.e), shape: spec.shape, label: name },
    );
  });
}

// ---------------------------------------------------------------------------------------------

/** Count dispatches of the optimizer kernels while `fn` runs. */
async function countDispatches<T>(fn: () => Promise<T>): Promise<{ result: T; counts: Map<string, number> }> {
  const counts = new Map<string, number>();
  const kernels = hg.registeredKernels().filter((k) => k.name.startsWith('optim_'));
  const originals = kernels.map((k) => k.dispatch);
  kernels.forEach((k, i) => {
    k.dispatch = (args) => {
      counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
      originals[i]!.call(k, args);
    };
  });
  try {
    return { result: await fn(), counts };
  } finally {
    kernels.forEach((k) => delete (k as { dispatch?: unknown }).dispatch);
  }
}

const live = (): number => hg.memoryStats().liveTensors;
let baseline = 0;
afterEach(() => {
  // Every test disposes its parameters, gradients, optimizer and state copies.
  const leaked = live() - baseline;
  baseline = live();
  expect(leaked, 'tensors left alive by this test').toBe(0);
});
beforeAll(() => {
  baseline = live();
});

describe('SGD vs float64 PyTorch transcription', () => {
  const cases: Array<{ name: string; hyper: SgdHyper[]; changes?: LrChange[] }> = [
    {
      name: 'no momentum in group 0, momentum 0.9 in group 1, weight decay in group 0 only',
      hyper: [
        { lr: 0.1, momentum: 0, weightDecay: 1e-2, nesterov: false },
        { lr: 0.05, momentum: 0.9, weightDecay: 0, nesterov: false },
      ],
    },
    {
      name: 'momentum 0.9 / 0.5, weight decay 1e-4 / 0, lr changed by setLr mid-run',
      hyper: [
        { lr: 0.01, momentum: 0.9, weightDecay: 1e-4, nesterov: false },
        { lr: 0.03, momentum: 0.5, weightDecay: 0, nesterov: false },
      ],
      changes: [
        [2, 0, 0.005],
        [4, undefined, 0.002],
      ],
    },
    {
      name: 'nesterov, weight decay in both groups',
      hyper: [
        { lr: 0.02, momentum: 0.9, weightDecay: 5e-4, nesterov: true },
        { lr: 0.07, momentum: 0.8, weightDecay: 1e-3, nesterov: true },
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const prob = problem(11);
      const [g0, g1] = c.hyper;
      const { result: r, counts } = await countDispatches(() => runEngine((params) => new hg.SGD(groupsOf(params, SPECS, [{}, { ...g1 }]), g0), prob, c.changes));
      expectParams(r.values, refSgd(prob, c.hyper, c.changes), 'SGD', prob);
      // One fused dispatch per group per step, whatever the number of parameters.
      expect(counts.get('optim_sgd')).toBe(2 * STEPS);
      dispose(r);
    });
  }
});

describe('AdamW vs float64 PyTorch transcription', () => {
  const cases: Array<{ name: string; hyper: AdamHyper[]; changes?: LrChange[] }> = [
    {
      name: 'default betas, weight decay 1e-2 / 0',
      hyper: [
        { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
        { lr: 3e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
      ],
    },
    {
      name: 'other betas and eps per group, lr changed by setLr mid-run',
      hyper: [
        { lr: 5e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 },
        { lr: 2e-2, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 1e-3 },
      ],
      changes: [
        [1, 1, 1e-2],
        [3, undefined, 1e-3],
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const prob = problem(23);
      const [g0, g1] = c.hyper;
      const { result: r, counts } = await countDispatches(() => runEngine((params) => new hg.AdamW(groupsOf(params, SPECS, [{}, { ...g1 }]), g0), prob, c.changes));
      expectParams(r.values, refAdamW(prob, c.hyper, c.changes), 'AdamW', prob);
      expect(counts.get('optim_adamw')).toBe(2 * STEPS);
      dispose(r);
    });
  }

  test('a group none of whose parameters has a gradient is not dispatched and keeps its step counts', async () => {
    const prob = problem(5);
    for (const g of prob.grads) SPECS.forEach((s, i) => (s.group === 1 ? (g[i] = null) : 0));
    const hyper: AdamHyper[] = [
      { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
      { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
    ];
    const { result: r, counts } = await countDispatches(() => runEngine((params) => new hg.AdamW(groupsOf(params, SPECS, [{}, {}]), hyper[0]), prob));
    expect(counts.get('optim_adamw')).toBe(STEPS);
    SPECS.forEach((s, i) => (s.group === 1 ? expectExact(r.values[i]!, prob.init[i]!, `group 1 parameter ${i}`) : 0));
    const steps = (JSON.parse(hg.tidy(() => r.opt.state().meta)) as { groups: Array<{ params: Array<{ step: number }> }> }).groups.map((g) => g.params.map((p) => p.step));
    expect(steps).toEqual([
      [5, 5, 5, 0],
      [0, 0, 0],
    ]);
    expectParams(r.values, refAdamW(prob, hyper), 'AdamW', prob);
    dispose(r);
  });
});

describe('step, zeroGrad, setLr', () => {
  test('updates in place: the same tensor handles, no buffers created after the first step', async () => {
    const prob = problem(3, SPECS, 8);
    const params = makeParams(prob.init);
    const ids = params.map((p) => p.id);
    const opt = new hg.SGD(params, { lr: 0.1, momentum: 0.9 });
    let created = 0;
    prob.grads.forEach((grads, s) => {
      opt.zeroGrad();
      backward(params, grads);
      opt.step();
      if (s === 1) created = hg.memoryStats().buffersCreated;
    });
    await hg.sync();
    expect(hg.memoryStats().buffersCreated).toBe(created);
    expect(params.map((p) => p.id)).toEqual(ids);
    expect(params.every((p) => !p.isDisposed)).toBe(true);
    dispose({ opt, params });
  });

  test('zeroGrad drops every gradient; a step without gradients changes nothing', async () => {
    const prob = problem(4);
    const params = makeParams(prob.init);
    const opt = new hg.AdamW(params, { lr: 0.1 });
    backward(params, prob.grads[0]!);
    expect(params.filter((p) => p.grad !== null).length).toBe(6);
    opt.zeroGrad();
    expect(params.every((p) => p.grad === null)).toBe(true);
    opt.step();
    const after = await Promise.all(params.map((p) => p.read()));
    after.forEach((a, i) => expectExact(a, prob.init[i]!, `parameter ${i}`));
    const meta = JSON.parse(hg.tidy(() => opt.state().meta)) as { groups: Array<{ params: Array<{ step: number }> }> };
    expect(meta.groups[0]!.params.every((p) => p.step === 0)).toBe(true);
    dispose({ opt, params });
  });

  test('setLr / getLr: all groups or one; lr 0 leaves SGD parameters unchanged', async () => {
    const prob = problem(6);
    const params = makeParams(prob.init);
    const opt = new hg.SGD(groupsOf(params, SPECS, [{ lr: 0.1 }, { lr: 0.2 }]), { lr: 1 });
    expect([opt.getLr(0), opt.getLr(1)]).toEqual([0.1, 0.2]);
    opt.setLr(1, 0.5);
    expect([opt.getLr(0), opt.getLr(1)]).toEqual([0.1, 0.5]);
    opt.setLr(0);
    expect([opt.getLr(0), opt.getLr(1)]).toEqual([0, 0]);
    backward(params, prob.grads[0]!);
    opt.step();
    const after = await Promise.all(params.map((p) => p.read()));
    after.forEach((a, i) => expectExact(a, prob.init[i]!, `parameter ${i}`));
    expect(() => opt.setLr(2, 0.1)).toThrow('SGD.setLr(): group index 2 is out of range; this optimizer has 2 group(s).');
    expect(() => opt.setLr(-1)).toThrow('SGD.setLr(): the learning rate must be a finite number ≥ 0, got -1.');
    expect(() => opt.setLr(0, NaN)).toThrow('got NaN');
    expect(opt.hyperParams(1)).toEqual({ lr: 0, momentum: 0, weightDecay: 0, nesterov: false });
    expect(opt.params(1)).toEqual(params.filter((_, i) => SPECS[i]!.group === 1));
    dispose({ opt, params });
  });
});

describe('state() / loadState()', () => {
  const makers: Array<[string, (params: hg.Tensor[], lrScale?: number) => hg.SGD | hg.AdamW]> = [
    [
      'SGD momentum',
      (p, k = 1) =>
        new hg.SGD(
          groupsOf(p, SPECS, [
            { lr: 0.05 * k, weightDecay: 1e-3 },
            { lr: 0.02 * k, momentum: 0.5 },
          ]),
          { momentum: 0.9 },
        ),
    ],
    ['SGD nesterov', (p, k = 1) => new hg.SGD(groupsOf(p, SPECS, [{ lr: 0.05 * k }, { lr: 0.02 * k, weightDecay: 1e-2 }]), { momentum: 0.9, nesterov: true })],
    ['AdamW', (p, k = 1) => new hg.AdamW(groupsOf(p, SPECS, [{ lr: 1e-2 * k }, { lr: 3e-3 * k, weightDecay: 0 }]), { betas: [0.85, 0.995] })],
  ];
  for (const [name, make] of makers) {
    for (const via of ['host', 'gpu'] as const) {
      test(`${name}: 2 steps + state → fresh optimizer (${via} copies) + 3 steps = 5 steps straight, bit for bit`, async () => {
        const prob = problem(31);
        const straight = await runEngine((p) => make(p), prob);
        const stateA = straight.opt.state();
        const straightState = await Promise.all(Object.values(stateA.tensors).map((t) => t.read()));

        const first = await runEngine((p) => make(p), { init: prob.init, grads: prob.grads.slice(0, 2) });
        const saved = first.opt.state();
        // A checkpoint holds host arrays; 'gpu' hands the state() tensors over directly.
        const tensors: Record<string, hg.Tensor | { data: Float32Array; shape: readonly number[] }> = {};
        for (const [k, t] of Object.entries(saved.tensors)) tensors[k] = via === 'host' ? { data: await t.read(), shape: t.shape } : t;
        // The resumed run starts from the saved weights with an optimizer built with other lrs
        // (loadState restores them) and moves on with the remaining gradients.
        const params = makeParams(first.values);
        const opt = make(params, 7);
        opt.loadState({ tensors: { ...tensors, 'model.weight': { data: new Float32Array(1), shape: [1] } }, meta: saved.meta });
        expect(opt.getLr(0)).toBe(first.opt.getLr(0));
        prob.grads.slice(2).forEach((grads) => {
          opt.zeroGrad();
          backward(params, grads);
          opt.step();
        });
        const resumed = await Promise.all(params.map((p) => p.read()));
        resumed.forEach((r, i) => expectExact(r, straight.values[i]!, `${name} parameter ${i}`));
        const stateB = opt.state();
        expect(Object.keys(stateB.tensors)).toEqual(Object.keys(stateA.tensors));
        const resumedState = await Promise.all(Object.values(stateB.tensors).map((t) => t.read()));
        resumedState.forEach((r, i) => expectExact(r, straightState[i]!, `${name} state ${Object.keys(stateB.tensors)[i]}`));
        expect(stateB.meta).toBe(stateA.meta);
        for (const t of [...Object.values(stateA.tensors), ...Object.values(stateB.tensors), ...Object.values(saved.tensors)]) t.dispose();
        dispose(straight);
        dispose(first);
        dispose({ opt, params });
      });
    }
  }

  test('state layout: keys, shapes, meta', () => {
    const prob = problem(1);
    const params = makeParams(prob.init);
    const opt = new hg.SGD(groupsOf(params, SPECS, [{ momentum: 0 }, { momentum: 0.9 }]), { lr: 0.1 });
    hg.tidy(() => {
      const s = opt.state('opt/');
      // Group 0 has no momentum, so no buffers; group 1 has one per parameter.
      expect(Object.keys(s.tensors)).toEqual(['opt/1.0.momentum_buffer', 'opt/1.1.momentum_buffer', 'opt/1.2.momentum_buffer']);
      expect(s.tensors['opt/1.2.momentum_buffer']!.shape).toEqual([769]);
      expect(JSON.parse(s.meta)).toEqual({
        optimizer: 'SGD',
        version: 1,
        groups: [
          { hyper: { lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false }, params: [[1], [3, 5, 17], [257], [5]].map((shape) => ({ shape, step: 0 })) },
          { hyper: { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false }, params: [[7, 33], [3], [769]].map((shape) => ({ shape, step: 0 })) },
        ],
      });
    });
    dispose({ opt, params });
  });

  test('a refused state names the problem and changes nothing', async () => {
    const prob = problem(2);
    const params = makeParams(prob.init);
    const make = (): hg.AdamW => new hg.AdamW(groupsOf(params, SPECS, [{}, { weightDecay: 0 }]), { lr: 1e-2 });
    const opt = make();
    const other = make();
    backward(params, prob.grads[0]!);
    other.step();
    hg.tidy(() => {
      const good = other.state();
      const meta = JSON.parse(good.meta) as { groups: Array<{ hyper: Record<string, unknown>; params: Array<{ shape: number[]; step: number }> }> };
      const withMeta = (f: (m: typeof meta) => void): string => {
        const m = JSON.parse(good.meta) as typeof meta;
        f(m);
        return JSON.stringify(m);
      };
      const bad: Array<[string, hg.OptimizerStateInput]> = [
        ['the meta string is not JSON', { tensors: good.tensors, meta: '{"optimizer": ' }],
        ["the state is from optimizer 'SGD', not AdamW", { tensors: good.tensors, meta: good.meta.replace('"AdamW"', '"SGD"') }],
        ['the state has 1 group(s); this optimizer has 2', { tensors: good.tensors, meta: withMeta((m) => m.groups.pop()) }],
        ['group 1 parameter 2 has shape [768] in the state but [769] here', { tensors: good.tensors, meta: withMeta((m) => (m.groups[1]!.params[2]!.shape = [768])) }],
        ['group 0 has 3 parameter(s) in the state but 4 here', { tensors: good.tensors, meta: withMeta((m) => m.groups[0]!.params.pop()) }],
        ['group 0 parameter 1: step count -1 is not an integer ≥ 0', { tensors: good.tensors, meta: withMeta((m) => (m.groups[0]!.params[1]!.step = -1)) }],
        ['group 1: betas[1] must be a finite number in [0, 1), got 1', { tensors: good.tensors, meta: withMeta((m) => (m.groups[1]!.hyper.betas = [0.9, 1])) }],
        ["group 0: unknown hyper-parameter 'momentum' in the state", { tensors: good.tensors, meta: withMeta((m) => (m.groups[0]!.hyper.momentum = 0.9)) }],
        ["the state has no tensor 'optim.1.2.exp_avg_sq'", { tensors: { ...good.tensors, 'optim.1.2.exp_avg_sq': undefined as unknown as hg.Tensor }, meta: good.meta }],
        [
          "tensor 'optim.0.2.exp_avg' must be f32 of shape [257] (its parameter's), got Float32Array of shape [256]",
          { tensors: { ...good.tensors, 'optim.0.2.exp_avg': { data: new Float32Array(256), shape: [256] } }, meta: good.meta },
        ],
        [
          "tensor 'optim.0.0.exp_avg' must be f32 of shape [1] (its parameter's), got Int32Array of shape [1]",
          { tensors: { ...good.tensors, 'optim.0.0.exp_avg': { data: new Int32Array(1), shape: [1] } }, meta: good.meta },
        ],
        ["unexpected tensor 'optim.2.0.exp_avg' in the state", { tensors: { ...good.tensors, 'optim.2.0.exp_avg': { data: new Float32Array(1), shape: [1] } }, meta: good.meta }],
      ];
      for (const [msg, input] of bad) expect(() => opt.loadState(input), msg).toThrow(`AdamW.loadState(): ${msg}`);
    });
    // Nothing changed: same meta (hyper-parameters, step counts) as a fresh optimizer, and the
    // next step gives what a fresh optimizer's first step gives.
    const fresh = make();
    expect(hg.tidy(() => opt.state().meta)).toBe(hg.tidy(() => fresh.state().meta));
    const p2 = makeParams(prob.init);
    const fresh2 = new hg.AdamW(groupsOf(p2, SPECS, [{}, { weightDecay: 0 }]), { lr: 1e-2 });
    for (const p of params) p.write(prob.init[params.indexOf(p)]!);
    opt.zeroGrad();
    backward(params, prob.grads[1]!);
    backward(p2, prob.grads[1]!);
    opt.step();
    fresh2.step();
    const [x, y] = await Promise.all([Promise.all(params.map((p) => p.read())), Promise.all(p2.map((p) => p.read()))]);
    x.forEach((v, i) => expectExact(v, y[i]!, `parameter ${i}`));
    dispose({ opt: fresh2, params: p2 });
    dispose({ opt, params });
    other.dispose();
    fresh.dispose();
  });
});

describe('bad arguments', () => {
  test('constructor and step errors name the optimizer, group, parameter and what is valid', () => {
    const a = hg.zeros([3], { requiresGrad: true }).keep();
    const b = hg.zeros([2, 2], { requiresGrad: true }).keep();
    expect(() => new hg.SGD([])).toThrow('SGD: needs a non-empty list of parameters or of parameter groups');
    expect(() => new hg.SGD([a], { lr: -1 })).toThrow('SGD: group 0: lr must be a finite number ≥ 0, got -1.');
    expect(() => new hg.SGD([{ params: [a] }, { params: [b], momentum: -0.5 }])).toThrow('SGD: group 1: momentum must be a finite number ≥ 0, got -0.5.');
    expect(() => new hg.SGD([a], { nesterov: true })).toThrow('SGD: group 0: nesterov momentum needs momentum > 0 (got momentum 0).');
    expect(() => new hg.SGD([a], { weight_decay: 0.1 } as never)).toThrow("SGD: unknown option 'weight_decay' (options: lr, momentum, weightDecay, nesterov).");
    expect(() => new hg.SGD([{ params: [a], weight_decay: 0 } as never])).toThrow("SGD: group 0 has an unknown option 'weight_decay'");
    expect(() => new hg.SGD([{ params: [a] }, { params: [b, a] }])).toThrow(
      'SGD: group 1 parameter 1 is the same tensor as group 0 parameter 0; a parameter may appear only once.',
    );
    const view = a.view([3, 1]);
    expect(() => new hg.SGD([a, view])).toThrow('SGD: group 0 parameter 1 shares its storage with group 0 parameter 0 (a view or alias)');
    view.dispose();
    expect(() => new hg.AdamW([a], { betas: [0.9, 1] })).toThrow('AdamW: group 0: betas[1] must be a finite number in [0, 1), got 1.');
    expect(() => new hg.AdamW([a], { betas: [0.9] as never })).toThrow('AdamW: group 0: betas must be a pair [β1, β2], got [0.9].');
    expect(() => new hg.AdamW([a], { eps: -1 })).toThrow('AdamW: group 0: eps must be a finite number ≥ 0, got -1.');
    const labels = hg.tensor([1, 2, 3]);
    const i32 = hg.tidy(() => hg.Tensor.empty([3], 'test', 'i32')).keep();
    expect(() => new hg.SGD([i32])).toThrow('SGD: group 0 parameter 0 is an i32 tensor; parameters must be f32.');
    i32.dispose();
    // A tensor that takes no gradient would never move: refused rather than silently kept.
    const frozen = hg.tensor([1, 2]);
    expect(() => new hg.AdamW([a, frozen])).toThrow(
      'AdamW: group 0 parameter 1 [2] does not require a gradient (requiresGrad false), so it would never be updated; set requiresGrad = true, or leave it out of the optimizer.',
    );
    frozen.dispose();
    labels.dispose();

    const opt = new hg.SGD([a, b], { lr: 0.1 });
    b.grad = hg.zeros([4]).keep();
    expect(() => opt.step()).toThrow("SGD.step(): group 0 parameter 1 [2, 2] has a gradient of shape [4] (f32); it must be f32 of the parameter's shape.");
    b.grad.dispose();
    expect(() => opt.step()).toThrow('SGD.step(): group 0 parameter 1 [2, 2]: its gradient was disposed (use zeroGrad() to drop gradients).');
    opt.zeroGrad();
    opt.dispose();
    expect(() => opt.step()).toThrow('SGD.step(): the optimizer was disposed.');
    a.dispose();
    expect(() => new hg.SGD([a])).toThrow('SGD: group 0 parameter 0 [3] was disposed.');
    b.dispose();
  });
});

describe('poly learning-rate schedule', () => {
  test('polyLr = base · (1 − step/total)^power', () => {
    expect(hg.polyLr(0.01, 0, 100)).toBe(0.01);
    expect(hg.polyLr(0.01, 100, 100)).toBe(0);
    expect(hg.polyLr(0.01, 50, 100)).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(hg.polyLr(2, 3, 4, 2)).toBe(2 * 0.25 ** 2);
    const lrs = Array.from({ length: 11 }, (_, s) => hg.polyLr(1, s, 10));
    for (let s = 1; s < lrs.length; s++) expect(lrs[s]).toBeLessThan(lrs[s - 1]!);
    expect(() => hg.polyLr(0.01, 101, 100)).toThrow('polyLr: step must be an integer in [0, totalSteps = 100], got 101.');
    expect(() => hg.polyLr(0.01, -1, 100)).toThrow('polyLr: step must be an integer in [0, totalSteps = 100], got -1.');
    expect(() => hg.polyLr(0.01, 0, 0)).toThrow('polyLr: totalSteps must be a positive integer, got 0.');
    expect(() => hg.polyLr(-1, 0, 10)).toThrow('polyLr: base learning rate must be a finite number ≥ 0, got -1.');
    expect(() => hg.polyLr(1, 0, 10, NaN)).toThrow('polyLr: power must be a finite number ≥ 0, got NaN.');
  });

  test('LrSchedule drives every group from its own base lr', () => {
    const a = hg.zeros([3], { requiresGrad: true }).keep();
    const b = hg.zeros([2], { requiresGrad: true }).keep();
    const opt = new hg.SGD(
      [
        { params: [a], lr: 0.1 },
        { params: [b], lr: 0.01 },
      ],
      { momentum: 0.9 },
    );
    const sched = new hg.LrSchedule(opt, { totalSteps: 20 });
    expect(sched.apply(0)).toEqual([0.1, 0.01]);
    const lrs = sched.apply(10);
    expect(lrs).toEqual([hg.polyLr(0.1, 10, 20), hg.polyLr(0.01, 10, 20)]);
    expect([opt.getLr(0), opt.getLr(1)]).toEqual(lrs);
    // Bases are fixed when the schedule is made: applying again does not compound.
    expect(sched.apply(10)).toEqual(lrs);
    expect(sched.lrAt(20, 1)).toBe(0);
    expect(() => sched.apply(21)).toThrow('polyLr: step must be an integer in [0, totalSteps = 20], got 21.');
    expect(() => new hg.LrSchedule(opt, { totalSteps: 10, base: [1] })).toThrow('LrSchedule: base has 1 learning rate(s) for 2 group(s).');
    opt.dispose();
    a.dispose();
    b.dispose();
  });
});
