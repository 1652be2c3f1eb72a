#!/usr/bin/env bash
# Packs target/jvm/dropkit.jar: the Java classes of crates/dropkit-jvm/java and the release
# build of the JNI library (`cargo build --release -p dropkit-jvm`, run by `make jvm` first)
# at dropkit/native/<os>-<arch>/ inside the jar, where dropkit.Native loads it from.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform=linux-x86_64 lib=libdropkit_jvm.so ;;
    Linux-aarch64) platform=linux-aarch64 lib=libdropkit_jvm.so ;;
    Darwin-arm64) platform=macos-aarch64 lib=libdropkit_jvm.dylib ;;
    Darwin-x86_64) platform=macos-x86_64 lib=libdropkit_jvm.dylib ;;
    *) echo "jvm-build: no jar layout for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
out=target/jvm
rm -rf "$out/classes" && mkdir -p "$out/classes/dropkit/native/$platform"
javac -Xlint:all -Werror --release 8 -d "$out/classes" crates/dropkit-jvm/java/dropkit/*.java 2>&1 \
    | { grep -v 'bootstrap classpath\|warning: \[options\]\|^1 warning' || true; }
test -e "$out/classes/dropkit/Layer.class"
# The release profile keeps line tables (debug = 1); the jar's copy drops them (9 MB -> ~1 MB).
if command -v strip > /dev/null; then
    strip --strip-debug -o "$out/classes/dropkit/native/$platform/$lib" "target/release/$lib"
else
    cp "target/release/$lib" "$out/classes/dropkit/native/$platform/$lib"
fi
echo "$platform" > "$out/classes/dropkit/native/PLATFORMS"
rm -f "$out/dropkit.jar"
jar cf "$out/dropkit.jar" -C "$out/classes" .
ls -l "$out/dropkit.jar"
