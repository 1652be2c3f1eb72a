# The commands the README names. `make demo` and `make test` are the first two.
CARGO ?= cargo
# NVRTC for `make ptx`: a pinned wheel (CUDA 12.4: PTX ISA 8.4, loadable by drivers >= 550).
NVRTC_WHEEL ?= nvidia-cuda-nvrtc-cu12==12.4.127
NVRTC_LIB := $(CURDIR)/.nvrtc/nvidia/cuda_nvrtc/lib

.PHONY: demo test test-rust lint bench bench-json bench-peers gpu-build gpu-check ptx

demo:
	$(CARGO) run --release --example quickstart

test: lint test-rust

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features dropkit/cuda -- -D warnings

test-rust:
	$(CARGO) test --workspace
	$(CARGO) test -p dropkit --features cuda

# Throughput of every layer against a plain copy measured in the same run (table / JSON lines).
bench:
	$(CARGO) bench -p dropkit --bench throughput

bench-json:
	@$(CARGO) bench -q -p dropkit --bench throughput -- --json 2>/dev/null

# Optional, not run by CI: PyTorch CPU next to dropkit on the same sizes, in one run.
bench-peers:
	scripts/bench-peers.sh

# Builds the GPU check's binaries here into .gpu/ (carry `.gpu` to the GPU machine).
gpu-build:
	bash scripts/gpu-build.sh

# On the GPU machine, from the repository root: tests, benchmark, PyTorch peers, table.
gpu-check:
	bash scripts/gpu-check.sh

# Regenerates crates/dropkit/src/cuda/kernels.ptx from kernels.cu (no GPU needed).
ptx:
	test -e $(NVRTC_LIB)/libnvrtc.so.12 || pip install --quiet --target .nvrtc "$(NVRTC_WHEEL)"
	LD_LIBRARY_PATH=$(NVRTC_LIB) $(CARGO) run -p dropkit --features cuda --example gen_ptx
