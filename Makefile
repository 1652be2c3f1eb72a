# The commands the README names. `make demo` and `make test` are the first two.
CARGO ?= cargo

.PHONY: demo test test-rust lint bench bench-json bench-peers gpu-check
.PHONY: test-python python-install digits bench-python

demo:
	$(CARGO) run --release --example quickstart

test: lint test-rust test-python

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

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

test-python: python-install
	$(VENV_PY) -m pytest -q $(PY_CRATE)/tests

# A small numpy MLP on scikit-learn's bundled digits, with and without dropkit's layers.
digits: python-install
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check "scikit-learn>=1.3" "matplotlib>=3.7"
	$(VENV_PY) examples/python/digits_mlp.py --plot target/digits_mlp.png

# The binding's overhead: Python forward against the Rust call on the same 1M-element array.
bench-python: python-install
	$(VENV_PY) scripts/bench_binding.py
