# Sourced by the device scripts (gpu_checks.sh, gpu_secret_data.sh) from the repository root,
# with OUT set: src/ on PYTHONPATH (the device image has the dependencies; nothing is
# installed), unbuffered output, OUT created, and `stage NAME` printing a timestamped header.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
stage() { echo "== $(date -u +%H:%M:%S) [${SECONDS} s] $*"; }
