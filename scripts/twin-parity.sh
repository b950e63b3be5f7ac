#!/usr/bin/env bash
# The PyTorch twin's parity check (python/README.md), run by .ci/run after npm test:
#   1. hemgpu exports small SegNets (hemnet, emanet, pooling, plain × SGD, AdamW with the bases'
#      plain moving average, and two with the old l2norm rule, one of them a config from before the
#      field) around one training step and trains a tiny digit-scene run with `hemgpu train`;
#   2. python/parity.py compares the twin's logits, loss, gradients and step with hemgpu's, round-
#      trips every checkpoint through the twin (bit-exact, byte-identical files), and trains the
#      CLI checkpoint one step further in PyTorch;
#   3. hemgpu loads what the twin wrote: `twin-parity.ts verify`, `hemgpu eval` of the round trip
#      (the same numbers as the original's), `hemgpu train --resume` from the PyTorch step;
#   4. the VOC recipe end to end (when Pillow is there): a tiny synthetic VOC folder, `hemgpu
#      train --data voc`, two torchrun processes (gloo, CPU) continuing it, `hemgpu train --resume`;
#   5. negative controls: a twin with the wrong η, and one averaging the bases by the other rule
#      (plain ↔ l2norm), must fail the parity in every case they run.
# Needs Node (npm ci done: dist/ built) and a Python with PyTorch: /usr/bin/python3 (Debian's
# python3-torch) or $HEMGPU_TWIN_PYTHON. Usage: scripts/twin-parity.sh [work dir, default .cache/twin-parity]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${HEMGPU_TWIN_PYTHON:-/usr/bin/python3}
out=${1:-.cache/twin-parity}
start=$SECONDS

step() {
  echo "+ $*"
  "$@"
}

if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "twin-parity: $PY cannot import torch; install Debian's python3-torch (apt-get install python3-torch) or set HEMGPU_TWIN_PYTHON to a Python with PyTorch." >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
hemgpu() { node bin/hemgpu.mjs "$@"; }
# The model flags, and the digit scenes' own (train refuses those with --data voc).
TINY=(--size 32 --width 4 --channels 16 --bases 4 --batch 2 --em-gamma 0.5 --quiet)
DIGITS=(--min-scale 14 --max-scale 20)

step node scripts/run.mjs scripts/twin-parity.ts export --out "$out"
step hemgpu train "${TINY[@]}" "${DIGITS[@]}" --optimizer adamw --steps 2 --train-scenes 4 --val-scenes 2 --out "$out/cli"
step "$PY" python/parity.py --dir "$out" --cli-checkpoint "$out/cli/checkpoint.safetensors"
step node scripts/run.mjs scripts/twin-parity.ts verify --dir "$out"
step "$PY" python/roundtrip.py "$out/cli/checkpoint.safetensors"
head -c 2000 "$out/cli/checkpoint.safetensors" >"$out/truncated.safetensors"
if "$PY" python/roundtrip.py "$out/truncated.safetensors" 2>"$out/truncated.log"; then
  echo "twin-parity: python/roundtrip.py accepted a truncated checkpoint" >&2
  exit 1
fi

miou() { hemgpu eval --checkpoint "$1" | grep '^mIoU'; }
a=$(miou "$out/cli/checkpoint.safetensors")
b=$(miou "$out/cli/roundtrip.safetensors")
echo "hemgpu eval: original: $a; through PyTorch: $b"
[ "$a" = "$b" ] || { echo "twin-parity: hemgpu eval differs after the round trip through PyTorch" >&2; exit 1; }
step hemgpu train --resume "$out/cli/torch-step.safetensors" --steps 4 --allow-change steps --out "$out/cli-resumed"

if "$PY" -c 'import PIL' >/dev/null 2>&1; then
  step "$PY" python/tiny_voc.py "$out/voc"
  step hemgpu train "${TINY[@]}" --data voc --voc-root "$out/voc" --steps 2 --val-scenes 4 --out "$out/voc-hemgpu"
  # --redirects 1 --tee 1: torchrun of PyTorch 1.13 under Python 3.11 (Debian 12) fails on its
  # default "0" (an IntFlag change); these values avoid it and keep the output on the console.
  # --standalone: a free port on localhost; gloo over the loopback interface.
  step env OMP_NUM_THREADS=1 GLOO_SOCKET_IFNAME=lo "$PY" -m torch.distributed.run --standalone --redirects 1 --tee 1 --nproc_per_node 2 python/train_voc.py \
    --init "$out/voc-hemgpu/checkpoint.safetensors" --voc-root "$out/voc" --out "$out/voc-torch" --steps 4 --workers 0 --log-every 1
  step hemgpu train --resume "$out/voc-torch/checkpoint.safetensors" --steps 5 --allow-change steps --out "$out/voc-resumed"
else
  echo "twin-parity: $PY has no Pillow (python3-pil): the VOC recipe's check is skipped"
fi

# Each negative control must fail every case it runs (parity.py's last line: "parity: K of N cases fail").
negative() { # name, what, log, first failure's pattern
  local log=$out/$3 counts
  if "$PY" python/parity.py --dir "$out" --perturb "$1" >"$log" 2>&1; then
    echo "twin-parity: the negative control ($2) passed the parity check; the check is not sensitive" >&2
    exit 1
  fi
  counts=$(sed -n 's/^parity: \([0-9]*\) of \([0-9]*\) cases fail$/\1 \2/p' "$log")
  if [ -z "$counts" ] || [ "${counts% *}" != "${counts#* }" ]; then
    echo "twin-parity: the negative control ($2) failed ${counts% *} of ${counts#* } cases, not all ($log)" >&2
    exit 1
  fi
  echo "negative control: with $2 the parity fails in all ${counts#* } cases, as it must: $(grep -m1 -o "$4" "$log") ($log)"
}
negative eta "η off by 0.05" negative-control.log 'hemnet-sgd: logits .*'
negative bases-average "the bases averaged by the other rule" negative-control-bases.log 'hemnet-sgd: buffers .*'
echo "twin-parity: every check holds ($((SECONDS - start)) s)"
