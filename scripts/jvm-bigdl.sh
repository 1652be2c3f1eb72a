#!/usr/bin/env bash
# `make test-bigdl`: every dropkit JVM layer against BigDL 2.4's own layer in one JVM
# (crates/dropkit-jvm/tests/bigdl) and a model trained with dropkit's module; builds
# target/jvm/dropkit-bigdl.jar first. JVM_BIGDL_MAIN names the classes to run instead:
# BigdlBench for `make bench-jvm`, none for `make jvm-bigdl`. BigDL's jar comes from PyPI's bigdl-dllib-spark3 wheel,
# its MKL wrapper (com.intel.analytics.bigdl.mkl, which BigDL's Tensor loads) from
# bigdl-core, Scala's and Spark's jars from the pyspark sdist: downloaded once into
# target/bigdl/dl (about 330 MB), extracted into target/bigdl/jars.
#   usage: jvm-bigdl.sh PYTHON [classes...]   (PYTHON runs pip; extra args go to the class)
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1
shift
: "${BIGDL_DLLIB:=bigdl-dllib-spark3==2.4.0}"
: "${BIGDL_CORE:=bigdl-core==2.3.0}"
: "${PYSPARK:=pyspark==3.1.3}"
dl=target/bigdl/dl
jars=target/bigdl/jars
if [ ! -e "$jars/.complete" ]; then
    mkdir -p "$dl"
    start=$(date +%s)
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary pyspark \
        -d "$dl" "$BIGDL_DLLIB" "$BIGDL_CORE" "$PYSPARK"
    echo "jvm-bigdl: downloaded $(du -sh "$dl" | cut -f1) in $(( $(date +%s) - start )) s"
    rm -rf "$jars" && mkdir -p "$jars"
    unzip -q -o -j "$dl"/bigdl_dllib_spark3-*.whl 'bigdl/share/dllib/lib/*.jar' -d "$jars"
    unzip -q -o -j "$dl"/bigdl_core-*.whl 'bigdl/share/core/lib/*.jar' -d "$jars"
    tar xzf "$dl"/pyspark-*.tar.gz -C "$jars" --strip-components=3 --wildcards 'pyspark-*/deps/jars/*.jar'
    touch "$jars/.complete"
fi
# target/jvm/dropkit-bigdl.jar: dropkit's layers as BigDL modules (crates/dropkit-jvm/bigdl).
modules=target/jvm/bigdl-module-classes
rm -rf "$modules" && mkdir -p "$modules"
javac -Xlint:all,-processing,-path,-serial --release 8 -cp "target/jvm/dropkit.jar:$jars/*" \
    -d "$modules" crates/dropkit-jvm/bigdl/dropkit/bigdl/*.java 2>&1 \
    | { grep -v 'bootstrap classpath\|warning: \[options\]\|^1 warning' || true; }
test -e "$modules/dropkit/bigdl/DropkitModule.class"
rm -f target/jvm/dropkit-bigdl.jar
jar cf target/jvm/dropkit-bigdl.jar -C "$modules" .
classes=target/jvm/bigdl-classes
rm -rf "$classes" && mkdir -p "$classes"
cp="target/jvm/dropkit.jar:target/jvm/dropkit-bigdl.jar:$jars/*"
javac -Xlint:all,-processing,-path,-rawtypes,-unchecked -cp "$cp" -d "$classes" \
    crates/dropkit-jvm/tests/bigdl/*.java crates/dropkit-jvm/benches/*.java
# Java 17 keeps JDK internals closed; BigDL and Spark reach into these.
opens="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED"
java_major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-8}" = 1 ]; then opens=""; fi
# MKL's sgemm (BigDL's Linear) rounds by the arrays' alignment unless told not to.
export MKL_CBWR=COMPATIBLE
for main in ${JVM_BIGDL_MAIN-BigdlParity BigdlTraining}; do
    echo "== $main"
    # shellcheck disable=SC2086
    java $opens -Dlog4j2.configurationFile=crates/dropkit-jvm/tests/bigdl/log4j2.xml \
        -cp "$cp:$classes" "$main" "$@"
done
