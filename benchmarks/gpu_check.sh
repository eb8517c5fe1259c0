#!/usr/bin/env bash
# The GPU measurement (benchmarks/gpu_check.py), for a machine with its own PyTorch and no registry.
#   here (with a registry):  bash benchmarks/gpu_check.sh prepare   # wheels + data into .gpu/ (git-ignored)
#   on the GPU machine:      bash benchmarks/gpu_check.sh           # ~5 minutes; writes bench/gpu_check/
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = prepare ]; then
    mkdir -p .gpu/wheels .gpu/data
    # pyro-ppl and its two small dependencies; the GPU machine brings torch, numpy and tqdm
    python3 -m pip download -q --no-deps -d .gpu/wheels "pyro-ppl>=1.9,<2" pyro-api opt-einsum
    cp -r "${VAEZOO_DATA:-../shared/data}/binarized_mnist" .gpu/data/
    du -sh .gpu
    exit 0
fi
python3 -m pip install -q --no-index --no-deps --find-links .gpu/wheels --target .gpu/site pyro-ppl pyro-api opt-einsum
PYTHONPATH="$PWD:$PWD/.gpu/site" python3 benchmarks/gpu_check.py --device "${DEVICE:-cuda}" --data-root .gpu/data "$@"
