#!/usr/bin/env bash
# `make spark-demo`: examples/jvm/SparkDemo.java on Spark 3.1.3 in local mode, with BigDL's
# jars as `make test-bigdl` fetches them (target/bigdl/jars) and target/jvm/dropkit-bigdl.jar.
# Spark 3.1.3 ships Scala 2.12.10, whose lambda deserialization fails on Java 16 and later
# (LambdaMetafactory: "too many arguments"); Scala 2.12.15's library and reflect jars, taken
# from PyPI's pyspark==3.2.4 sdist (281 MB, once, into target/spark-scala), go first on the
# class path there.
#   usage: jvm-spark-demo.sh PYTHON   (PYTHON runs pip)
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1
jars=target/bigdl/jars
test -e "$jars/.complete" && test -e target/jvm/dropkit-bigdl.jar \
    || { echo "jvm-spark-demo: run \`make jvm-bigdl\` first" >&2; exit 1; }
: "${PYSPARK_SCALA:=pyspark==3.2.4}"
scala=target/spark-scala
first=""
java_major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-8}" != 1 ] && [ "${java_major:-8}" -ge 16 ]; then
    if [ ! -e "$scala/.complete" ]; then
        mkdir -p "$scala/dl" "$scala/jars"
        "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --no-binary pyspark -d "$scala/dl" "$PYSPARK_SCALA"
        tar xzf "$scala"/dl/pyspark-*.tar.gz -C "$scala/jars" --strip-components=3 \
            --wildcards 'pyspark-*/deps/jars/scala-library-*.jar' \
            'pyspark-*/deps/jars/scala-reflect-*.jar'
        touch "$scala/.complete"
    fi
    for j in "$scala"/jars/*.jar; do first="$first$j:"; done
fi
classes=target/jvm/spark-demo-classes
rm -rf "$classes" && mkdir -p "$classes"
cp="target/jvm/dropkit.jar:target/jvm/dropkit-bigdl.jar:$jars/*"
javac -Xlint:all,-processing,-path,-rawtypes,-unchecked,-serial,-cast -cp "$cp" -d "$classes" \
    examples/jvm/SparkDemo.java
opens=""
if [ "${java_major:-8}" != 1 ]; then
    for p in java.lang java.lang.invoke java.nio java.util java.util.concurrent java.net \
        java.io sun.nio.ch; do
        opens="$opens --add-opens=java.base/$p=ALL-UNNAMED"
    done
    opens="$opens --add-exports=java.base/sun.nio.ch=ALL-UNNAMED"
fi
export MKL_CBWR=COMPATIBLE
# shellcheck disable=SC2086
java $opens -Dlog4j2.configurationFile=crates/dropkit-jvm/tests/bigdl/log4j2.xml \
    -cp "$first$cp:$classes" SparkDemo
