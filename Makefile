# aegrad — the README's commands. `make demo` and `make test` work on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# The CPU wheel of torch is pinned and installed first: an unpinned torch would pull a multi-GB CUDA build.
TORCH   := torch==2.13.0
STAMP   := $(VENV)/.installed

.PHONY: demo test test-fast bench install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/aegrad train --preset digits-mlp --out runs/demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

# The peers (pythae, Keras) install beside the pinned torch; if they cannot, the benchmark skips them.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -c 'import torch; print("torch==" + torch.__version__)' > $(VENV)/torch-pin.txt
	$(BIN)/pip install -q -c $(VENV)/torch-pin.txt -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(STAMP)
	-$(MAKE) --no-print-directory $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --out bench.json

clean:
	rm -rf $(VENV) runs studies bench.json
