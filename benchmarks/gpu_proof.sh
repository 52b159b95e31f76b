#!/usr/bin/env bash
# Proves sslteach's GPU path on a CUDA machine, in one go, in about 8 minutes:
#   1. install torch and the package from this repository, as README.md says;
#   2. the tests that exercise devices, with the CUDA-only ones (tests/test_cuda.py):
#      bf16 autocast losses vs float32, an epoch on CUDA with and without torch.compile,
#      resume on CUDA, SyncBatchNorm + DDP under NCCL;
#   3. benchmarks/gpu_epoch.py and --compile: ResNet-18 VICReg at batch 512 on 50,000
#      CIFAR-format images, seconds per epoch -> benchmarks/results/gpu_epoch*.{json,md};
#   4. a 2-epoch `sslteach train --preset study` on CIFAR-format files it writes, through
#      metrics.json;
#   5. benchmarks/profile_epoch.py: where an epoch's time goes, and host syncs per step;
# then prints a summary. No download beyond the package registries: the data are generated.
#
#   bash benchmarks/gpu_proof.sh                        # on a CUDA machine
#   bash benchmarks/gpu_proof.sh --device cpu --quick   # the same steps, small, on a CPU
#   ... --no-install                                    # use the Python already active
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda quick="" install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=${2:?--device needs cpu or cuda}; shift 2 ;;
    --device=*) device=${1#*=}; shift ;;
    --quick) quick=--quick; shift ;;
    --no-install) install=""; shift ;;
    *) echo "gpu_proof.sh: unknown argument $1 (use --device cpu|cuda, --quick, --no-install)" >&2
       exit 2 ;;
  esac
done
suffix=${quick:+_quick}
work=$(mktemp -d)
summary="$work/summary"
mkdir -p benchmarks/results
: >"$summary"

step() {  # step NAME COMMAND...: run, time, and record the outcome
  local name=$1 start=$SECONDS status=ok
  shift
  echo "=== $name"
  if ! "$@"; then status=FAILED; fi
  printf '%-34s %-7s %4d s\n' "$name" "$status" $((SECONDS - start)) >>"$summary"
}

if [ "$install" ]; then
  step "install (README's commands)" bash -c \
    'python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[dev]"'
fi
if [ "$install" ]; then . .venv/bin/activate; fi

python - "$device" <<'EOF'
import sys, torch
want = sys.argv[1]
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0))
if want == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_proof.sh: no CUDA GPU here; check the script with --device cpu --quick")
EOF

step "tests on the device" python -m pytest -q -p no:cacheprovider -rs \
  tests/test_cuda.py tests/test_losses.py tests/test_augment.py tests/test_train.py \
  tests/test_contrastive_and_asymmetric.py

bench_device=()
[ "$device" = cpu ] && bench_device=(--device cpu)
step "gpu_epoch.py" python benchmarks/gpu_epoch.py $quick "${bench_device[@]}"
step "gpu_epoch.py --compile" python benchmarks/gpu_epoch.py --compile $quick "${bench_device[@]}"

images=50000 small=()
if [ "$quick" ]; then
  images=1000 small=(--backbone small-cnn --projector 256-256 --batch-size 100 --optimizer adamw --lr 1e-3)
fi
python - "$work/data" "$images" <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from cifar_format import write_cifar10_batches
root, images = Path(sys.argv[1]), int(sys.argv[2])
write_cifar10_batches(root, per_batch=images // 5, test_size=images // 5)
print(f"wrote {images} CIFAR-format training images under {root}")
EOF
step "train --preset study, 2 epochs" sslteach train --dataset cifar10 --data-dir "$work/data" \
  --preset study --epochs 2 "${small[@]}" --device "$device" --no-progress --overwrite \
  --out "$work/run"
step "metrics.json finished" python - "$work/run/metrics.json" <<'EOF'
import json, sys
metrics = json.load(open(sys.argv[1]))
assert metrics["status"] == "finished" and len(metrics["history"]) == 2, metrics["status"]
print(f"{metrics['method']} on {metrics['dataset']}: {metrics['train_seconds']:.1f} s training,"
      f" linear probe {metrics['linear_probe_accuracy']:.3f}, device {metrics['device']}")
EOF

step "profile_epoch.py" python benchmarks/profile_epoch.py $quick "${bench_device[@]}"

echo
echo "=== summary ($device${quick:+, quick})"
cat "$summary"
for name in gpu_epoch gpu_epoch_compile profile_epoch; do
  [ -f "benchmarks/results/$name$suffix.md" ] && { echo; cat "benchmarks/results/$name$suffix.md"; }
done
failed=$(grep -c FAILED "$summary" || true)
rm -rf "$work"
[ "$failed" = 0 ]
