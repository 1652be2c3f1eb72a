#!/usr/bin/env bash
# `make test-bigdl`: every dropkit JVM layer against BigDL 2.4's own layer in one JVM
# (crates/dropkit-jvm/tests/bigdl); with JVM_BIGDL_MAIN=BigdlBench, `make bench-jvm`
# (crates/dropkit-jvm/benches). BigDL's jar comes from PyPI's bigdl-dllib-spark3 wheel,
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
classes=target/jvm/bigdl-classes
rm -rf "$classes" && mkdir -p "$classes"
cp="target/jvm/dropkit.jar:$jars/*"
javac -Xlint:all,-processing,-path -cp "$cp" -d "$classes" crates/dropkit-jvm/tests/bigdl/*.java \
    crates/dropkit-jvm/benches/*.java
# Java 17 keeps JDK internals closed; BigDL and Spark reach into these.
opens="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
--add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED"
java_major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-8}" -lt 9 ] 2>/dev/null || [ "$java_major" = 1 ]; then opens=""; fi
main=${JVM_BIGDL_MAIN:-BigdlParity}
# shellcheck disable=SC2086
java $opens -Dlog4j2.configurationFile=crates/dropkit-jvm/tests/bigdl/log4j2.xml \
    -cp "$cp:$classes" "$main" "$@"
