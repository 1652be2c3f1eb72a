#!/usr/bin/env bash
# `make test-jvm`: compiles the Java tests (crates/dropkit-jvm/tests) and the quickstart
# (examples/jvm) against target/jvm/dropkit.jar and runs them, with the JVM's JNI checks on.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/jvm/test-classes
rm -rf "$out" && mkdir -p "$out"
javac -Xlint:all -Werror -cp target/jvm/dropkit.jar -d "$out" \
    crates/dropkit-jvm/tests/*.java examples/jvm/Quickstart.java
java -Xcheck:jni -cp "target/jvm/dropkit.jar:$out" DropkitTests "$@"
