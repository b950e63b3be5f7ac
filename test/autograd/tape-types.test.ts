/**
 * The typed tape. A backward rule returns exactly one gradient (or null) per input: for an inputs
 * array literal the count is checked by the compiler (the `@ts-expect-error` lines below fail
 * the type check of test/package/static-checks.test.ts if a wrong count ever type-checks), and for inputs
 * whose length is known only at run time backward() checks it and names the op.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { record } from '../../src/autograd/tape.ts';

beforeAll(async () => {
  await hg.init();
});

/** Type-level checks only: never called. */
export function typeLevel(a: hg.Tensor, b: hg.Tensor, out: hg.Tensor): void {
  record('ok', out, [a, b], (g) => [g, null]);
  record('ok', out, [a], (g) => [g]);
  // @ts-expect-error: two inputs, one gradient
  record('too few', out, [a, b], (g) => [g]);
  // @ts-expect-error: one input, two gradients
  record('too many', out, [a], (g) => [g, g]);
  // @ts-expect-error: no gradients at all for two inputs
  record('none', out, [a, b], () => []);
  // @ts-expect-error: the rule returns a number where a gradient belongs
  record('wrong type', out, [a], () => [1]);
  // An array of unknown length: checked at run time instead.
  const dynamic: hg.Tensor[] = [a, b];
  record('dynamic', out, dynamic, (g) => [g, g]);
}

describe('backward() checks the rule arity at run time', () => {
  test('a rule returning fewer gradients than inputs throws naming the op', () => {
    const a = hg.tensor([1, 2], [2], { requiresGrad: true });
    const b = hg.tensor([3, 4], [2], { requiresGrad: true });
    const inputs: hg.Tensor[] = [a, b]; // length known only at run time
    const y = record(
      'shortRule',
      hg.noGrad(() => hg.add(a, b)),
      inputs,
      (g) => [g.alias()],
    );
    const s = hg.sum(y);
    const before = hg.memoryStats().liveTensors;
    expect(() => s.backward()).toThrow(/backward\(\): the backward rule of op 'shortRule' returned 1 gradient\(s\) for its 2 input\(s\)/);
    expect(a.grad).toBeNull();
    expect(b.grad).toBeNull();
    // The gradients made on the way (the seed, y's gradient, the rule's stray one) were disposed.
    expect(hg.memoryStats().liveTensors).toBe(before);
    for (const t of [a, b, y, s]) t.dispose();
  });

  test('too many gradients throw the same way', () => {
    const a = hg.tensor([1, 2], [2], { requiresGrad: true });
    const inputs: hg.Tensor[] = [a];
    const y = record(
      'longRule',
      hg.noGrad(() => hg.neg(a)),
      inputs,
      (g) => [g, g],
    );
    const seed = hg.ones([2]);
    expect(() => y.backward(seed)).toThrow(/op 'longRule' returned 2 gradient\(s\) for its 1 input\(s\)/);
    expect(seed.isDisposed).toBe(false);
    for (const t of [a, y, seed]) t.dispose();
  });
});
