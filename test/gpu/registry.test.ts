/**
 * The kernel registry: every kernel is reflected with wgsl_reflect when it is defined, and a call
 * site whose bindings differ from the WGSL (name, missing binding, access mode, element type,
 * uniform member, override constant) fails before any GPU work with an error naming the kernel
 * and the binding. Also: a correct dispatch of a user-defined kernel runs, and the op-code
 * constants of src/kernels/elementwise.ts match those of kernels/elementwise.wgsl.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import elementwiseWgsl from '../../kernels/elementwise.wgsl';
import { BINARY, UNARY } from '../../src/kernels/elementwise.ts';
import type { DispatchArgs, StorageArg } from '../../src/gpu/registry.ts';
import { wgslModule } from '../../src/reflect.ts';

beforeAll(async () => {
  await hg.init();
});

const SOURCE = /* wgsl */ `
override WG: u32 = 64;
override SCALE_ON: bool = false;

struct P {
  n: u32,
  k: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= p.n) { return; }
  dst[i] = src[u32(idx[i])] * select(1.0, p.k, SCALE_ON);
}
`;

const kernel = hg.defineKernel('test_gather_scale', wgslModule(SOURCE));

/** A call site's bindings for n elements: src f32 [n], dst f32 [n], idx i32 [n]. */
function setup(n = 5): { src: hg.Tensor; dst: hg.Tensor; idx: hg.Tensor; args: () => DispatchArgs } {
  const src = hg.tensor(Float32Array.from({ length: n }, (_, i) => 10 * i + 1));
  const dst = hg.zeros([n]);
  const idx = hg.Tensor.empty([n], 'test', 'i32').write(Int32Array.from({ length: n }, (_, i) => n - 1 - i));
  return {
    src,
    dst,
    idx,
    args: () => ({
      bindings: {
        src: src.bind('test'),
        dst: dst.bind('test', 'read_write'),
        idx: idx.bind('test'),
        p: { kind: 'uniform', values: { n, k: 2.5 } },
      },
      overrides: { WG: 64, SCALE_ON: true },
      workgroups: [1],
    }),
  };
}

/** Run `fn`, expect it to throw `re`, and check that nothing was allocated or freed meanwhile. */
function expectRejected(fn: () => void, re: RegExp): void {
  const before = hg.memoryStats();
  expect(fn).toThrow(re);
  const after = hg.memoryStats();
  expect(after.liveTensors).toBe(before.liveTensors);
  expect(after.buffersCreated).toBe(before.buffersCreated);
}

describe('reflection', () => {
  test('bindings, access, element types, uniform layout and overrides come from the WGSL', () => {
    expect(kernel.bindings.map((b) => [b.name, b.binding, b.access, b.element])).toEqual([
      ['src', 0, 'read', 'f32'],
      ['dst', 1, 'read_write', 'f32'],
      ['idx', 2, 'read', 'i32'],
      ['p', 3, 'uniform', null],
    ]);
    const p = kernel.bindings[3]!;
    expect(p.members!.map((m) => [m.name, m.offset, m.scalar])).toEqual([
      ['n', 0, 'u32'],
      ['k', 4, 'f32'],
    ]);
    expect([...kernel.overrides.keys()]).toEqual(['WG', 'SCALE_ON']);
    expect(hg.registeredKernels()).toContain(kernel);
  });

  test('a correct call site dispatches and computes', async () => {
    const { dst, args } = setup();
    kernel.dispatch(args());
    // dst[i] = src[n − 1 − i] · 2.5 with src[j] = 10j + 1.
    expect(Array.from(await dst.read())).toEqual([41, 31, 21, 11, 1].map((v) => v * 2.5));
    // The same pipeline with the other override value.
    const b = args();
    kernel.dispatch({ ...b, overrides: { SCALE_ON: false } });
    expect(Array.from(await dst.read())).toEqual([41, 31, 21, 11, 1]);
  });

  test('defining the same name again returns the same kernel; another source under it throws', () => {
    expect(hg.defineKernel('test_gather_scale', wgslModule(SOURCE))).toBe(kernel);
    expect(() => hg.defineKernel('test_gather_scale', wgslModule(SOURCE.replace('2.5', '3')), 'other')).toThrow(
      /kernel 'test_gather_scale' is already registered with a different source or entry point/,
    );
  });

  test('a missing entry point, unparsable WGSL and a binding outside group 0 are named', () => {
    expect(() => hg.defineKernel('test_no_entry', wgslModule(SOURCE), 'nope')).toThrow(/kernel 'test_no_entry': no @compute entry point 'nope' \(found: main\)/);
    expect(() => hg.defineKernel('test_bad_wgsl', wgslModule('fn main( {'))).toThrow(/kernel 'test_bad_wgsl'/);
    expect(() => hg.defineKernel('test_group1', wgslModule(SOURCE.replace('@group(0) @binding(2)', '@group(1) @binding(2)')))).toThrow(
      /kernel 'test_group1': binding 'idx' is in @group\(1\)/,
    );
  });
});

describe('call-site mismatches throw before any GPU work, naming kernel and binding', () => {
  test('binding a name the WGSL does not declare', () => {
    const { src, args } = setup();
    const a = args();
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, extra: src.bind('test') } }),
      /kernel 'test_gather_scale': the call site binds 'extra', which the WGSL does not declare\. Its bindings: src \(read array<f32>\), dst \(read_write array<f32>\), idx \(read array<i32>\), p \(uniform\)/,
    );
    // A misspelt name: reported as undeclared (before the missing one).
    const { src: s, ...rest } = a.bindings;
    expectRejected(() => kernel.dispatch({ ...a, bindings: { ...rest, source: s! } }), /kernel 'test_gather_scale': the call site binds 'source'/);
  });

  test('a missing binding', () => {
    const a = setup().args();
    const { idx: _idx, ...rest } = a.bindings;
    expectRejected(() => kernel.dispatch({ ...a, bindings: rest }), /kernel 'test_gather_scale': binding 'idx' \(read\) is not bound at the call site/);
  });

  test('read vs read_write, both ways, and storage vs uniform', () => {
    const { src, dst, args } = setup();
    const a = args();
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, dst: dst.bind('test', 'read') } }),
      /kernel 'test_gather_scale': binding 'dst' is declared var<storage, read_write> in the WGSL but the call site binds it as read/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, src: src.bind('test', 'read_write') } }),
      /kernel 'test_gather_scale': binding 'src' is declared var<storage, read> in the WGSL but the call site binds it as read_write/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, p: src.bind('test') } }),
      /kernel 'test_gather_scale': binding 'p' is declared var<uniform> in the WGSL but the call site binds it as read/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, src: { kind: 'uniform', values: {} } } }),
      /kernel 'test_gather_scale': binding 'src' is declared var<storage, read> in the WGSL but the call site binds it as uniform/,
    );
  });

  test('f32 vs i32 element type, both ways', () => {
    const { src, idx, args } = setup();
    const a = args();
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, idx: src.bind('test') } }),
      /kernel 'test_gather_scale': binding 'idx' holds i32 in the WGSL but the call site binds f32 data/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, src: idx.bind('test') } }),
      /kernel 'test_gather_scale': binding 'src' holds f32 in the WGSL but the call site binds i32 data/,
    );
    const u32: StorageArg = { ...src.bind('test'), element: 'u32' };
    expectRejected(() => kernel.dispatch({ ...a, bindings: { ...a.bindings, src: u32 } }), /binding 'src' holds f32 in the WGSL but the call site binds u32 data/);
  });

  test('a wrong, a missing and an oversized uniform member', () => {
    const a = setup().args();
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, p: { kind: 'uniform', values: { n: 5, k: 1, scale: 2 } } } }),
      /kernel 'test_gather_scale': uniform 'p' has no member 'scale' \(members: n, k\)/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, p: { kind: 'uniform', values: { n: 5 } } } }),
      /kernel 'test_gather_scale': uniform 'p' member 'k' was not given a value/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, p: { kind: 'uniform', values: { n: 5, k: [1, 2] } } } }),
      /kernel 'test_gather_scale': uniform member 'k' takes 1 values, got 2/,
    );
    expectRejected(
      () => kernel.dispatch({ ...a, bindings: { ...a.bindings, p: { kind: 'uniform', values: { n: -1, k: 1 } } } }),
      /kernel 'test_gather_scale': uniform member 'n' is u32 but got -1/,
    );
  });

  test('an unknown override constant', () => {
    const a = setup().args();
    expectRejected(() => kernel.dispatch({ ...a, overrides: { WG: 64, TILE: 4 } }), /kernel 'test_gather_scale': no override constant 'TILE' \(declared: WG, SCALE_ON\)/);
  });

  test('workgroup counts outside the device limit', () => {
    const a = setup().args();
    expectRejected(() => kernel.dispatch({ ...a, workgroups: [0] }), /kernel 'test_gather_scale': dispatch of \[0, 1, 1\] workgroups is outside 1\.\.65535/);
    expectRejected(() => kernel.dispatch({ ...a, workgroups: [70000] }), /kernel 'test_gather_scale': dispatch of \[70000, 1, 1\] workgroups/);
  });

  test("the engine's own kernels reject a mismatched call site the same way", () => {
    const matmul = hg.registeredKernels().find((k) => k.name === 'matmul')!;
    const a = hg.zeros([4]);
    expectRejected(
      () =>
        matmul.dispatch({
          bindings: {
            a: a.bind('test'),
            b: a.bind('test'),
            c: a.bind('test'), // should be read_write
            p: { kind: 'uniform', values: { M: 2, N: 2, K: 1, stride_a: 0, stride_b: 0, stride_c: 4, alpha: 1 } },
          },
          workgroups: [1],
        }),
      /kernel 'matmul': binding 'c' is declared var<storage, read_write> in the WGSL but the call site binds it as read/,
    );
  });
});

describe('op codes', () => {
  /** Parse `const U_NAME: u32 = 3u;` lines of the WGSL into { NAME: 3 }. */
  function wgslCodes(prefix: 'U' | 'B'): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of elementwiseWgsl.code.matchAll(new RegExp(`^\\s*const\\s+${prefix}_([A-Z0-9_]+)\\s*:\\s*u32\\s*=\\s*(\\d+)u?\\s*;`, 'gm'))) {
      out[m[1]!] = Number(m[2]);
    }
    return out;
  }
  /** camelCase → SNAKE_CASE, as the WGSL names them (reluGrad → RELU_GRAD). */
  const snake = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

  for (const [label, prefix, table] of [
    ['UNARY', 'U', UNARY],
    ['BINARY', 'B', BINARY],
  ] as const) {
    test(`${label} in src/kernels/elementwise.ts matches the ${prefix}_* constants of elementwise.wgsl`, () => {
      const wgsl = wgslCodes(prefix);
      expect(Object.keys(wgsl).length).toBeGreaterThan(0);
      const ts = Object.fromEntries(Object.entries(table).map(([k, v]) => [snake(k), v]));
      expect(ts).toEqual(wgsl);
      // Distinct codes (a switch with duplicate cases would not compile, but a shared code would
      // silently run the wrong op).
      expect(new Set(Object.values(wgsl)).size).toBe(Object.keys(wgsl).length);
    });
  }
});
