/**
 * Elementwise ops: add, sub, mul, div with broadcasting and scalar forms; neg, exp, log, sqrt,
 * relu, pow. Forward = one dispatch of kernels/elementwise.wgsl; each backward rule is the
 * adjoint of the op's variation, with broadcast gradients summed back by the tape.
 */
import { record } from '../autograd/tape.ts';
import { BINARY, K, UNARY } from '../kernels/kernels.ts';
import { broadcastShapes, broadcastStrides, sameShape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { coalesce, groupsFor, pad8, uniform } from './util.ts';

const WG = 256;

export function checkTensor(op: string, x: unknown, what: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op}: ${what} must be a Tensor, got ${typeof x === 'object' ? Object.prototype.toString.call(x) : typeof x}.`);
  }
  if (x.dtype !== 'f32') throw new Error(`${op}: ${what} is an ${x.dtype} index tensor; ops take f32 tensors.`);
  // Checked here, before the op allocates its output (else the output would leak on the throw).
  if (x.isDisposed) {
    throw new Error(
      `${op}: ${what} (tensor #${x.id} [${x.shape.join(', ')}]) was disposed and cannot be used. ` +
        'Keep it out of tidy() (return it, or keep() it) or do not dispose it before this use.',
    );
  }
}

function checkScalar(op: string, v: number): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${op}: scalar operand must be a number, got ${String(v)}.`);
}

/** y = f(x) for a unary op code (forward only). */
function unaryForward(op: string, x: Tensor, code: number, p0 = 0, p1 = 0): Tensor {
  const y = Tensor.empty(x.shape, op);
  K.unary.dispatch({
    bindings: { ux: x.bind(op), uy: y.bind(op, 'read_write'), up: uniform({ n: x.size, p0, p1 }) },
    overrides: { OP: code, WG },
    workgroups: groupsFor(x.size, WG),
  });
  return y;
}

/** z = g(a, b) with broadcasting (forward only). */
function binaryForward(op: string, a: Tensor, b: Tensor, code: number): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const z = Tensor.empty(shape, op);
  const plain = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  K.binary.dispatch({
    bindings: {
      ba: a.bind(op),
      bb: b.bind(op),
      bz: z.bind(op, 'read_write'),
      bp: uniform({
        n: z.size,
        rank: c.shape.length,
        shape: pad8(c.shape),
        stride_a: pad8(c.strides[0]!),
        stride_b: pad8(c.strides[1]!),
      }),
    },
    overrides: { OP: code, WG, BROADCAST: !plain },
    workgroups: groupsFor(z.size, WG),
  });
  return z;
}

/** y = p0·x + p1, recorded (dx = p0·dy). */
function affine(op: string, x: Tensor, p0: number, p1: number): Tensor {
  const y = unaryForward(op, x, UNARY.affine, p0, p1);
  return record(op, y, [x], (g) => [p0 === 1 ? g : affine(`${op} backward`, g, p0, 0)]);
}

type Operand = Tensor | number;

function binaryOrScalar(
  op: string,
  a: Operand,
  b: Operand,
  both: (a: Tensor, b: Tensor) => Tensor,
  left: (a: Tensor, s: number) => Tensor,
  right: (s: number, b: Tensor) => Tensor,
): Tensor {
  if (typeof a === 'number' && typeof b === 'number') {
    throw new Error(`${op}: at least one operand must be a Tensor (got two numbers).`);
  }
  if (typeof b === 'number') {
    checkTensor(op, a, 'the first operand');
    checkScalar(op, b);
    return left(a, b);
  }
  if (typeof a === 'number') {
    checkTensor(op, b, 'the second operand');
    checkScalar(op, a);
    return right(a, b);
  }
  checkTensor(op, a, 'the first operand');
  checkTensor(op, b, 'the second operand');
  return both(a, b);
}

/** a + b (broadcasting; either may be a number). */
export function add(a: Operand, b: Operand): Tensor {
  return binaryOrScalar(
    'add',
    a,
    b,
    (x, y) => {
      const z = binaryForward('add', x, y, BINARY.add);
      // dz = da + db: both adjoints are the identity.
      return record('add', z, [x, y], (g) => [g, g]);
    },
    (x, s) => affine('add', x, 1, s),
    (s, y) => affine('add', y, 1, s),
  );
}

/** a − b (broadcasting; either may be a number). */
export function sub(a: Operand, b: Operand): Tensor {
  return binaryOrScalar(
    'sub',
    a,
    b,
    (x, y) => {
      const z = binaryForward('sub', x, y, BINARY.sub);
      // dz = da − db: adjoints +g and −g.
      return record('sub', z, [x, y], (g) => [g, neg(g)]);
    },
    (x, s) => affine('sub', x, 1, -s),
    (s, y) => affine('sub', y, -1, s),
  );
}

/** a ⊙ b (broadcasting; either may be a number). */
export function mul(a: Operand, b: Operand): Tensor {
  return binaryOrScalar(
    'mul',
    a,
    b,
    (x, y) => {
      const z = binaryForward('mul', x, y, BINARY.mul);
      // dz = da ⊙ b + a ⊙ db: adjoints g ⊙ b and g ⊙ a.
      return record('mul', z, [x, y], (g) => [
        x.requiresGrad ? binaryForward('mul backward', g, y, BINARY.mul) : null,
        y.requiresGrad ? binaryForward('mul backward', g, x, BINARY.mul) : null,
      ]);
    },
    (x, s) => affine('mul', x, s, 0),
    (s, y) => affine('mul', y, s, 0),
  );
}

/** a / b (broadcasting; either may be a number). */
export function div(a: Operand, b: Operand): Tensor {
  return binaryOrScalar(
    'div',
    a,
    b,
    (x, y) => {
      const z = binaryForward('div', x, y, BINARY.div);
      // dz = da / b − z ⊙ db / b: adjoints g / b and −(g ⊙ z) / b.
      return record('div', z, [x, y], (g) => {
        const da = x.requiresGrad ? binaryForward('div backward', g, y, BINARY.div) : null;
        let db: Tensor | null = null;
        if (y.requiresGrad) {
          const gz = binaryForward('div backward', g, z, BINARY.mul);
          const q = binaryForward('div backward', gz, y, BINARY.div);
          gz.dispose();
          db = unaryForward('div backward', q, UNARY.affine, -1, 0);
          q.dispose();
        }
        return [da, db];
      });
    },
    (x, s) => {
      if (s === 0) throw new Error('div: division by the scalar 0.');
      return affine('div', x, 1 / s, 0);
    },
    (s, y) => {
      const z = unaryForward('div', y, UNARY.rdiv, s);
      // z = s / y: dz = −s / y² dy = −(z / y) dy.
      return record('div', z, [y], (g) => {
        const zy = binaryForward('div backward', z, y, BINARY.div);
        const gz = binaryForward('div backward', g, zy, BINARY.mul);
        zy.dispose();
        const r = unaryForward('div backward', gz, UNARY.affine, -1, 0);
        gz.dispose();
        return [r];
      });
    },
  );
}

/** −x */
export function neg(x: Tensor): Tensor {
  checkTensor('neg', x, 'the input');
  return affine('neg', x, -1, 0);
}

/** eˣ */
export function exp(x: Tensor): Tensor {
  checkTensor('exp', x, 'the input');
  const y = unaryForward('exp', x, UNARY.exp);
  // dy = y ⊙ dx: adjoint g ⊙ y.
  return record('exp', y, [x], (g) => [binaryForward('exp backward', g, y, BINARY.mul)]);
}

/** ln x (NaN for x < 0, −∞ at 0, as in IEEE arithmetic). */
export function log(x: Tensor): Tensor {
  checkTensor('log', x, 'the input');
  const y = unaryForward('log', x, UNARY.log);
  // dy = dx / x: adjoint g / x.
  return record('log', y, [x], (g) => [binaryForward('log backward', g, x, BINARY.div)]);
}

/** √x */
export function sqrt(x: Tensor): Tensor {
  checkTensor('sqrt', x, 'the input');
  const y = unaryForward('sqrt', x, UNARY.sqrt);
  // dy = dx / (2y): adjoint g / (2y).
  return record('sqrt', y, [x], (g) => {
    const q = binaryForward('sqrt backward', g, y, BINARY.div);
    const r = unaryForward('sqrt backward', q, UNARY.affine, 0.5, 0);
    q.dispose();
    return [r];
  });
}

/** max(x, 0) */
export function relu(x: Tensor): Tensor {
  checkTensor('relu', x, 'the input');
  const y = unaryForward('relu', x, UNARY.relu);
  // dy = [x > 0] ⊙ dx: adjoint g masked by x > 0.
  return record('relu', y, [x], (g) => [binaryForward('relu backward', g, x, BINARY.reluGrad)]);
}

/** |x| */
export function abs(x: Tensor): Tensor {
  checkTensor('abs', x, 'the input');
  const y = unaryForward('abs', x, UNARY.abs);
  // d|x| = sign(x) dx: adjoint g ⊙ sign(x).
  return record('abs', y, [x], (g) => [binaryForward('abs backward', g, x, BINARY.signMul)]);
}

/** xᵖ for a scalar exponent p (negative bases need an integer p, else NaN). */
export function pow(x: Tensor, p: number): Tensor {
  checkTensor('pow', x, 'the base');
  if (typeof p !== 'number' || !Number.isFinite(p)) {
    throw new Error(`pow: the exponent must be a finite number, got ${String(p)} (tensor exponents are not supported).`);
  }
  if (p === 1) return affine('pow', x, 1, 0);
  const y = unaryForward('pow', x, UNARY.pow, p);
  // dy = p·x^(p−1) ⊙ dx: adjoint g ⊙ p·x^(p−1).
  return record('pow', y, [x], (g) => {
    const d = unaryForward('pow backward', x, UNARY.pow, p - 1);
    const r = binaryForward('pow backward', g, d, BINARY.mul);
    d.dispose();
    const s = unaryForward('pow backward', r, UNARY.affine, p, 0);
    r.dispose();
    return [s];
  });
}
