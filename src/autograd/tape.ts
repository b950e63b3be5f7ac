/**
 * Reverse-mode autograd. An op whose input requires grad records a node on its output: the
 * inputs and a backward rule (the adjoint of the op's linear variation, written in the op's file).
 * `backward()` walks the recorded graph once in reverse topological order. The tape knows nothing
 * of WGSL: it only calls the ops handed to it for accumulation and broadcast reduction.
 */
import type { Tensor } from '../tensor/tensor.ts';
import { fmt, sameShape, type Shape } from '../tensor/shape.ts';

/** A backward rule maps the output's gradient to one gradient (or null) per input. */
export type BackwardRule = (grad: Tensor) => (Tensor | null)[];

export interface GradNode {
  op: string;
  inputs: readonly Tensor[];
  backward: BackwardRule;
}

/** The few ops the tape needs; registered by src/ops so the tape depends on no kernel. */
export interface GradOps {
  add(a: Tensor, b: Tensor): Tensor;
  /** Sum a broadcast gradient back down to `shape` (the one central place for broadcasting). */
  sumToShape(g: Tensor, shape: Shape): Tensor;
  ones(shape: Shape): Tensor;
}

let gradOps: GradOps | null = null;
export function setGradOps(ops: GradOps): void {
  gradOps = ops;
}
function ops(): GradOps {
  if (!gradOps) throw new Error('hemgpu autograd: ops not registered (import hemgpu through its entry point).');
  return gradOps;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording anything for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Record `out = op(inputs)` if gradients are on and any input requires grad. Returns out. */
export function record(op: string, out: Tensor, inputs: readonly Tensor[], backward: BackwardRule): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradNode = { op, inputs, backward };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradNode?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse(); // root first
}

/**
 * Accumulate d(root)/d(leaf) into every leaf's `.grad`. `seed` is the gradient of the root
 * (required unless the root holds a single element).
 */
export function backward(root: Tensor, seed?: Tensor): void {
  const where = 'backward()';
  if (!root.requiresGrad) {
    throw new Error(`${where}: this tensor ${fmt(root.shape)} does not require grad: no input of the ops that made it had requiresGrad: true.`);
  }
  if (seed) {
    if (!sameShape(seed.shape, root.shape)) {
      throw new Error(`${where}: seed gradient has shape ${fmt(seed.shape)} but the tensor has shape ${fmt(root.shape)}; they must match.`);
    }
  } else if (root.size !== 1) {
    throw new Error(
      `${where}: the tensor has shape ${fmt(root.shape)}, not a scalar. Pass a seed gradient of that shape ` +
        '(t.backward(seed)), or reduce it first (e.g. sum(t)).',
    );
  }
  const o = ops();
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const order = topoOrder(root);
    const grads = new Map<Tensor, Tensor>();
    const userSeed = seed ?? null;
    grads.set(root, seed ?? o.ones(root.shape));

    const accumulate = (t: Tensor, g: Tensor): void => {
      if (!t.gradNode) {
        // A leaf: its gradient outlives every tidy scope.
        if (t.grad) {
          const sum = o.add(t.grad, g);
          t.grad.dispose();
          g.dispose();
          t.grad = sum.keep();
        } else {
          t.grad = g.keep();
        }
        return;
      }
      const prevG = grads.get(t);
      if (prevG) {
        grads.set(t, o.add(prevG, g));
        prevG.dispose();
        g.dispose();
      } else {
        grads.set(t, g);
      }
    };

    if (!root.gradNode) {
      // The root is itself a leaf: its gradient is the seed (its own handle; the caller keeps the seed).
      const g0 = grads.get(root)!;
      grads.delete(root);
      accumulate(root, g0 === userSeed ? g0.alias() : g0);
    }
    for (const t of order) {
      const node = t.gradNode;
      const g = grads.get(t);
      if (!node || !g) continue; // leaves were accumulated as they were reached
      grads.delete(t);
      for (const [i, input] of node.inputs.entries()) {
        if (input.isDisposed && input.requiresGrad) {
          throw new Error(
            `${where}: op '${node.op}' needs its input #${i} ${fmt(input.shape)}, which was disposed. Keep ` +
              'tensors alive until backward() has run (do forward and backward inside the same tidy).',
          );
        }
      }
      const results = node.backward(g);
      const claimed = new Set<Tensor>();
      for (const [i, input] of node.inputs.entries()) {
        let gi = results[i] ?? null;
        if (!gi || !input.requiresGrad) {
          if (gi && gi !== g && !claimed.has(gi) && !results.slice(i + 1).includes(gi)) gi.dispose();
          continue;
        }
        if (!sameShape(gi.shape, input.shape)) {
          const reduced = o.sumToShape(gi, input.shape);
          if (gi !== g && !results.slice(i + 1).includes(gi) && !claimed.has(gi)) gi.dispose();
          gi = reduced;
        } else if (gi === g || claimed.has(gi)) {
          gi = gi.alias(); // the same storage handed to two owners: give each its own handle
        }
        claimed.add(gi);
        accumulate(input, gi);
      }
      if (g !== userSeed) g.dispose();
    }
    for (const g of grads.values()) if (g !== userSeed) g.dispose();
  } finally {
    gradEnabled = prev;
  }
}
