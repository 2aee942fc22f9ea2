#!/usr/bin/env bash
# Builds or checks the Java worker with Debian's JDK and Java libraries, offline (no Maven, no
# Gradle, no downloads). Its gRPC stubs are generated from protos/ into the git-ignored build/
# with the rest, so they cannot go stale; nothing is rebuilt while nothing it reads has changed.
# `make worker-java`, `make test-java` and the images role run it.
#   services/worker-java/build.sh            build/ai-worker-java.jar and the jars it needs in
#                                            build/lib/ (build/ is self-contained: copy it)
#   services/worker-java/build.sh --check    the same, then the JUnit 5 tests
#   PROTOS_DIR=...                           the tree holding ai_system/rpc/worker_callback.proto
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos=${PROTOS_DIR:-$here/../../protos}
proto=ai_system/rpc/worker_callback.proto
jars=/usr/share/java
packages="default-jdk-headless, protobuf-compiler, protobuf-compiler-grpc-java-plugin, libgrpc-java,
libnetty-java, libperfmark-java, libprotobuf-java, libmqtt-client-java, libgoogle-gson-java,
libgeronimo-annotation-1.3-spec-java and junit5"
missing() {
  echo "build.sh: $1 is missing: install Debian's $packages (scripts/ensure-system.sh java does)" >&2
  exit 1
}
for tool in javac java jar protoc; do command -v "$tool" >/dev/null || missing "$tool"; done
plugin=$(command -v grpc_java_plugin || echo /usr/bin/grpc_java_plugin)
[ -x "$plugin" ] || missing grpc_java_plugin

# What the worker needs at run time (copied into build/lib/), then what compiling the stubs and
# running the tests add. Debian's guava holds failureaccess's classes.
runtime=(grpc-api grpc-core grpc-netty grpc-protobuf grpc-protobuf-lite grpc-stub grpc-context
  protobuf guava perfmark-api jsr305 error_prone_annotations opencensus-api
  mqtt-client hawtbuf hawtdispatch hawtdispatch-transport
  netty-buffer netty-codec netty-codec-http netty-codec-http2 netty-common netty-handler
  netty-resolver netty-transport netty-codec-socks netty-handler-proxy gson)
for name in "${runtime[@]}" geronimo-annotation-1.3-spec; do
  [ -f "$jars/$name.jar" ] || missing "$jars/$name.jar"
done
[ -f "$protos/$proto" ] || { echo "build.sh: no $proto under $protos (set PROTOS_DIR)" >&2; exit 1; }

build=$here/build
classpath=$(printf "$jars/%s.jar:" "${runtime[@]}")$jars/geronimo-annotation-1.3-spec.jar
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/../ai_system/__init__.py")

compile() {
  rm -rf "$build/proto" "$build/generated" "$build/classes" "$build/stub-classes" "$build/lib" \
    "$build/ai-worker-java.jar"
  mkdir -p "$build/proto/ai_system/rpc" "$build/generated" "$build/classes" "$build/stub-classes" \
    "$build/lib"
  # The .proto names no Java package: the copy compiled here gets one (the wire names, package
  # ai_system.rpc, are unchanged).
  sed 's/^package ai_system\.rpc;$/&\noption java_package = "edu.upb.aisystem.worker.rpc";\noption java_multiple_files = true;/' \
    "$protos/$proto" > "$build/proto/$proto"
  grep -q java_package "$build/proto/$proto" || { echo "build.sh: no 'package ai_system.rpc;' line in $proto" >&2; exit 1; }
  protoc -I "$build/proto" --java_out="$build/generated" \
    --plugin=protoc-gen-grpc-java="$plugin" --grpc-java_out="$build/generated" "$build/proto/$proto"

  # The generated stubs are not ours to keep warning-free: compiled apart, without -Werror.
  find "$build/generated" -name '*.java' > "$build/stubs.txt"
  javac --release 17 -nowarn -encoding UTF-8 -cp "$classpath" -d "$build/stub-classes" @"$build/stubs.txt"
  find "$here/src/main/java" -name '*.java' > "$build/sources.txt"
  javac --release 17 -Xlint:all -Werror -encoding UTF-8 -cp "$classpath:$build/stub-classes" \
    -d "$build/classes" @"$build/sources.txt"
  cp -r "$build/stub-classes/." "$build/classes/"

  {
    echo "Main-Class: edu.upb.aisystem.worker.Main"
    echo "Implementation-Title: ai-worker-java"
    echo "Implementation-Version: ${version:-dev}"
    # The manifest's lines are at most 72 bytes: one jar per continuation line.
    echo "Class-Path: lib/${runtime[0]}.jar"
    for name in "${runtime[@]:1}"; do echo "  lib/$name.jar"; done
  } > "$build/manifest.txt"
  jar --create --file "$build/ai-worker-java.jar" --manifest "$build/manifest.txt" -C "$build/classes" .
  for name in "${runtime[@]}"; do cp -L "$jars/$name.jar" "$build/lib/$name.jar"; done
}

mkdir -p "$build"
# The images role builds here too, perhaps while make does (the test suite's stages run side by
# side): one build at a time, and none when nothing it reads has changed, so that a worker
# running from build/ keeps its jars.
exec 9>"$build/.lock"
flock 9
inputs=$( { cat "$here/build.sh" "$protos/$proto"; echo "$version"
  find "$here/src/main/java" -name '*.java' -print0 | sort -z | xargs -0 cat
  for name in "${runtime[@]}"; do readlink -f "$jars/$name.jar"; done; } | sha256sum)
if [ -f "$build/ai-worker-java.jar" ] && [ "$(cat "$build/inputs.sha256" 2>/dev/null)" = "$inputs" ]; then
  echo "build.sh: services/worker-java/build/ is up to date"
else
  rm -f "$build/inputs.sha256"
  compile
  echo "$inputs" > "$build/inputs.sha256"
fi

if [ "${1:-}" = --check ]; then
  rm -rf "$build/test-classes" && mkdir -p "$build/test-classes"
  find "$here/src/test/java" -name '*.java' > "$build/tests.txt"
  junit=$jars/junit-platform-console-standalone.jar
  javac --release 17 -Xlint:all -Werror -encoding UTF-8 \
    -cp "$classpath:$build/classes:$junit" -d "$build/test-classes" @"$build/tests.txt"
  java -jar "$junit" --disable-banner --fail-if-no-tests --details=summary \
    --class-path "$classpath:$build/classes:$build/test-classes" --scan-class-path "$build/test-classes"
fi
