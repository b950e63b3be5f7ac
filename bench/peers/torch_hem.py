"""PyTorch CUDA reference timings for bench/ (eager, float32, TF32 off): matmul n³ and the HEM
layer forward+backward at the paper's shape, the same math as src/ops/hem/unfused.ts (eps 1e-6).
Run where PyTorch and a CUDA GPU exist:  python3 bench/peers/torch_hem.py  → JSON on stdout."""
import json
import math
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"


def timed(fn, reps=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def hem(x, mu0, eta, T, tau):
    mu = mu0
    for _ in range(T):
        gamma = torch.softmax(x @ mu.transpose(-1, -2) / tau, dim=-1)
        counts = gamma.sum(1).unsqueeze(-1)
        f = (gamma.transpose(-1, -2) @ x) / (counts + 1e-6)
        mu = (1 - eta) * mu + eta * f
    return gamma @ mu


out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "tf32": False}
for n in (1024, 4096):
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    ms = timed(lambda: a @ b)
    out[f"matmul_{n}"] = {"ms": ms, "gflops": 2 * n**3 / (ms * 1e6)}

B, N, C, K, T = 8, 65 * 65, 512, 64, 3
for label, eta in (("hem_eta0.5", 0.5), ("em_eta1", 1.0)):
    x = torch.randn(B, N, C, device=dev, requires_grad=True)
    mu0 = (torch.randn(K, C, device=dev) / math.sqrt(C)).requires_grad_(True)
    g = torch.randn(B, N, C, device=dev)

    def fwd():
        with torch.no_grad():
            hem(x, mu0, eta, T, math.sqrt(C))

    def fwd_bwd():
        x.grad = None
        mu0.grad = None
        (hem(x, mu0, eta, T, math.sqrt(C)) * g).sum().backward()

    out[label] = {"shape": [B, N, C, K, T], "forward_ms": timed(fwd), "forward_backward_ms": timed(fwd_bwd)}
print(json.dumps(out, indent=2))
