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

demo: $(STAMP)
	@echo "tankerwatch demo: writing to $(DEMO_DIR)/"
	$(TW) synth tiles $(DEMO_DIR)/tiles --count 64 --size 256 --seed 0 --overwrite
	$(TW) synth series $(DEMO_DIR)/series --dates 8 --size 1024 --seed 0 --overwrite
# Export the newest best checkpoint the demo trained (or DEMO_CKPT=...) and run detect on the series.
	@CKPT="$(DEMO_CKPT)"; [ -n "$$CKPT" ] || CKPT=$$(find $(DEMO_DIR) runs/synthetic -name 'best-*.ckpt' -printf '%T@ %p\n' 2>/dev/null | sort -nr | head -1 | cut -d' ' -f2-); \
	if [ -z "$$CKPT" ]; then echo "no trained checkpoint found: skipping export and detect"; else \
		$(TW) export "$$CKPT" -o $(DEMO_DIR)/model.onnx --overwrite && \
		$(TW) detect $(DEMO_DIR)/model.onnx $(DEMO_DIR)/series -o $(DEMO_DIR)/detections --overwrite --threads 2 && \
		echo "detections: $(DEMO_DIR)/detections/*.geojson (+ .csv); quick-looks: $(DEMO_DIR)/detections/*.quicklook.png"; fi
# The report comes last and prints its path; its input is the series' ground truth until the
# demo's detect step writes $(DEMO_DIR)/detections, which it then reads instead.
	$(TW) report $$(if [ -d $(DEMO_DIR)/detections ]; then echo $(DEMO_DIR)/detections; else echo $(DEMO_DIR)/series/*.truth.geojson; fi) \
		-o $(DEMO_DIR)/report --truth-events $(DEMO_DIR)/series/events.csv --overwrite

clean:
	rm -rf $(DEMO_DIR) build dist *.egg-info
