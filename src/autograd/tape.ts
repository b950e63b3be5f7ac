/**
 * Reverse-mode autograd. An op whose input requires grad records a node on its output: the
 * inputs and a backward rule (the adjoint of the op's linear variation, written in the op's file).
 * `backward()` walks the recorded graph once in reverse topological order, with gradients off.
 *
 * The tape accumulates and broadcast-reduces gradients with the forward-only launchers of
 * src/kernels/ (binary add, sumToShape, a constant fill), imported directly: launchers sit below
 * autograd and never record. Tensor.backward() reaches the walk through `installBackward`, called
 * when this module loads, so src/tensor/tensor.ts never imports the tape (that import would close
 * the cycle tensor → tape → launchers → tensor). Every op imports `record` from here, and the
 * package entry exports `noGrad`, so the walk is installed before any graph exists.
 */
import { binary, BINARY } from '../kernels/elementwise.ts';
import { fillConst } from '../kernels/random.ts';
import { sumToShape } from '../kernels/reduce.ts';
import { fmt, sameShape } from '../tensor/shape.ts';
import { checkOptions } from '../tensor/options.ts';
import { installBackward, type BackwardOptions, type Tensor } from '../tensor/tensor.ts';

/** One gradient (or null: none) per input, in the inputs' order. */
export type Grads<I extends readonly Tensor[]> = { -readonly [K in keyof I]: Tensor | null };

/**
 * A backward rule maps the output's gradient to one gradient (or null) per input. For an inputs
 * tuple the result is a tuple of the same length, so a rule returning too few or too many
 * gradients does not type-check; `backward()` checks the count again at run time (for inputs
 * whose length is known only then).
 */
type BackwardRule<I extends readonly Tensor[] = readonly Tensor[]> = (grad: Tensor) => Grads<I>;

export interface GradNode {
  op: string;
  inputs: readonly Tensor[];
  backward: BackwardRule;
  /** Set once a backward() without retainGraph ran this node's rule: the graph is used up. */
  consumed: boolean;
}

const add = (a: Tensor, b: Tensor): Tensor => binary('backward()', a, b, BINARY.add);

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

/**
 * Record `out = op(inputs)` if gradients are on and any input requires grad. Returns out.
 * `backward` returns one gradient (or null) per input: `record('mul', z, [a, b], (g) => [da, db])`.
 */
export function record<const I extends readonly Tensor[]>(op: string, out: Tensor, inputs: I, backward: (grad: Tensor) => NoInfer<Grads<I>>): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradNode = { op, inputs, backward: backward as BackwardRule, consumed: false };
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
function backward(root: Tensor, seed: Tensor | undefined, options: BackwardOptions): void {
  for (const _ of walk(root, seed, options));
}

/**
 * backward() of a scalar `root` that awaits `pause()` whenever its rules have recorded for
 * `everyMs` since the last pause (on a first step that is compiling pipelines; a warm step never
 * pauses), so that a stop request (Ctrl-C) is seen mid-walk. Returns false, with the walk
 * abandoned, when `pause()` answers true: the leaves then hold partial gradients (zero them).
 * Nothing else may record ops while it awaits.
 */
export async function backwardPausing(root: Tensor, pause: () => Promise<boolean>, everyMs = 100): Promise<boolean> {
  const steps = walk(root, undefined, {});
  let since = performance.now();
  for (;;) {
    if (steps.next().done) return true;
    if (performance.now() - since < everyMs) continue;
    if (await pause()) {
      steps.return(undefined);
      return false;
    }
    since = performance.now();
  }
}

/** The walk of backward(), yielding after each node's rule (with gradients back as they were meanwhile). */
function* walk(root: Tensor, seed: Tensor | undefined, options: BackwardOptions): Generator<void, void, void> {
  const where = 'backward()';
  checkOptions(where, options, ['retainGraph']);
  const retain = options.retainGraph ?? false;
  if (typeof retain !== 'boolean') throw new Error(`${where}: retainGraph must be true or false, got ${String(retain)}.`);
  if (!root.requiresGrad) {
    throw new Error(`${where}: this tensor ${fmt(root.shape)} does not require grad: no input of the ops that made it had requiresGrad: true.`);
  }
  if (seed) {
    if (!sameShape(seed.shape, root.shape)) {
      throw new Error(`${where}: seed gradient has shape ${fmt(seed.shape)} but the tensor has shape ${fmt(root.shape)}; they must match.`);
    }
  } else if (root.size !== 1) {
    throw new Error(
      `${where}: the tensor has shape ${fmt(root.shape)}, not a scalar. Pass a seed gradient of that shape ` + '(t.backward(seed)), or reduce it first (e.g. sum(t)).',
    );
  }
  const prev = gradEnabled;
  gradEnabled = false;
  const grads = new Map<Tensor, Tensor>();
  try {
    const order = topoOrder(root);
    const used = order.find((t) => t.gradNode?.consumed);
    if (used) {
      throw new Error(
        `${where}: trying to backward through the graph a second time: op '${used.gradNode!.op}' (tensor #${used.id} ` +
          `${fmt(used.shape)}) was already used by an earlier backward(). Pass { retainGraph: true } to the earlier ` +
          'backward() (t.backward(seed, { retainGraph: true })) to backward through it again, or run the forward again.',
      );
    }
    const userSeed = seed ?? null;
    grads.set(root, seed ?? fillConst('backward()', root.shape, 1));

    const accumulate = (t: Tensor, g: Tensor): void => {
      if (!t.gradNode) {
        // A leaf: its gradient outlives every tidy scope.
        if (t.grad) {
          const sum = add(t.grad, g);
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
        grads.set(t, add(prevG, g));
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
      if (!retain) node.consumed = true;
      if (results.length !== node.inputs.length) {
        for (const r of new Set(results)) if (r && r !== g) r.dispose();
        if (g !== userSeed) g.dispose();
        throw new Error(
          `${where}: the backward rule of op '${node.op}' returned ${results.length} gradient(s) for its ` +
            `${node.inputs.length} input(s); a rule returns exactly one gradient (or null) per input, in order.`,
        );
      }
      const claimed = new Set<Tensor>();
      for (const [i, input] of node.inputs.entries()) {
        let gi = results[i] ?? null;
        if (!gi || !input.requiresGrad) {
          if (gi && gi !== g && !claimed.has(gi) && !results.slice(i + 1).includes(gi)) gi.dispose();
          continue;
        }
        if (!sameShape(gi.shape, input.shape)) {
          const reduced = sumToShape(gi, input.shape);
          if (gi !== g && !results.slice(i + 1).includes(gi) && !claimed.has(gi)) gi.dispose();
          gi = reduced;
        } else if (gi === g || claimed.has(gi)) {
          gi = gi.alias(); // the same storage handed to two owners: give each its own handle
        }
        claimed.add(gi);
        accumulate(input, gi);
      }
      if (g !== userSeed) g.dispose();
      gradEnabled = prev;
      yield;
      gradEnabled = false;
    }
  } finally {
    // The gradients of nodes not reached (or, on an abandoned walk, not yet used).
    for (const g of grads.values()) if (g !== seed) g.dispose();
    gradEnabled = prev;
  }
}

installBackward(backward);
