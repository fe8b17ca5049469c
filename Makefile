# The two commands a new user needs: `make demo` and `make test`. Both create or reuse .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TW := $(VENV)/bin/tankerwatch
STAMP := $(VENV)/.tankerwatch-installed
DEMO_DIR ?= demo_out
# torch and torchvision must be installed as this exact pair: on these machines both come from
# local disk, and a registry torchvision does not import beside a mismatched torch.
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-all install install-gpu lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PAIR)
	$(PY) -m pip install -q -e '.[train,dev]' $(TORCH_PAIR)
	touch $@

install: $(STAMP)

# The documented GPU swap: onnxruntime-gpu provides the same module as onnxruntime, so never both.
install-gpu: $(STAMP)
	ORT=$$($(PY) -c "import onnxruntime as o; print('.'.join(o.__version__.split('.')[:2]))"); \
	$(PY) -m pip uninstall -y onnxruntime && $(PY) -m pip install -q "onnxruntime-gpu==$$ORT.*"

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check infer models train tests bench

# The main job on the built-in default, synthetic port scenes: generate tiles, train briefly,
# calibrate p_loaded on tiles of another seed (more tankers than the validation split holds:
# 1,200 tiles hold about 2,000; on 400, the fitted temperature moved by a tenth between seeds),
# export to ONNX, detect on a whole synthetic scene and on a dated series, report on the series.
# DEMO_EPOCHS sets the training budget: 40 epochs take about 18.5 minutes on 2 AVX-512 cores; the load stage
# starts to read freeboard after about 20 epochs (`bench/train_synthetic.py` trains for real).
DEMO_EPOCHS ?= 40
# The training tiles with their twins, the same tiles without the hulls' shadows and without their
# sides (train/twins.py): the load stage learns what each cue adds to the pixels.
DEMO_TRAIN := '{path: $(DEMO_DIR)/tiles/train, twins: {shadow: $(DEMO_DIR)/tiles_noshadow/train, side: $(DEMO_DIR)/tiles_noside/train}}'
DEMO_LOGGER := '[{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "$(DEMO_DIR)/runs", "name": "demo"}}]'

demo: $(STAMP)
	@echo "== tankerwatch demo: synthetic data, everything under $(DEMO_DIR)/ =="
	$(TW) synth tiles $(DEMO_DIR)/tiles --count 1200 --size 256 --seed 0 --threads 2 --format coco --overwrite
	$(TW) synth tiles $(DEMO_DIR)/tiles_noshadow --count 1200 --size 256 --seed 0 --threads 2 --format coco \
		--cues side,bow --overwrite
	$(TW) synth tiles $(DEMO_DIR)/tiles_noside --count 1200 --size 256 --seed 0 --threads 2 --format coco \
		--cues shadow,bow --overwrite
	rm -rf $(DEMO_DIR)/checkpoints
	$(TW) fit --config configs/synthetic.yaml --trainer.max_epochs $(DEMO_EPOCHS) \
		--trainer.enable_progress_bar false --data.train $(DEMO_TRAIN) \
		--data.val $(DEMO_DIR)/tiles/val --data.test $(DEMO_DIR)/tiles/test \
		--checkpoint.dirpath $(DEMO_DIR)/checkpoints --trainer.logger $(DEMO_LOGGER)
	$(TW) synth tiles $(DEMO_DIR)/calib --count 1200 --size 256 --seed 11 --threads 2 --format coco --overwrite
	$(TW) calibrate $$(ls -t $(DEMO_DIR)/checkpoints/best-*.ckpt | head -1) $(DEMO_DIR)/calib \
		-o $(DEMO_DIR)/calibrated.ckpt --overwrite
	$(TW) export $(DEMO_DIR)/calibrated.ckpt -o $(DEMO_DIR)/model.onnx --val $(DEMO_DIR)/tiles/test --overwrite
	$(TW) synth scene $(DEMO_DIR)/scene.tif --size 3072 --gsd 1 --seed 1 --overwrite
	$(TW) detect $(DEMO_DIR)/model.onnx $(DEMO_DIR)/scene.tif -o $(DEMO_DIR)/detections --overwrite
	$(TW) synth series $(DEMO_DIR)/series --dates 8 --size 1024 --seed 0 --overwrite
	$(TW) detect $(DEMO_DIR)/model.onnx $(DEMO_DIR)/series -o $(DEMO_DIR)/series_detections --overwrite
	$(TW) report $(DEMO_DIR)/series_detections -o $(DEMO_DIR)/report --aoi $(DEMO_DIR)/series/terminal.aoi.geojson \
		--truth-events $(DEMO_DIR)/series/events.csv --overwrite
	@echo "== done: scene detections $(DEMO_DIR)/detections/scene.geojson (quick-look scene.quicklook.png);"
	@echo "   report $(DEMO_DIR)/report/report.md; model $(DEMO_DIR)/model.onnx =="

clean:
	rm -rf $(DEMO_DIR) build dist *.egg-info
