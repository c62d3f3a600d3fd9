#!/usr/bin/env bash
# Runs the upper-level experiments of the README's "Results" section on the real training set and prints
# their summary tables. Needs the data sets in ../shared/data (see config/experiments/base.conf).
#
#   deploy/experiments.sh stability|grid|optimizer|maid|adam-sweep|all [OUT_ROOT]   (default OUT_ROOT: runs/experiments)
#
# Every run is an ordinary `bilevel train` of config/experiments/base.conf with --set overrides, so each row
# of a table can be reproduced alone with the command printed before it runs.
# BUDGET=N overrides every run's budget (e.g. BUDGET=3000 for a smoke test into another OUT_ROOT);
# DATA_ROOT=DIR takes BSD400 and Set12 from DIR instead of the paths in base.conf.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BILEVEL="$ROOT/deploy/bilevel"
BASE="$ROOT/config/experiments/base.conf"
group="${1:?usage: deploy/experiments.sh stability|grid|optimizer|maid|adam-sweep|all [OUT_ROOT]}"
OUT="${2:-$ROOT/runs/experiments}"
EXTRA=()
if [ -n "${BUDGET:-}" ]; then EXTRA=(--budget "$BUDGET"); fi
if [ -n "${DATA_ROOT:-}" ]; then EXTRA+=(--set "data.train=$DATA_ROOT/BSD400" --set "data.validation=$DATA_ROOT/Set12"); fi

run() {  # run NAME [--set k=v ...]
    local name="$1"; shift
    local dir="$OUT/$name"
    if [ -f "$dir/model.json" ]; then echo "skip $name (done)" >&2; return 0; fi
    rm -rf "$dir"
    echo "+ bilevel train --config config/experiments/base.conf --out $dir $* ${EXTRA[*]}" >&2
    "$BILEVEL" train --quiet --config "$BASE" --out "$dir" "$@" "${EXTRA[@]}" >/dev/null || echo "  ($name stopped early: see its metrics)" >&2
}

stability() {
    # constant vs decreasing step at the edge of stability (SGD), 3 seeds each
    for seed in 1 2 3; do
        run "stability-constant-s$seed" --seed "$seed" --set train.step=constant:0.5
        run "stability-decreasing-s$seed" --seed "$seed" --set train.step=poly:0.5:0.5
    done
    "$BILEVEL" summarize "$OUT"/stability-*
}

grid() {
    # accuracy schedule x step schedule (SGD, seed 1)
    for acc in constant:1e-1 poly:1e-1:0.25 poly:1e-1:1 geometric:1e-1:0.97:1e-4; do
        for step in constant:0.1 poly:0.1:0.5; do
            run "grid-acc-${acc//[:.]/_}-step-${step//[:.]/_}" --set train.accuracy="$acc" --set train.step="$step"
        done
    done
    "$BILEVEL" summarize "$OUT"/grid-*
}

optimizer() {
    # Adam vs SGD, both with the theory's decreasing step, 3 seeds
    for seed in 1 2 3; do
        run "optimizer-sgd-s$seed" --seed "$seed" --method isgd --set train.step=poly:0.3:0.5
        run "optimizer-adam-s$seed" --seed "$seed" --method adam --set train.step=poly:0.01:0.5
    done
    "$BILEVEL" summarize "$OUT"/optimizer-*
}

maid() {
    # ISGD vs MAID on equal budgets (total computations) on one fixed training set: the 16 crops of 64x64 that
    # the crop plan takes from the first 16 BSD400 images (one crop per image, positions and noise fixed by the
    # seed), 3 seeds (= 3 crop sets). MAID is full batch (all 16 crops per hypergradient, line search on the
    # full loss) with estimated error bounds (with certified ones it never accepts a FoE hypergradient);
    # ISGD uses minibatches of 8 of the same 16 crops with the step of the optimizer group.
    local crops=(--set data.max-train-images=16 --set data.crops-per-image=1)
    for seed in 1 2 3; do
        run "maid-maid-s$seed" --seed "$seed" --method maid "${crops[@]}" --set train.error-bound=estimated \
            --set train.maid.alpha0=0.3 --set train.validate-every=1
        run "maid-isgd-s$seed" --seed "$seed" --method isgd "${crops[@]}" --set train.batch=8 \
            --set train.step=poly:0.3:0.5 --set train.validate-every=5
    done
    "$BILEVEL" summarize --at 10000,20000,40000 "$OUT"/maid-*
}

adam_sweep() {
    # Adam step-size sweep: alpha_k = A/sqrt(k+1), seed 1
    for a in 0.003 0.01 0.03 0.1; do
        run "adam-sweep-${a//./_}" --seed 1 --method adam --set train.step=poly:$a:0.5
    done
    "$BILEVEL" summarize --at 10000,20000,40000 "$OUT"/adam-sweep-*
}

case "$group" in
    stability) stability ;;
    grid) grid ;;
    optimizer) optimizer ;;
    maid) maid ;;
    adam-sweep) adam_sweep ;;
    all) stability; grid; optimizer; maid; adam_sweep ;;
    *) echo "unknown experiment group '$group' (stability, grid, optimizer, maid, adam-sweep, all)" >&2; exit 2 ;;
esac
