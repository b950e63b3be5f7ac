/**
 * bench/targets.ts: the verdicts printed by `npm run bench` and rendered into the README are
 * computed from the recorded results — checked here on constructed results files (no GPU work,
 * no timing), so a verdict cannot drift from the numbers it quotes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadResults, torchFor, verdicts, verdictTable, type Doc, type EmRow } from '../../bench/targets.ts';

const c = (name: string, medianMs: number, meta: Record<string, string | number> = {}, gflops?: number) => ({ name, medianMs, madMs: 0, meta, gflops });
const square = (engine: string, n: number, gflops: number) => c(`${engine} ${n}³`, (2 * n ** 3) / (gflops * 1e6), { engine, M: n, N: n, K: n }, gflops);

function emRow(C: number, fusedFwdBwd: number, unfusedFwdBwd: number, emFwdBwd: number, peers: Record<string, number>): EmRow {
  return {
    B: 1,
    C,
    N: 4096,
    K: 64,
    T: 3,
    cases: [c('fused fwd', 1), c('unfused fwd', 2), c('fused fwd+bwd', fusedFwdBwd), c('unfused fwd+bwd', unfusedFwdBwd), c('EM', emFwdBwd)],
    speedupForward: 2,
    speedupForwardBackward: unfusedFwdBwd / fusedFwdBwd,
    hemOverEm: fusedFwdBwd / emFwdBwd,
    peers: Object.fromEntries(Object.entries(peers).map(([p, ms]) => [p, { forwardMs: 1, forwardBackwardMs: ms, speedupForward: 1, speedupForwardBackward: ms / fusedFwdBwd }])),
  };
}

function doc(software: boolean, subjects: Doc['subjects'], name = software ? 'swiftshader' : 'nvidia-h100-80gb-hbm3'): Doc {
  return { date: '2026-11-22', adapter: { name, description: 'x', vendor: 'v', device: name, software, robustness: !software }, subjects };
}

describe('benchmark target verdicts', () => {
  test('CPU driver: matmul and HEM ratios against the peers, fused vs unfused, HEM vs EM', () => {
    const d = doc(true, {
      matmul: { measuredAt: '', results: { cases: [square('hemgpu', 1024, 4), square('jax-js', 1024, 0.9), square('jax-js-eager', 1024, 2)] } },
      em: { measuredAt: '', results: [emRow(64, 100, 250, 98, { 'jax-js': 800, 'jax-js-eager': 650, 'tfjs-webgpu': 2900 }), emRow(256, 400, 500, 370, {})] },
    });
    const v = verdicts(d);
    const get = (t: string) => v.find((r) => r.target.startsWith(t))!;
    expect(get("matmul 1024³ ≥ 4× jax-js's")).toMatchObject({ met: true, measured: '4.00 vs 0.90 GFLOPS: 4.44×' });
    expect(get("matmul 1024³ ≥ 4× jax-js-eager's")).toMatchObject({ met: false, measured: '4.00 vs 2.00 GFLOPS: 2.00×' });
    expect(get('HEM fwd+bwd (B = 1, C = 64) ≥ 7× faster than jax-js-eager')).toMatchObject({ met: false, measured: '100 vs 650 ms: 6.50×' });
    expect(v.find((r) => r.target === 'HEM fwd+bwd (B = 1, C = 64) ≥ 7× faster than jax-js')).toMatchObject({ met: true, measured: '100 vs 800 ms: 8.00×' });
    expect(get('HEM fwd+bwd (B = 1, C = 64) ≥ 30× faster than tfjs-webgpu')).toMatchObject({ met: false, measured: '100 vs 2900 ms: 29.00×' });
    expect(get('fused ≥ 2× unfused, HEM fwd+bwd (B = 1, C = 64)')).toMatchObject({ met: true, measured: '2.50×' });
    expect(get('fused ≥ 2× unfused, HEM fwd+bwd (B = 1, C = 256)')).toMatchObject({ met: false, measured: '1.25×' });
    // Issue 14's CPU-driver target: only C = 64.
    expect(get('fused ≥ 1.5× unfused, HEM fwd+bwd (B = 1, C = 64)')).toMatchObject({ met: true, measured: '2.50×' });
    expect(v.filter((r) => r.target.startsWith('fused ≥ 1.5×'))).toHaveLength(1);
    // The worst HEM/EM ratio decides: 400/370 = 1.081.
    expect(get('HEM (η = 0.5) ≤ 1.05×')).toMatchObject({ met: false, measured: '1.081 at worst (1.020, 1.081)' });
    expect(v.some((r) => r.target.includes('PyTorch'))).toBe(false);
    expect(verdictTable(v)).toContain('| **no** |');
  });

  test('GPU: matmul 4096³ and the paper-shape HEM layer against the PyTorch file of the same device', () => {
    const paper = emRow(512, 15, 70, 15, {});
    const d = doc(false, {
      matmul: { measuredAt: '', results: { cases: [square('hemgpu', 4096, 27800)] } },
      'em-paper-shape': { measuredAt: '', results: [paper] },
      em: { measuredAt: '', results: [emRow(64, 3, 5, 3, {})] },
    });
    const torch = [
      { device: 'Other GPU', torch: '2.0' },
      {
        device: 'NVIDIA H100 80GB HBM3',
        torch: '2.11.0+cu130',
        matmul_4096: { gflops: 50500 },
        'hem_eta0.5': { forward_ms: 1, forward_backward_ms: 4.6, shape: [8, 4225, 512, 64, 3] },
      },
    ];
    const t = torchFor(d, torch);
    expect(t?.torch).toBe('2.11.0+cu130');
    const v = verdicts(d, t);
    expect(v.find((r) => r.target.startsWith('matmul 4096³'))).toMatchObject({ met: false, measured: '27.8 vs 50.5 TFLOPS: 55%' });
    expect(v.find((r) => r.target.startsWith('fused HEM fwd+bwd'))).toMatchObject({ met: false, measured: "15.0 vs 4.6 ms: 0.31× PyTorch's speed" });
    // The paper shape's forward (1 ms in emRow) against PyTorch's 1 ms: within 1.5×.
    expect(v.find((r) => r.target.startsWith('fused HEM fwd at'))).toMatchObject({ met: true, measured: "1.0 vs 1.0 ms: 1.00× PyTorch's time" });
    // fused vs unfused over the grid: emRow's forward speedup is 2, its fwd+bwd 5 / 3.
    expect(v.find((r) => r.target.startsWith('fused ≥ unfused'))).toMatchObject({ met: true, measured: 'worst 1.67× (fwd+bwd, B = 1, C = 64); 0 of 2 below 1×' });
    // The CPU driver's targets (peers, fused vs unfused ratios, HEM vs EM) do not apply to a GPU file.
    expect(v.map((r) => r.target.slice(0, 14))).toEqual(['fused ≥ unfuse', 'matmul 4096³ ≥', 'fused HEM fwd+', 'fused HEM fwd ']);
    const slow = verdicts(doc(false, { em: { measuredAt: '', results: [emRow(64, 3, 5, 3, {}), emRow(512, 10, 8, 10, {})] } }));
    expect(slow[0]).toMatchObject({ met: false, measured: 'worst 0.80× (fwd+bwd, B = 1, C = 512); 1 of 4 below 1×' });
  });

  test('CPU driver: eigh batch 64 forward against jax-js at d = 32 and d = 64', () => {
    const e = (engine: string, d: number, ms: number, pass = 'forward') => c(`${engine} ${pass} d=${d}`, ms, { d, engine, pass });
    const results = {
      batch: 64,
      sizes: [16, 32, 64],
      peers: [],
      pytorch: null,
      cases: [
        e('hemgpu', 16, 1),
        e('jax-js', 16, 1),
        e('hemgpu', 32, 700),
        e('hemgpu', 32, 900, 'forward+backward'),
        e('jax-js', 32, 1750),
        e('jax-js-eager', 32, 1400),
        e('hemgpu', 64, 3000),
        e('jax-js', 64, 15000),
        e('jax-js-eager', 64, 15000),
      ],
    };
    const v = verdicts(doc(true, { eigh: { measuredAt: '', results } }));
    expect(v).toEqual([
      {
        target: 'eigh batch 64 forward ≥ 2× faster than jax-js at d = 32 and d = 64 (SwiftShader)',
        measured: 'd = 32: 700 vs 1750 ms, 2.50×; d = 64: 3000 vs 15000 ms, 5.00×',
        met: true,
      },
      {
        target: 'eigh batch 64 forward ≥ 2× faster than jax-js-eager at d = 32 and d = 64 (SwiftShader)',
        measured: 'd = 32: 700 vs 1400 ms, 2.00×; d = 64: 3000 vs 15000 ms, 5.00×',
        met: true,
      },
    ]);
    // Without d = 64 (a --quick run) there is no verdict; on a GPU the target does not apply.
    expect(verdicts(doc(true, { eigh: { measuredAt: '', results: { ...results, cases: results.cases.filter((r) => r.meta.d !== 64) } } }))).toEqual([]);
    expect(verdicts(doc(false, { eigh: { measuredAt: '', results } }))).toEqual([]);
    const slow = { ...results, cases: results.cases.map((r) => (r.name === 'jax-js forward d=32' ? { ...r, medianMs: 1200 } : r)) };
    expect(verdicts(doc(true, { eigh: { measuredAt: '', results: slow } }))[0]).toMatchObject({
      met: false,
      measured: 'd = 32: 700 vs 1200 ms, 1.71×; d = 64: 3000 vs 15000 ms, 5.00×',
    });
  });

  test('loadResults: the newest measurement of each subject per adapter, and the PyTorch files; other JSON (start-up figures) is skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemgpu-results-'));
    try {
      const write = (f: string, v: unknown) => writeFileSync(join(dir, f), JSON.stringify(v));
      write('2026-11-22-swiftshader.json', doc(true, { em: { measuredAt: '', results: [] }, matmul: { measuredAt: '', results: [] } }));
      write('2026-11-28-swiftshader.json', { ...doc(true, { em: { measuredAt: 'new', results: [] } }), date: '2026-11-28' });
      write('2026-11-22-nvidia-h100-pytorch.json', { device: 'NVIDIA H100 80GB HBM3', torch: '2.11.0' });
      write('2026-11-28-browser-start-main.json', { date: '2026-11-28T05:03:42.972Z', bundle: 'main', results: [] });
      write('2026-11-29-swiftshader.json', { ...doc(true, { eigh: { measuredAt: '', results: {} } }), date: '2026-11-29' });
      const { docs, torch } = loadResults(dir);
      // One doc per adapter: each subject from the newest file that has it.
      expect([...docs.values()].map((d) => d.date)).toEqual(['2026-11-29']);
      const merged = [...docs.values()][0]!;
      expect(merged.sources).toEqual({ em: '2026-11-28-swiftshader.json', matmul: '2026-11-22-swiftshader.json', eigh: '2026-11-29-swiftshader.json' });
      expect(merged.subjects.em!.measuredAt).toBe('new');
      expect(torch.map((t) => t.file)).toEqual(['2026-11-22-nvidia-h100-pytorch.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a results file without the subjects yields no verdicts', () => {
    expect(verdicts(doc(true, {}))).toEqual([]);
  });
});
