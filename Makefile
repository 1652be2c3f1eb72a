# The commands the README names. `make demo` and `make test` are the first two.
CARGO ?= cargo
# NVRTC for `make ptx`: a pinned wheel (CUDA 12.4: PTX ISA 8.4, loadable by drivers >= 550).
NVRTC_WHEEL ?= nvidia-cuda-nvrtc-cu12==12.4.127
NVRTC_LIB := $(CURDIR)/.nvrtc/nvidia/cuda_nvrtc/lib

.PHONY: demo test test-rust lint bench bench-json bench-peers gpu-build gpu-check ptx
.PHONY: test-python python-install wheel digits bench-python fuzz candle-demo bench-candle
.PHONY: ddp torch-digits bench-torch
.PHONY: jvm test-jvm test-jvm-if-javac jvm-demo test-bigdl bench-jvm jvm-bigdl spark-demo

demo:
	$(CARGO) run --release --example quickstart

test: lint test-rust test-python test-jvm-if-javac

# Features are unified over the packages a cargo command selects: dropkit-py turns on
# dropkit/cuda, so anything run on the whole workspace builds dropkit with its CUDA backend.
# `-p dropkit` alone builds it as a crates.io user does (default features, no cudarc); each
# feature set is linted and tested once.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy -p dropkit --all-targets -- -D warnings
	$(CARGO) clippy -p dropkit --all-targets --features serde -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --document-private-items

# dropkit-py has no Rust tests (see its Cargo.toml): test-python tests it. The CUDA suite
# (tests/cuda.rs, the host-emulation tests in src/cuda) runs in the second command only.
test-rust:
	$(CARGO) tree -p dropkit -e normal --prefix none | { ! grep '^cudarc '; }
	$(CARGO) test -p dropkit
	$(CARGO) test -p dropkit --features cuda,serde
	$(CARGO) test -p dropkit-candle

# Throughput of every layer against a plain copy measured in the same run (table / JSON lines).
bench:
	$(CARGO) bench -p dropkit --bench throughput

bench-json:
	@$(CARGO) bench -q -p dropkit --bench throughput -- --json 2>/dev/null

# Optional, not run by CI: PyTorch CPU next to dropkit on the same sizes, in one run.
bench-peers:
	scripts/bench-peers.sh

# candle (crates/dropkit-candle): a small MLP trained with candle_nn's dropout and with
# dropkit's, and candle's dropout against dropkit's ops, forward and forward + backward.
candle-demo:
	$(CARGO) run --release -p dropkit-candle --example candle_mnist_like

bench-candle:
	$(CARGO) bench -p dropkit-candle --bench candle_dropout

# Builds the GPU check's binaries here into .gpu/ (carry `.gpu` to the GPU machine).
gpu-build:
	bash scripts/gpu-build.sh

# On the GPU machine, from the repository root: tests, benchmark, PyTorch peers, table.
gpu-check:
	bash scripts/gpu-check.sh

# Regenerates crates/dropkit/cuda/kernels.ptx from kernels.cu (no GPU needed).
ptx:
	test -e $(NVRTC_LIB)/libnvrtc.so.12 || pip install --quiet --target .nvrtc "$(NVRTC_WHEEL)"
	LD_LIBRARY_PATH=$(NVRTC_LIB) $(CARGO) run -p dropkit --features cuda --example gen_ptx

# The Python package (crates/dropkit-py). It lives in a virtualenv of its own, .venv, made
# from python3 with maturin, numpy and pytest from PyPI, so a fresh machine needs only python3
# and cargo. The wheel is built (release) and installed into it, so the tests run against
# what a user installs: the extension, the stubs and py.typed.
PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
PY_CRATE := crates/dropkit-py
WHEELS := target/wheels

# Where python3 has no ensurepip (Debian and Ubuntu without python3-venv), the venv is made
# without pip and python3's own pip installs pip into it.
$(VENV_PY):
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && \
		$(PYTHON) -m pip --python $(VENV_PY) install --quiet --disable-pip-version-check pip; } || \
		{ rm -rf $(VENV); echo "cannot make $(VENV): $(PYTHON) has neither venv's ensurepip nor pip" \
		"(install python3-venv or python3-pip)" >&2; exit 1; }

$(VENV)/.dev-installed: $(PY_CRATE)/requirements-dev.txt | $(VENV_PY)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(PY_CRATE)/requirements-dev.txt
	touch $@

python-install: $(VENV)/.dev-installed
	rm -f $(WHEELS)/dropkit-*.whl
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin build --release \
		-m $(PY_CRATE)/Cargo.toml -i $(VENV_PY) -o $(WHEELS)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
		$(WHEELS)/dropkit-*.whl

test-python: python-install $(VENV)/.frameworks-installed
	$(VENV_PY) -m pytest -q $(PY_CRATE)/tests

# PyTorch for dropkit.torch's tests (crates/dropkit-py/tests/test_torch*.py) and JAX for its
# arrays read through DLPack (test_host_dlpack.py), from PyPI with their dependencies: PyPI's Linux wheel is built for CUDA and `import torch` fails without its
# CUDA libraries (libcudart, libcublasLt) even on a CPU, so `pip install --no-deps torch` is not
# enough (tried: see the README's PyTorch section for the size and the time it takes).
$(VENV)/.frameworks-installed: $(PY_CRATE)/requirements-frameworks.txt $(VENV)/.dev-installed
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(PY_CRATE)/requirements-frameworks.txt
	$(VENV_PY) -c 'import torch; assert float(torch.ones(3).sum()) == 3.0'
	$(VENV_PY) -c 'import jax.numpy as jnp; assert float(jnp.ones(3).sum()) == 3.0'
	touch $@

# Wheels to distribute, into dist/: a manylinux2014 (glibc >= 2.17) abi3 wheel for CPython
# >= 3.9, linked by zig from PyPI whatever this machine's glibc (python-install's wheel needs
# this machine's), and the sdist. auditwheel must find the wheel consistent with
# manylinux_2_17, and the Python tests must pass against the wheel itself, installed into a
# scratch folder ahead of .venv's copy. A release build of its own: not part of `make test`.
DIST := dist
WHEEL_CHECK := target/wheel-check

$(VENV)/.wheel-installed: $(PY_CRATE)/requirements-wheel.txt $(VENV)/.dev-installed
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(PY_CRATE)/requirements-wheel.txt
	touch $@

# maturin finds zig as `python3 -m ziglang`, so .venv/bin leads PATH.
wheel: $(VENV)/.wheel-installed
	rm -rf $(DIST) $(WHEEL_CHECK)
	VIRTUAL_ENV=$(abspath $(VENV)) PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/maturin build \
		--release --zig --compatibility manylinux2014 -m $(PY_CRATE)/Cargo.toml -i $(VENV_PY) -o $(DIST)
	$(VENV)/bin/maturin sdist -m $(PY_CRATE)/Cargo.toml -o $(DIST)
	$(VENV)/bin/auditwheel show $(DIST)/dropkit-*-abi3-*.whl | tee $(DIST)/auditwheel.txt
	grep -q '"manylinux_2_17_' $(DIST)/auditwheel.txt && rm $(DIST)/auditwheel.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(WHEEL_CHECK) \
		$(DIST)/dropkit-*.whl
	PYTHONPATH=$(abspath $(WHEEL_CHECK)) $(VENV_PY) -c \
		'import dropkit, sys; assert dropkit.__file__.startswith(sys.argv[1]), dropkit.__file__' \
		$(abspath $(WHEEL_CHECK))
	PYTHONPATH=$(abspath $(WHEEL_CHECK)) $(VENV_PY) -m pytest -q -p no:cacheprovider $(PY_CRATE)/tests
	ls -l $(DIST)

# A small numpy MLP on scikit-learn's bundled digits, with and without dropkit's layers.
digits: python-install
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check "scikit-learn>=1.3" "matplotlib>=3.7"
	$(VENV_PY) examples/python/digits_mlp.py --plot target/digits_mlp.png

# What the torch examples add to .venv (PyTorch comes from $(VENV)/.frameworks-installed, the one
# install that dropkit.torch's tests use too): the digits data (scikit-learn) and the plot.
$(VENV)/.examples-installed: $(VENV)/.dev-installed
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check "scikit-learn>=1.3" "matplotlib>=3.7"
	touch $@

# torch.distributed (gloo, 2 processes on the CPUs) training on digits with dropkit.torch's
# layers, each rank on its own stream (dropkit.rank_seed); trains twice, fails unless the two
# runs' losses are identical.
ddp: python-install $(VENV)/.frameworks-installed $(VENV)/.examples-installed
	$(VENV_PY) examples/python/ddp_train.py

# The same MLP with torch.nn's dropout and with dropkit.torch's: accuracy, time per step, bytes
# kept for backward (saved-tensor hooks), plotted to target/torch_digits.png.
torch-digits: python-install $(VENV)/.frameworks-installed $(VENV)/.examples-installed
	mkdir -p target
	$(VENV_PY) examples/python/torch_digits.py --plot target/torch_digits.png

# dropkit.torch's modules against PyTorch's on 16M float32 and bfloat16 CPU elements, forward
# + backward, in one run (the README's table: `--markdown`).
bench-torch: python-install $(VENV)/.frameworks-installed
	$(VENV_PY) scripts/bench_torch.py --markdown

# The binding's overhead: Python forward against the Rust call on the same 1M-element array.
bench-python: python-install
	$(VENV_PY) scripts/bench_binding.py

# Bounded fuzzing, not part of `make test`: the randomized Rust soak with many cases
# (crates/dropkit/tests/soak.rs; `make test` runs 400), then atheris (libFuzzer) over the
# Python API for FUZZ_SECONDS (scripts/fuzz_python.py). A finding stops with the input that
# caused it, written as crash-* in target/fuzz.
FUZZ_SECONDS ?= 60
FUZZ_CASES ?= 200000
fuzz: python-install
	DROPKIT_SOAK_CASES=$(FUZZ_CASES) $(CARGO) test -p dropkit --release --test soak -- --nocapture
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check "atheris>=2.3"
	mkdir -p target/fuzz
	cd target/fuzz && $(abspath $(VENV_PY)) $(CURDIR)/scripts/fuzz_python.py \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=30

# The JVM package (crates/dropkit-jvm): target/jvm/dropkit.jar holds the Java classes and the
# JNI library for this platform, which the classes extract and load. Needs a JDK (javac, jar).
jvm:
	$(CARGO) build --release -p dropkit-jvm
	scripts/jvm-build.sh

# The Java tests (crates/dropkit-jvm/tests, a plain runner ending "N passed, N failed"): the
# Java quickstart against the Rust one, bad arguments, shapes, buffers, in place, threads.
test-jvm: jvm
	scripts/jvm-test.sh

# `make test` runs the Java tests where a JDK is installed, and says so where not.
test-jvm-if-javac:
	@if command -v javac > /dev/null && command -v jar > /dev/null; then \
		$(MAKE) --no-print-directory test-jvm test-bigdl; \
	else \
		echo "test-jvm skipped: javac/jar not on PATH (install a JDK >= 8 to build and test the JVM package)"; \
	fi

# target/jvm/dropkit-bigdl.jar: the layers as BigDL modules (dropkit.bigdl.DropkitModule),
# compiled against BigDL's jar (downloaded as for test-bigdl).
jvm-bigdl: jvm | $(VENV_PY)
	JVM_BIGDL_MAIN= scripts/jvm-bigdl.sh $(VENV_PY)

# Every JVM layer against BigDL 2.4's own in one JVM, bit for bit (crates/dropkit-jvm/tests/bigdl),
# and a BigDL model trained with dropkit's Dropout module against the same with BigDL's.
# BigDL, its MKL wrapper and Spark 3.1.3's jars come from PyPI (bigdl-dllib-spark3, bigdl-core,
# the pyspark sdist: about 330 MB, downloaded once into target/bigdl; no Maven).
test-bigdl: jvm | $(VENV_PY)
	scripts/jvm-bigdl.sh $(VENV_PY)

# dropkit's JVM layers against BigDL's own on 16M floats in one JVM, as ratios to
# System.arraycopy (crates/dropkit-jvm/benches/BigdlBench.java).
bench-jvm: jvm | $(VENV_PY)
	JVM_BIGDL_MAIN=BigdlBench scripts/jvm-bigdl.sh $(VENV_PY)

# examples/jvm/SparkDemo.java: a BigDL model with dropkit's Dropout module trained by BigDL's
# optimizer on Spark 3.1.3 in local mode (on Java 16+, with Scala 2.12.15's library from the
# pyspark 3.2.4 sdist, 281 MB more: see scripts/jvm-spark-demo.sh). Not part of `make test`.
spark-demo: jvm-bigdl
	scripts/jvm-spark-demo.sh $(VENV_PY)

# BigDL's documentation examples for the six layers from Java, as `make demo` prints them.
jvm-demo: jvm
	mkdir -p target/jvm/demo-classes
	javac -cp target/jvm/dropkit.jar -d target/jvm/demo-classes examples/jvm/Quickstart.java
	java -cp target/jvm/dropkit.jar:target/jvm/demo-classes Quickstart
