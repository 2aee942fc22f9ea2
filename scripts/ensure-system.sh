#!/usr/bin/env bash
# Installs what the project needs from Debian's packages, if missing, and starts the
# Docker engine when asked and not yet running. Idempotent; safe to run on every `make`.
#   scripts/ensure-system.sh mosquitto            (make run)
#   scripts/ensure-system.sh mosquitto chromium docker   (make test)
#   scripts/ensure-system.sh go                   (make worker-go: Go, gRPC, Paho, protoc)
#   scripts/ensure-system.sh node                 (the Node.js worker: npm ci)
#   scripts/ensure-system.sh java                 (make worker-java: the JDK, gRPC, MQTT, JUnit)
#   scripts/ensure-system.sh mosquitto redis      (make bench-compare: Celery's broker)
set -euo pipefail

declare -A packages=(
  [mosquitto]="mosquitto mosquitto-clients"
  [chromium]="chromium chromium-driver"
  [docker]="docker.io debootstrap"
  # The Go worker builds offline in GOPATH mode from these (no module proxy). grpc-dev
  # accepts golang/protobuf 1.3 or 1.5; only 1.5 marshals what protoc-gen-go 1.28 generates.
  # prometheus-client-golang serves its /metrics.
  [go]="golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-github-eclipse-paho.mqtt.golang-dev golang-google-protobuf-dev golang-github-prometheus-client-golang-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc"
  [node]="nodejs npm"
  # The Java worker compiles against the single jars these put in /usr/share/java (Debian has
  # no Eclipse Paho for Java: fusesource's mqtt-client instead); junit5 runs its unit tests.
  [java]="default-jdk-headless protobuf-compiler protobuf-compiler-grpc-java-plugin libgrpc-java libnetty-java libperfmark-java libprotobuf-java libmqtt-client-java libgoogle-gson-java libgeronimo-annotation-1.3-spec-java junit5"
  [redis]="redis-server"
)
declare -A probes=(
  [mosquitto]=/usr/sbin/mosquitto
  [chromium]=/usr/bin/chromedriver
  [docker]=/usr/sbin/dockerd
  # Several pieces: any one missing installs them all (only golang/protobuf 1.5 has internal/).
  [go]="/usr/bin/go /usr/bin/protoc-gen-go-grpc /usr/share/gocode/src/github.com/eclipse/paho.mqtt.golang /usr/share/gocode/src/github.com/golang/protobuf/internal /usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/promhttp"
  [node]=/usr/bin/npm
  [java]="/usr/bin/javac /usr/bin/grpc_java_plugin /usr/share/java/grpc-netty.jar /usr/share/java/mqtt-client.jar /usr/share/java/gson.jar /usr/share/java/geronimo-annotation-1.3-spec.jar /usr/share/java/junit-platform-console-standalone.jar"
  [redis]=/usr/bin/redis-server
)

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for want in "$@"; do
  [ -n "${packages[$want]:-}" ] || { echo "ensure-system: unknown component '$want'" >&2; exit 2; }
  for probe in ${probes[$want]}; do
    [ -e "$probe" ] || { missing+=(${packages[$want]}); break; }
  done
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> Installing from Debian: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

for want in "$@"; do
  [ "$want" = docker ] || continue
  if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
      "${sudo_cmd[@]}" systemctl start docker
    else
      # No init system (CI containers): run the daemon in the background.
      echo "==> Starting dockerd (log: /var/log/dockerd.log)"
      "${sudo_cmd[@]}" sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    fi
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "ensure-system: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
  fi
done
