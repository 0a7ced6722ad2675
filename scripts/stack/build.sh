#!/usr/bin/env bash
# Fill the binary cache the loopback stack (tests/e2e, scripts/stack/start.sh) and the deploy
# checks (tests/deploy) run from. Idempotent: every part is keyed by its version or by the hash
# of the manifest it is built from, and is skipped when already cached. A cold build prints how
# long it took.
#
#   scripts/stack/build.sh [all|collector|jaeger|prometheus|alertmanager|elasticsearch]...
#   (default: all)
#
# Cache ($OTEL_LLM_STACK_CACHE, default $HOME/.cache/otel-llm-stack), outside the work tree:
#   go-build/ go-mod/                       GOCACHE and GOMODCACHE of these builds
#   ocb-v0.159.0/builder                    OpenTelemetry Collector Builder
#   otelcol-<manifest sha12>/otelcol-llm    collector from collector-config/builder-config.yaml
#   jaeger-v1.62.0/jaeger                   Jaeger v2 (module v1.62.0 = the v2.0.0-rc2 tree)
#   prometheus-<deb version>/usr/bin/{prometheus,promtool}   Debian package, extracted
#   alertmanager-<deb version>/usr/bin/{prometheus-alertmanager,amtool}   Debian package, extracted
#   elasticsearch-7.10.2/cp.txt             classpath of the codelibs ES runner (jars in m2/)
#
# Go builds run politely (nice 19, one compile at a time) unless STACK_BUILD_FAST=1.
# Why these versions: /work/shared/STACK.md summary in docs/deployment.md (module proxy coverage).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${OTEL_LLM_STACK_CACHE:-$HOME/.cache/otel-llm-stack}
OCB_VERSION=v0.159.0
JAEGER_MODULE_VERSION=v1.62.0
ES_RUNNER_VERSION=7.10.2.0
mkdir -p "$CACHE"

export GOCACHE="$CACHE/go-build" GOMODCACHE="$CACHE/go-mod"
if command -v go >/dev/null 2>&1; then
  if [ "${STACK_BUILD_FAST:-0}" = 1 ]; then
    NICE=(); GOFLAGS="$(go env GOFLAGS)"
  else
    NICE=(nice -n 19); GOFLAGS="$(go env GOFLAGS) -p=1"; export GOMAXPROCS=1
  fi
  export GOFLAGS
fi

say() { echo "build.sh: $*"; }
now() { date +%s; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || { say "SKIP $2: '$1' not found"; return 1; }; }

# Serialise concurrent runs of the same part (CI and a developer, or two parallel builds).
locked() {  # locked NAME FUNC
  local lock="$CACHE/.$1.lock"
  exec {fd}>"$lock"
  flock "$fd"
  "$2"
  exec {fd}>&-
}

build_collector() {
  need_cmd go collector || return 0
  local manifest="$ROOT/collector-config/builder-config.yaml" sha dir t0 work
  sha=$(sha256sum "$manifest" | cut -c1-12)
  dir="$CACHE/otelcol-$sha"
  if [ -x "$dir/otelcol-llm" ]; then say "collector cached ($dir)"; return 0; fi
  t0=$(now)
  if [ ! -x "$CACHE/ocb-$OCB_VERSION/builder" ]; then
    GOBIN="$CACHE/ocb-$OCB_VERSION" "${NICE[@]}" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  fi
  work="$CACHE/work/otelcol-$sha"
  rm -rf "$work" && mkdir -p "$work" && cp "$manifest" "$work/builder-config.yaml"
  (cd "$work" && "${NICE[@]}" "$CACHE/ocb-$OCB_VERSION/builder" --config=builder-config.yaml)
  mkdir -p "$dir.tmp" && cp "$work/_build/otelcol-llm" "$dir.tmp/" && cp "$manifest" "$dir.tmp/"
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && rm -rf "$work"
  ln -sfn "$dir" "$CACHE/otelcol-current"
  say "collector built in $(( $(now) - t0 ))s -> $dir/otelcol-llm"
}

build_jaeger() {
  need_cmd go jaeger || return 0
  local dir="$CACHE/jaeger-$JAEGER_MODULE_VERSION" t0 work
  if [ -x "$dir/jaeger" ]; then say "jaeger cached ($dir)"; return 0; fi
  t0=$(now)
  # The proxy serves github.com/jaegertracing/jaeger at v1.62.0, whose cmd/jaeger is Jaeger v2
  # (v2.0.0-rc2). `go install` refuses it because its go.mod has a replace directive, so a tiny
  # wrapper module restates that replace and builds cmd/jaeger.
  work="$CACHE/work/jaeger"
  rm -rf "$work" && mkdir -p "$work"
  cat >"$work/go.mod" <<GOMOD
module local/jaegerbuild

go 1.23

require github.com/jaegertracing/jaeger $JAEGER_MODULE_VERSION

replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
GOMOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/jaeger"\n' >"$work/tools.go"
  mkdir -p "$dir.tmp"
  (cd "$work" && "${NICE[@]}" go mod tidy && "${NICE[@]}" go build -trimpath -ldflags="-s -w" \
    -o "$dir.tmp/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && rm -rf "$work"
  say "jaeger built in $(( $(now) - t0 ))s -> $dir/jaeger"
}

build_prometheus() {
  need_cmd apt-get prometheus || return 0
  local ver dir t0 tmp
  if ls -d "$CACHE"/prometheus-*/usr/bin/promtool >/dev/null 2>&1; then
    say "prometheus cached ($(ls -d "$CACHE"/prometheus-* | head -1))"; return 0
  fi
  t0=$(now)
  ver=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    apt-get update -qq >/dev/null
    ver=$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')
  fi
  dir="$CACHE/prometheus-${ver//[:+~]/_}"
  tmp=$(mktemp -d "$CACHE/prom.XXXX")
  (cd "$tmp" && apt-get download -qq "prometheus=$ver" && dpkg -x prometheus_*.deb pkg)
  rm -rf "$dir" && mv "$tmp/pkg" "$dir" && rm -rf "$tmp"
  "$dir/usr/bin/promtool" --version | head -1
  say "prometheus extracted in $(( $(now) - t0 ))s -> $dir/usr/bin"
}

# Debian's prometheus-alertmanager 0.25.0 (bookworm), extracted like Prometheus: the binary
# and amtool, no service files used. Debian's build reads its notification templates from the
# fixed path /usr/share/prometheus/alertmanager/ (no flag moves it), so they are copied there
# from the package when missing, as installing the package would; without write access there
# the step says so and the real-stack alerting test skips.
AM_SHARE=/usr/share/prometheus/alertmanager
install_alertmanager_templates() {
  local dir=$1
  [ -f "$AM_SHARE/default.tmpl" ] && return 0
  if mkdir -p "$AM_SHARE" 2>/dev/null && cp "$dir$AM_SHARE"/*.tmpl "$AM_SHARE/"; then
    say "alertmanager templates -> $AM_SHARE"
  else
    say "cannot write $AM_SHARE: run  sudo mkdir -p $AM_SHARE && sudo cp $dir$AM_SHARE/*.tmpl $AM_SHARE/"
  fi
}

build_alertmanager() {
  need_cmd apt-get alertmanager || return 0
  local ver dir t0 tmp
  if ls -d "$CACHE"/alertmanager-*/usr/bin/amtool >/dev/null 2>&1; then
    dir=$(ls -d "$CACHE"/alertmanager-* | head -1)
    install_alertmanager_templates "$dir"
    say "alertmanager cached ($dir)"; return 0
  fi
  t0=$(now)
  ver=$(apt-cache policy prometheus-alertmanager 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    apt-get update -qq >/dev/null
    ver=$(apt-cache policy prometheus-alertmanager | awk '/Candidate:/ {print $2}')
  fi
  dir="$CACHE/alertmanager-${ver//[:+~]/_}"
  tmp=$(mktemp -d "$CACHE/am.XXXX")
  (cd "$tmp" && apt-get download -qq "prometheus-alertmanager=$ver" && dpkg-deb -x prometheus-alertmanager_*.deb pkg)
  rm -rf "$dir" && mv "$tmp/pkg" "$dir" && rm -rf "$tmp"
  "$dir/usr/bin/amtool" --version 2>&1 | head -1
  install_alertmanager_templates "$dir"
  say "alertmanager extracted in $(( $(now) - t0 ))s -> $dir/usr/bin"
}

build_elasticsearch() {
  need_cmd mvn elasticsearch || return 0
  need_cmd java elasticsearch || return 0
  local dir="$CACHE/elasticsearch-${ES_RUNNER_VERSION%.0}" t0
  if [ -s "$dir/cp.txt" ] && [ -e "$(tr ':' '\n' <"$dir/cp.txt" | head -1)" ]; then
    say "elasticsearch cached ($dir)"; return 0
  fi
  t0=$(now)
  mkdir -p "$dir"
  # The runner pulls log4j 2.11.1; pin a post-Log4Shell release.
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.otelllm</groupId><artifactId>es-runner</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>2.17.2</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.17.2</version></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.codelibs</groupId><artifactId>elasticsearch-cluster-runner</artifactId><version>$ES_RUNNER_VERSION</version></dependency>
  </dependencies>
</project>
POM
  mvn -B -q -f "$dir/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:build-classpath -Dmdep.outputFile="$dir/cp.txt.tmp"
  mv "$dir/cp.txt.tmp" "$dir/cp.txt"
  say "elasticsearch runner resolved in $(( $(now) - t0 ))s -> $dir"
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(all)
for p in "${parts[@]}"; do
  case $p in
    all) for q in prometheus alertmanager elasticsearch jaeger collector; do locked "$q" "build_$q"; done ;;
    collector|jaeger|prometheus|alertmanager|elasticsearch) locked "$p" "build_$p" ;;
    *) echo "usage: $0 [all|collector|jaeger|prometheus|alertmanager|elasticsearch]..." >&2; exit 2 ;;
  esac
done
say "done"
