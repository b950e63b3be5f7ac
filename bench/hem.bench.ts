/**
 * The HEM layer: fused WGSL kernels vs the same math composed from core ops (unfused), forward
 * and forward+backward, HEM (η = 0.5) vs plain EM (η = 1) at equal T, both fused (timed again as
 * a pair: they run the same dispatches, so only a tight paired timing says anything), and the
 * peers (jax-js under jit, tfjs-webgpu; their own ops and autograd) on the same adapter.
 * Shapes: N = 4096 (a 64×64 map), K = 64, T = 3, C ∈ {64, 256, 512}, B ∈ {1, 8}.
 * Then the fused layer on each kernel path — kernels/hem.wgsl's register tiles and
 * kernels/hem-tiled.wgsl's workgroup tiles, with and without kernels/hem-subgroups.wgsl's E-step
 * pair — alternating in one run (src/kernels/hem-config.ts).
 * Every case is checked before it is timed: fused against unfused (outputs and gradients), and
 * each peer's outputs and gradients against hemgpu's on the same inputs.
 *   node scripts/run.mjs bench/hem.bench.ts [--full | --quick | --paper] [--no-peers | --peers=...]
 * Default: the whole grid on a GPU; on a CPU driver (SwiftShader) B = 1 and C ∈ {64, 256} —
 * the grid's largest case is ~100 GFLOP forward+backward, minutes per call there. --full
 * forces the whole grid, --quick runs C = 64, B = 1 only, --paper the paper's shape only.
 * Results are recorded under the subject key 'em' ('em-paper-shape' for --paper).
 */
import { subgroupMapping } from '../src/kernels/hem-config.ts';
import {
  REGISTER_HEM_CONFIG,
  REGISTER_ROWS_HEM_CONFIG,
  TILED_HEM_CONFIG,
  getHemKernelConfig,
  hem,
  mul,
  randn,
  setHemKernelConfig,
  sum,
  sync,
  tidy,
  type HemKernelConfig,
  type HemOptions,
} from '../src/index.node.ts';
import { adapterLine, checkRelative, peerCase, peerNames, recordResults, startBench, table, timeCases, type Case } from './common.ts';
import { loadPeers } from './peers/engines.ts';
import { fusedErrors, hemOutputs, type HemBenchInputs } from './hem-check.ts';

const args = new Set(process.argv.slice(2));
const adapter = await startBench();
console.log(`# HEM layer, fused vs unfused, on ${adapterLine(adapter)}`);
const peers = await loadPeers(adapter, peerNames());

// --paper: the paper's shape only (B = 8, C = 512, K = 64, N = 65·65, T = 3).
const paper = args.has('--paper');
const N = paper ? 65 * 65 : 4096;
const K = 64;
const T = 3;
const full = args.has('--full') || (!adapter.software && !args.has('--quick'));
const channels = paper ? [512] : args.has('--quick') ? [64] : full ? [64, 256, 512] : [64, 256];
const batches = paper ? [8] : args.has('--quick') ? [1] : full ? [1, 8] : [1];

type Inputs = HemBenchInputs;

function inputs(B: number, C: number): Inputs {
  return {
    x: randn([B, N, C], { seed: 100 + C + B, requiresGrad: true }).keep(),
    mu0: randn([K, C], { seed: 200 + C, std: 1 / Math.sqrt(C), requiresGrad: true }).keep(),
    g: randn([B, N, C], { seed: 300 + C }).keep(),
  };
}

/** One call of the layer; with backward, the gradient of sum(out ⊙ G) w.r.t. x and μ⁽⁰⁾. */
function call(inp: Inputs, opts: HemOptions, backward: boolean): void {
  inp.x.zeroGrad();
  inp.mu0.zeroGrad();
  tidy(() => {
    const r = hem(inp.x, inp.mu0, { iterations: T, ...opts });
    if (backward) sum(mul(r.out, inp.g)).backward();
  });
}

const rows: (string | number)[][] = [];
const pathRows: (string | number)[][] = [];
const all: unknown[] = [];
const defaultConfig = getHemKernelConfig();

/**
 * The fused layer on each kernel path (kernels/hem.wgsl's register tiles, kernels/hem-tiled.wgsl's
 * workgroup tiles), alternating in one run, each checked against the unfused path first.
 */
const pathConfigs: HemKernelConfig[] = [REGISTER_HEM_CONFIG, TILED_HEM_CONFIG];
// The subgroup E-step kernels beside either path, where the adapter has a fixed subgroup size:
// both lane mappings on the register path ('rows' needs 4-lane subgroups), the adapter's on the tiled.
if (adapter.subgroupSize !== null) {
  pathConfigs.push({ ...REGISTER_HEM_CONFIG, subgroups: 'bases' });
  if (adapter.subgroupSize === 4) pathConfigs.push(REGISTER_ROWS_HEM_CONFIG);
  pathConfigs.push({ ...TILED_HEM_CONFIG, subgroups: true });
}
const pathName = (c: HemKernelConfig): string => (c.subgroups ? `${c.path}+subgroups(${subgroupMapping(c)})` : c.path);

/** Fused against unfused on `inp` (outputs, and with the backward the gradients): throws naming what differs. */
async function checkFused(inp: Inputs, opts: HemOptions, backward: boolean, what: string): Promise<void> {
  const f = await hemOutputs(inp, { iterations: T, ...opts, fused: true }, backward);
  const u = await hemOutputs(inp, { iterations: T, ...opts, fused: false }, backward);
  fusedErrors(f, u).forEach((e, i) => {
    if (!(e < 1e-4)) throw new Error(`${what}: ${['out', 'dX', 'dμ⁰'][i]} differs between fused and unfused: ‖Δ‖ / scale = ${e}`);
  });
}

async function timePaths(inp: Inputs, shape: string, opts: HemOptions): Promise<Record<string, { forwardMs: number; forwardBackwardMs: number }>> {
  const configs = pathConfigs;
  const cases: Case[] = configs.flatMap((config) =>
    [false, true].map((backward) => ({
      name: `${shape} ${pathName(config)} ${backward ? 'fwd+bwd' : 'fwd'}`,
      verify: async () => {
        setHemKernelConfig(config);
        await checkFused(inp, opts, backward, `${pathName(config)} kernels`);
      },
      run: async () => {
        setHemKernelConfig(config);
        call(inp, { ...opts, fused: true }, backward);
        await sync();
      },
    })),
  );
  try {
    const r = await timeCases(cases, { rounds: adapter.software ? 2 : 5, timePerRound: adapter.software ? 0 : 300, iterations: adapter.software ? 1 : 10 });
    return Object.fromEntries(configs.map((c, i) => [pathName(c), { forwardMs: r[2 * i]!.medianMs, forwardBackwardMs: r[2 * i + 1]!.medianMs }]));
  } finally {
    setHemKernelConfig(defaultConfig);
  }
}
for (const B of batches) {
  for (const C of channels) {
    const inp = inputs(B, C);
    const shape = `B=${B} N=${N} C=${C}`;
    const verify = (opts: HemOptions, backward: boolean) => () => checkFused(inp, opts, backward, shape);
    const mk = (name: string, opts: HemOptions, backward: boolean, check: () => Promise<void>): Case => ({
      name: `${shape} ${name}`,
      verify: check,
      run: async () => {
        call(inp, opts, backward);
        await sync();
      },
    });
    const hemOpts: HemOptions = { eta: 0.5 };
    const emOpts: HemOptions = { eta: 1 };
    const noCheck = async (): Promise<void> => {};
    const cases: Case[] = [
      mk('fused fwd', { ...hemOpts, fused: true }, false, verify(hemOpts, false)),
      mk('unfused fwd', { ...hemOpts, fused: false }, false, noCheck),
      mk('fused fwd+bwd', { ...hemOpts, fused: true }, true, verify(hemOpts, true)),
      mk('unfused fwd+bwd', { ...hemOpts, fused: false }, true, noCheck),
      mk('EM η=1 fused fwd+bwd', { ...emOpts, fused: true }, true, verify(emOpts, true)),
    ];
    // The peers: their outputs and gradients against hemgpu's fused ones (themselves checked
    // against the unfused path above) on the same inputs; the same scales as that check.
    const hostX = await inp.x.read();
    const hostMu = await inp.mu0.read();
    const hostG = await inp.g.read();
    const ref = { fwd: await hemOutputs(inp, { iterations: T, ...hemOpts, fused: true }, false), bwd: await hemOutputs(inp, { iterations: T, ...hemOpts, fused: true }, true) };
    const peerCheck =
      (backward: boolean, name: string) =>
      (v: Float32Array[]): void => {
        const want = backward ? ref.bwd.values.slice(1) : ref.fwd.values;
        v.forEach((got, i) => checkRelative(got, want[i]!, 1e-4, `${name}: ${backward ? ['dX', 'dμ⁰'][i] : 'out'}`));
      };
    const shapeP = { B, N, C, K, T, eta: 0.5 };
    for (const p of peers) {
      cases.push(peerCase(`${shape} ${p.name} fwd`, p.hem(hostX, hostMu, hostG, shapeP, false), peerCheck(false, `${p.name} fwd`), { meta: { engine: p.name } }));
      cases.push(peerCase(`${shape} ${p.name} fwd+bwd`, p.hem(hostX, hostMu, hostG, shapeP, true), peerCheck(true, `${p.name} fwd+bwd`), { meta: { engine: p.name } }));
    }
    const r = await timeCases(cases, { rounds: adapter.software ? 2 : 5, timePerRound: adapter.software ? 0 : 500, iterations: adapter.software ? 2 : 10 });
    // HEM vs EM run the very same dispatches (only η differs), so their ratio is all noise
    // unless it is measured tightly: a second, paired timing of just those two cases.
    // One call of each per round, many rounds: the finest alternation, against slow drifts of the machine.
    const pair = await timeCases([cases[2]!, cases[4]!], { rounds: adapter.software ? 12 : 10, timePerRound: adapter.software ? 0 : 300, iterations: adapter.software ? 1 : 10 });
    const hemOverEm = pair[0]!.medianMs / pair[1]!.medianMs;
    const ms = (i: number): number => r[i]!.medianMs;
    const peerRatios = Object.fromEntries(
      peers.map((p, j) => [
        p.name,
        { forwardMs: ms(5 + 2 * j), forwardBackwardMs: ms(6 + 2 * j), speedupForward: ms(5 + 2 * j) / ms(0), speedupForwardBackward: ms(6 + 2 * j) / ms(2) },
      ]),
    );
    rows.push([
      shape,
      ms(0).toFixed(1),
      ms(1).toFixed(1),
      (ms(1) / ms(0)).toFixed(2),
      ms(2).toFixed(1),
      ms(3).toFixed(1),
      (ms(3) / ms(2)).toFixed(2),
      ms(4).toFixed(1),
      hemOverEm.toFixed(3),
      ...peers.map((p) => `${peerRatios[p.name]!.forwardBackwardMs.toFixed(0)} ms (${peerRatios[p.name]!.speedupForwardBackward.toFixed(1)}×)`),
    ]);
    const paths = await timePaths(inp, shape, hemOpts);
    const reg = paths.register!;
    pathRows.push([
      shape,
      ...pathConfigs.map((c) => {
        const p = paths[pathName(c)]!;
        return `${p.forwardMs.toFixed(1)} / ${p.forwardBackwardMs.toFixed(1)} (${(reg.forwardMs / p.forwardMs).toFixed(2)}× / ${(reg.forwardBackwardMs / p.forwardBackwardMs).toFixed(2)}×)`;
      }),
    ]);
    all.push({
      B,
      C,
      N,
      K,
      T,
      cases: r,
      speedupForward: ms(1) / ms(0),
      speedupForwardBackward: ms(3) / ms(2),
      hemOverEm,
      hemEmPair: pair,
      peers: peerRatios,
      kernelPaths: { default: defaultConfig, ...paths },
    });
    for (const t of [inp.x, inp.mu0, inp.g]) {
      t.zeroGrad();
      t.dispose();
    }
  }
}
console.log(
  table(
    [
      'shape (K=64, T=3)',
      'fused fwd ms',
      'unfused fwd ms',
      'speedup',
      'fused fwd+bwd ms',
      'unfused fwd+bwd ms',
      'speedup',
      'EM (η=1) fwd+bwd ms',
      'HEM/EM cost',
      ...peers.map((p) => `${p.name} fwd+bwd (hemgpu ×)`),
    ],
    rows,
  ),
);
const tiles = `TX ${TILED_HEM_CONFIG.TX}, TY ${TILED_HEM_CONFIG.TY}, RT ${TILED_HEM_CONFIG.RT}`;
console.log(`\n# Fused layer by kernel path (default here: ${pathName(defaultConfig)}; tiled: ${tiles}), alternating in one run: fwd / fwd+bwd ms (speedup over register)\n`);
console.log(table(['shape (K=64, T=3)', ...pathConfigs.map(pathName)], pathRows));
const file = recordResults(paper ? 'em-paper-shape' : 'em', adapter, all);
console.log(`results: ${file}`);
process.exit(0);
