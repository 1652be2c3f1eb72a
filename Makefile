# The commands the README names. `make demo` and `make test` are the first two.
CARGO ?= cargo

.PHONY: demo test test-rust lint bench bench-json bench-peers gpu-check

demo:
	$(CARGO) run --release --example quickstart

test: lint test-rust

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace
