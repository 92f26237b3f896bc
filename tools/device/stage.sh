#!/usr/bin/env bash
# Stages the GPU check (gpu-check.sh) into .device/ for one `run` on a lent GPU machine:
# builds the jars, packs the engine's test classes, adds the JUnit console launcher and AssertJ, then
# calls ../shared/device/stage.sh (which adds a Java runtime and the probe). See docs/GPU.md.
#
#   tools/device/stage.sh
#   device run: command "bash tools/device/gpu-check.sh", carry [".device"], timeout_s 560
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -B -q -o package -DskipTests
m2=${MAVEN_REPO:-$HOME/.m2/repository}
junit=$(sed -n 's:.*<junit.version>5\.\([0-9.]*\)</junit.version>.*:\1:p' pom.xml)
assertj=$(sed -n 's:.*<assertj.version>\(.*\)</assertj.version>.*:\1:p' pom.xml)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jar cf "$tmp/engine-tests.jar" -C engine/target/test-classes .
# The CUDA test classes by name: the staged runtime has no zip file system, so JUnit cannot scan jars.
(cd engine/target/test-classes && ls dev/graft/backend/cuda/*Test.class | sed 's/\.class$//; s:/:.:g') > "$tmp/cuda-tests.txt"
cp "$m2/org/junit/platform/junit-platform-console-standalone/1.$junit/junit-platform-console-standalone-1.$junit.jar" \
   "$tmp/junit-platform-console-standalone.jar"
cp "$m2/org/assertj/assertj-core/$assertj/assertj-core-$assertj.jar" "$tmp/assertj-core.jar"
../shared/device/stage.sh cli/target/graft.jar benchmarks/target/benchmarks.jar tools/bench/torch_bench.py \
    "$tmp/engine-tests.jar" "$tmp/junit-platform-console-standalone.jar" "$tmp/assertj-core.jar" "$tmp/cuda-tests.txt"
