/**
 * Elementwise ops: add, sub, mul, div with broadcasting and scalar forms; neg, exp, log, sqrt,
 * relu, pow. Forward = one launcher of src/kernels/elementwise.ts; each backward rule is the
 * adjoint of the op's variation, with broadcast gradients summed back by the tape.
 */
import { record } from '../autograd/tape.ts';
import { binary, BINARY, unary, UNARY } from '../kernels/elementwise.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkScalar, checkTensor } from './check.ts';

/** y = p0·x + p1, recorded (dx = p0·dy). */
function affine(op: string, x: Tensor, p0: number, p1: number): Tensor {
  const y = unary(op, x, UNARY.affine, p0, p1);
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
      const z = binary('add', x, y, BINARY.add);
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
      const z = binary('sub', x, y, BINARY.sub);
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
      const z = binary('mul', x, y, BINARY.mul);
      // dz = da ⊙ b + a ⊙ db: adjoints g ⊙ b and g ⊙ a.
      return record('mul', z, [x, y], (g) => [x.requiresGrad ? binary('mul backward', g, y, BINARY.mul) : null, y.requiresGrad ? binary('mul backward', g, x, BINARY.mul) : null]);
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
      const z = binary('div', x, y, BINARY.div);
      // dz = da / b − z ⊙ db / b: adjoints g / b and −(g ⊙ z) / b.
      return record('div', z, [x, y], (g) => {
        const da = x.requiresGrad ? binary('div backward', g, y, BINARY.div) : null;
        let db: Tensor | null = null;
        if (y.requiresGrad) {
          const gz = binary('div backward', g, z, BINARY.mul);
          const q = binary('div backward', gz, y, BINARY.div);
          gz.dispose();
          db = unary('div backward', q, UNARY.affine, -1, 0);
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
      const z = unary('div', y, UNARY.rdiv, s);
      // z = s / y: dz = −s / y² dy = −(z / y) dy.
      return record('div', z, [y], (g) => {
        const zy = binary('div backward', z, y, BINARY.div);
        const gz = binary('div backward', g, zy, BINARY.mul);
        zy.dispose();
        const r = unary('div backward', gz, UNARY.affine, -1, 0);
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
  const y = unary('exp', x, UNARY.exp);
  // dy = y ⊙ dx: adjoint g ⊙ y.
  return record('exp', y, [x], (g) => [binary('exp backward', g, y, BINARY.mul)]);
}

/** ln x (NaN for x < 0, −∞ at 0, as in IEEE arithmetic). */
export function log(x: Tensor): Tensor {
  checkTensor('log', x, 'the input');
  const y = unary('log', x, UNARY.log);
  // dy = dx / x: adjoint g / x.
  return record('log', y, [x], (g) => [binary('log backward', g, x, BINARY.div)]);
}

/** √x */
export function sqrt(x: Tensor): Tensor {
  checkTensor('sqrt', x, 'the input');
  const y = unary('sqrt', x, UNARY.sqrt);
  // dy = dx / (2y): adjoint g / (2y).
  return record('sqrt', y, [x], (g) => {
    const q = binary('sqrt backward', g, y, BINARY.div);
    const r = unary('sqrt backward', q, UNARY.affine, 0.5, 0);
    q.dispose();
    return [r];
  });
}

/** max(x, 0) */
export function relu(x: Tensor): Tensor {
  checkTensor('relu', x, 'the input');
  const y = unary('relu', x, UNARY.relu);
  // dy = [x > 0] ⊙ dx: adjoint g masked by x > 0.
  return record('relu', y, [x], (g) => [binary('relu backward', g, x, BINARY.reluGrad)]);
}

/** |x| */
export function abs(x: Tensor): Tensor {
  checkTensor('abs', x, 'the input');
  const y = unary('abs', x, UNARY.abs);
  // d|x| = sign(x) dx: adjoint g ⊙ sign(x).
  return record('abs', y, [x], (g) => [binary('abs backward', g, x, BINARY.signMul)]);
}

/** xᵖ for a scalar exponent p (negative bases need an integer p, else NaN). */
export function pow(x: Tensor, p: number): Tensor {
  checkTensor('pow', x, 'the base');
  if (typeof p !== 'number' || !Number.isFinite(p)) {
    throw new Error(`pow: the exponent must be a finite number, got ${String(p)} (tensor exponents are not supported).`);
  }
  if (p === 1) return affine('pow', x, 1, 0);
  const y = unary('pow', x, UNARY.pow, p);
  // dy = p·x^(p−1) ⊙ dx: adjoint g ⊙ p·x^(p−1).
  return record('pow', y, [x], (g) => {
    const d = unary('pow backward', x, UNARY.pow, p - 1);
    const r = binary('pow backward', g, d, BINARY.mul);
    d.dispose();
    const s = unary('pow backward', r, UNARY.affine, p, 0);
    r.dispose();
    return [s];
  });
}
