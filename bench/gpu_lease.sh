#!/usr/bin/env bash
# The project's checks on a lent GPU (the workplace's device tool, kind nvidia-h200: Python 3.12 with
# torch, lightning and onnxruntime, no package registry), in two calls on one warm machine: what a
# call may carry (64 MiB) holds the wheels the image lacks or the real Sentinel-2 ports, not both.
#
#   bash bench/gpu_lease.sh prepare            here: the wheels into .whl/, the ports into .gpu-data/
#   bash bench/gpu_lease.sh install OUT        there (carry .whl): wheels + tankerwatch into /tmp/site, smoke check
#   bash bench/gpu_lease.sh run OUT [MIN [DEVICE]] there (carry .gpu-data), at once after install, while the
#                                              machine is warm: bench/peer_sen2ships.py with both models
#                                              training at the same time for MIN minutes each (default 6),
#                                              and bench/freeboard_stage.py (the load stage alone) for as
#                                              long, once per STAGE_VARIANTS entry, on tiles generated there
#
# Settings (environment): OUR_ARGS, extra `tankerwatch fit` arguments for ours in the peer benchmark
# (e.g. "--data.batch_size=32 --model.lr=0.006"); STAGE_VARIANTS, ';'-separated argument sets for the
# stage runs (default "--batch 16;--batch 4").
#
# What comes back (at most 8 files under OUT): the logs, results.json.gz, both training curves and checkpoints.
set -uo pipefail
cd "$(dirname "$0")/.."
# A dry run here: SITE=DIR PEER_PYTHON=.venv-peer/bin/python TRAIN_TILES=100 EVAL_TILES=20 with the
# project's .venv first on PATH and DEVICE cpu.
SITE=${SITE:-/tmp/site}
SEN2SHIPS=../shared/data/sen2ships
# Python 3.12 builds of what the image lacks, mostly the versions the project's .venv resolves
# (rasterio 1.4.3: its wheel is 22 MB against 1.4.4's 36).
WHEELS="rasterio==1.4.3 pyproj==3.7.2 shapely==2.2.0 pycocotools affine cligj click-plugins
albumentations==2.0.8 albucore==0.0.24 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types
typing-inspection typing-extensions stringzilla==5.3.2 simsimd==6.5.16 jsonargparse==4.53.0
docstring-parser typeshed-client ultralytics==8.4.190 ultralytics-thop setuptools==80.9.0 wheel"

case "${1:-}" in
prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.gpu-data/' .git/info/exclude || echo '/.gpu-data/' >> .git/info/exclude
    rm -rf .whl .gpu-data && mkdir -p .whl .gpu-data
    platforms=""
    for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_28_x86_64 any; do
        platforms+=" --platform $p"
    done
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        $platforms -d .whl $WHEELS || exit 1
    cp -r "$SEN2SHIPS" .gpu-data/sen2ships
    du -sh .whl .gpu-data
    ;;
install)
    out=${2:?OUT}
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
        || exit 1
    # PYTHONPATH first: the build needs the carried setuptools (>= 69), whatever the image holds.
    export PYTHONPATH=$SITE PATH=$SITE/bin:$PATH
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target "$SITE" . \
        || exit 1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/install.log"
    YOLO_OFFLINE=1 YOLO_CONFIG_DIR=/tmp/yolo-config python3 - <<'EOF' 2>&1 | tee -a "$out/install.log"
import sys, torch, lightning, onnxruntime, rasterio, shapely, pyproj, ultralytics
import tankerwatch.train, tankerwatch.infer
from tankerwatch.models import build_detector
print(sys.version.split()[0], "torch", torch.__version__, "lightning", lightning.__version__, "onnxruntime",
      onnxruntime.__version__, "rasterio", rasterio.__version__, "ultralytics", ultralytics.__version__)
model = build_detector(backbone="tiny", in_channels=3).cuda()
print("cuda forward ok:", type(model(torch.zeros(1, 3, 64, 64, device="cuda"))).__name__)
EOF
    ;;
run)
    out=${2:?OUT}
    budget=${3:-6}
    device=${4:-cuda}
    mkdir -p "$out"
    if [ ! -d "$SITE/tankerwatch" ]; then
        echo "no $SITE/tankerwatch: this is a fresh machine; call 'install' first (carry .whl)" >&2
        exit 3
    fi
    export PYTHONPATH=$SITE PATH=$SITE/bin:$PATH PYTHONUNBUFFERED=1
    # The tree may be newer than the install call's copy.
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target "$SITE" . \
        || exit 1
    if [ ! -e "$SEN2SHIPS" ]; then
        mkdir -p "$(dirname "$SEN2SHIPS")" && ln -s "$PWD/.gpu-data/sen2ships" "$SEN2SHIPS"
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/peer.log" 2>&1
    our_args=(--our-arg=--data.num_workers=4)
    for arg in ${OUR_ARGS:-}; do our_args+=("--our-arg=$arg"); done
    (python3 bench/peer_sen2ships.py --device "$device" --parallel --budget-min "$budget" --threads 4 \
        --peer-workers 4 --peer-python "${PEER_PYTHON:-$(command -v python3)}" --work /tmp/peer \
        "${our_args[@]}" >> "$out/peer.log" 2>&1
     echo "peer_sen2ships exit $?" >> "$out/peer.log") &
    # The load stage alone on the tiles of docs/experiments.md (F: seed 1, E: seed 11), E also with
    # one cue drawn (the same world: --cues keeps the seed's draws).
    tiles=/tmp/stage
    if (tankerwatch synth tiles $tiles/train --count "${TRAIN_TILES:-1600}" --size 256 --gsd 0.4:2.5 --format coco --seed 1 \
            --threads 10 &&
        for cues in all shadow side; do
            tankerwatch synth tiles $tiles/eval-$cues --count "${EVAL_TILES:-400}" --size 256 --gsd 0.4:2.5 --format coco \
                --seed 11 --cues $cues --threads 10 || exit 1
        done) > "$out/tiles.log" 2>&1; then
        IFS=';' read -ra variants <<< "${STAGE_VARIANTS:---batch 16;--batch 4}"
        for k in "${!variants[@]}"; do
            # shellcheck disable=SC2086
            python3 bench/freeboard_stage.py --train $tiles/train --eval $tiles/eval-all --eval $tiles/eval-shadow \
                --eval $tiles/eval-side --epochs 200 --budget-min "$budget" --every 25 ${variants[$k]} \
                --threads 2 --device "$device" > "$out/stage-$k.log" 2>&1 &
        done
    fi
    wait
    cat "$out/tiles.log" >> "$out/peer.log" && rm "$out/tiles.log"
    # Both models' checkpoints come back too, so a step after training that fails there can be
    # redone here (bench/peer_sen2ships.py --score-checkpoints OURS.ckpt PEER.pt).
    gzip -c /tmp/peer/results.json > "$out/results.json.gz"
    tar -czf "$out/curves.tar.gz" -C /tmp/peer --ignore-failed-read ours/fit.log ours/peer_bench_ours \
        peer/train.log peer/train.json peer/train/results.csv peer/train/args.yaml
    cp "$(ls /tmp/peer/ours/checkpoints/best-*.ckpt | tail -n 1)" "$out/ours-best.ckpt"
    cp /tmp/peer/ours/checkpoints/last.ckpt "$out/ours-last.ckpt"
    cp /tmp/peer/peer/train/weights/best.pt "$out/peer-best.pt"
    tail -n 25 "$out/peer.log"
    for log in "$out"/stage-*.log; do grep -E "time budget|^epoch" "$log" | tail -n 2; done
    ;;
*)
    echo "usage: bash bench/gpu_lease.sh prepare | install OUT | run OUT [BUDGET_MIN [DEVICE]]" >&2
    exit 2
    ;;
esac
