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

# Throughput of every layer against a plain copy measured in the same run (table / JSON lines).
bench:
	$(CARGO) bench -p dropkit --bench throughput

bench-json:
	@$(CARGO) bench -q -p dropkit --bench throughput -- --json 2>/dev/null

# Optional, not run by CI: PyTorch CPU next to dropkit on the same sizes, in one run.
bench-peers:
	scripts/bench-peers.sh
