#!/usr/bin/env bash
# A device session's GPU checks in one run (the "on a GPU" rows of docs/benchmarks.md):
#
#   bash experiments/gpu_checks.sh OUT [TOTAL_SECONDS]
#
# For a machine whose python3 already has jax with CUDA, equinox, optax, torch, safetensors,
# scipy, rich and matplotlib (the device image; sbi, nflows, arviz and dask are not needed):
# src/ goes on PYTHONPATH, nothing is installed. Each stage is bounded, and the last one gets
# what is left of TOTAL_SECONDS (default 540):
#   1. PINN inference per 10k and 1e6 points, shipped (a)-(d)      pinn_eval.py --timing-only
#   2. SECRET: 1e6 draws and log densities, float64 and float32    secret_eval.py --speed-only
#   3. CRE Monte Carlo realisations/s at seed 003's single point     bench_cre.py
#   4. recipe (d) (a GPU recipe: batch 8192, 1,500 L-BFGS iterations on 8,192 points; from (a)
#      with a curriculum since 2026-12-06), its Adam
#      schedule fitted to the time left (pinn_train.py --fit-seconds); OUT/pinn_d_gpu.tgz holds
#      the artifact and its checkpoints (evaluate it with pinn_eval.py --only d --artifact).
#      On 2026-12-04 ~170 s went to compilation before the first Adam step: stage 4 keeps 320 s
#      for that, L-BFGS and the validation, and is skipped with less than 420 s left.
# float32 matrix products at full precision (JAX_DEFAULT_MATMUL_PRECISION=highest): TF32 would
# cost the PINN its sub-percent accuracy. OUT gets log.txt, three summary JSON files and the tgz.
set -u
OUT=${1:?usage: gpu_checks.sh OUT [TOTAL_SECONDS]}
TOTAL=${2:-540}
cd "$(dirname "$0")/.."
source experiments/device_env.sh
export JAX_DEFAULT_MATMUL_PRECISION=highest

train_d() {    # recipe (d) at GPU size into /tmp/pinn_d_gpu, within $1 seconds in all
  local budget=$1 dir=/tmp/pinn_d_gpu
  if (( budget < 420 )); then echo "skipped: ${budget} s left"; return; fi
  mkdir -p "$dir/recipe"       # the committed recipe, its warm start made absolute
  sed -e "s|^warm_start = \"\.\./|warm_start = \"$PWD/emulators/|" \
      emulators/pinn_d_conditional/recipe.toml > "$dir/recipe/recipe.toml"
  grep -E '^(warm_start|steps|batch|decay_steps|curriculum_steps|lbfgs_steps|lbfgs_points) =' "$dir/recipe/recipe.toml"
  # Adam gets what is left after compilation, L-BFGS, validation and the archive
  timeout $((budget - 15)) python3 experiments/pinn_train.py "$dir/recipe/recipe.toml" --out "$dir/artifact" \
    --fit-seconds $((budget - 320)) --seconds $((budget - 270))
  echo "pinn_train exit status $?"
  tar czf "$OUT/pinn_d_gpu.tgz" -C "$dir" . && ls -l "$OUT/pinn_d_gpu.tgz"
}

{
  stage environment
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import jax, equinox, optax, numpy, torch; print('jax', jax.__version__, jax.devices(), \
'equinox', equinox.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)"
  stage "PINN inference (pinn_eval.py --timing-only)"
  timeout 120 python3 experiments/pinn_eval.py --timing-only --out "$OUT/pinn_timing"
  stage "SECRET speed (secret_eval.py --speed-only)"
  timeout 90 python3 experiments/secret_eval.py --speed-only --secret emulators/secret_cpu --out "$OUT/secret_speed"
  stage "CRE Monte Carlo (bench_cre.py)"
  timeout 100 python3 experiments/bench_cre.py --realisations 256 --batch 64 --out "$OUT/bench_cre"
  stage "PINN (d) at GPU size"
  train_d $((TOTAL - SECONDS))
  stage done
} 2>&1 | tee "$OUT/log.txt"
