"""PyTorch CPU float32 timings for bench/eigh.bench.ts: torch.linalg.eigh forward, and forward+
backward of the sign-invariant loss the bench uses,
    L = sum_b [ sum_i w_i lambda_bi + sum_i c_i u_bi^T G u_bi ],
on the very matrices the bench decomposes. The bench writes them as raw little-endian float32
files into DIR: A_<d>.f32 [batch, d, d] (symmetric), w_<d>.f32 [d], c_<d>.f32 [d], G_<d>.f32 [d, d].

Before timing, each d is checked here (float64 arithmetic on the float32 results): the
reconstruction ||A - U diag(lambda) U^T||_F / ||A||_F and the orthogonality ||U^T U - I||_F of
every matrix, and a finite gradient. The results are also written back for the bench's own check
against its float64 reference: DIR/torch_values_<d>.f32 [batch, d] and DIR/torch_grad_<d>.f32
[batch, d, d] (dL/dA as autograd returns it; the bench symmetrises it).

Usage: python3 bench/peers/torch_eigh.py DIR BATCH D1,D2,...  -> JSON on stdout.
Needs PyTorch and numpy (Debian: sudo apt-get install python3-torch).
"""
import json
import os
import sys
import time

import numpy as np
import torch

# float32 LAPACK (ssyevd) errors, measured on the bench's inputs: reconstruction ~1.2e-6 at every d,
# orthogonality 3.2e-6 (d = 16) to 1.1e-5 (d = 128). 1e-4 leaves ~9x margin and still catches any
# wrong vector or value (those are O(1) errors).
BOUND = 1e-4


def load(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype='<f4').reshape(shape).copy())


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown'


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def timed(fn, min_calls=5, min_seconds=1.0, max_calls=200):
    """Median, MAD and minimum (ms) of at least min_calls calls (and at least min_seconds in all), after one warm-up call."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or (time.perf_counter() - start < min_seconds and len(times) < max_calls):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    med = median(times)
    return {'ms': med, 'mad_ms': median([abs(t - med) for t in times]), 'min_ms': min(times), 'calls': len(times)}


def check(a, values, vectors, d):
    a64 = a.double()
    u = vectors.double()
    lam = values.double()
    recon = torch.linalg.matrix_norm(a64 - (u * lam.unsqueeze(-2)) @ u.mT) / torch.linalg.matrix_norm(a64)
    orth = torch.linalg.matrix_norm(u.mT @ u - torch.eye(d, dtype=torch.float64))
    worst = {'reconstruction': float(recon.max()), 'orthogonality': float(orth.max())}
    for k, v in worst.items():
        if not v <= BOUND:
            raise SystemExit(f'torch_eigh.py: d = {d}: {k} error {v} > {BOUND}; not timed')
    return worst


def main():
    if len(sys.argv) != 4:
        raise SystemExit('usage: python3 bench/peers/torch_eigh.py DIR BATCH D1,D2,...')
    folder, batch, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(',')]
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cpu': cpu_model(), 'cores': os.cpu_count(), 'batch': batch, 'sizes': []}
    for d in sizes:
        a = load(os.path.join(folder, f'A_{d}.f32'), (batch, d, d))
        w = load(os.path.join(folder, f'w_{d}.f32'), (d,))
        c = load(os.path.join(folder, f'c_{d}.f32'), (d,))
        g = load(os.path.join(folder, f'G_{d}.f32'), (d, d))
        leaf = a.clone().requires_grad_(True)

        def forward():
            with torch.no_grad():
                return torch.linalg.eigh(a)

        def forward_backward():
            leaf.grad = None
            lam, u = torch.linalg.eigh(leaf)
            loss = (lam * w).sum() + ((u * (g @ u)).sum(-2) * c).sum()
            loss.backward()

        values, vectors = forward()
        errors = check(a, values, vectors, d)
        forward_backward()
        grad = leaf.grad.detach()
        if not bool(torch.isfinite(grad).all()):
            raise SystemExit(f'torch_eigh.py: d = {d}: the gradient is not finite; not timed')
        values.numpy().astype('<f4').tofile(os.path.join(folder, f'torch_values_{d}.f32'))
        grad.numpy().astype('<f4').tofile(os.path.join(folder, f'torch_grad_{d}.f32'))
        out['sizes'].append({'d': d, 'forward': timed(forward), 'forward_backward': timed(forward_backward), 'check': errors})
    print(json.dumps(out, indent=2))


main()
