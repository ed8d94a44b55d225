#!/usr/bin/env bash
# The GPU checks of the speed issue, as one prepared run on the device machine (it has JAX and
# PyTorch but neither TensorFlow nor Keras). Here, once:  make gpu-wheels   (Keras and its two
# missing dependencies as cp312 wheels in .whl/, git-ignored). Then one device call:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
# Per backend: the model test suite (correctness: batched = sequential, leakage-free, bf16
# accuracy), then the throughput benchmark at paper scale in float32 and bfloat16, and one
# measured BL Pset1-sized repetition in bfloat16. Everything is logged under $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/device.txt"
for backend in ${BACKENDS:-jax torch}; do
    export KERAS_BACKEND=$backend
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/model 2>&1 | tail -15 \
        | tee "$OUT/tests_$backend.txt"
    for dtype in float32 bfloat16; do
        extra=""
        [ "$dtype" = bfloat16 ] && extra="--measure-repetition"
        timeout 200 python3 benchmarks/training_throughput.py --cells 60000 --folds 20 \
            --batch-size 1024 --epochs 3 --dtype "$dtype" --skip-sequential $extra 2>&1 \
            | grep -v "^I0000\|^W0000" | tee "$OUT/throughput_${backend}_${dtype}.txt"
    done
done
