#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and benchmarking credsentry needs.
# Idempotent: packages already present are left alone, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git clang llvm
  # kernel side
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # agent
  libhyperscan-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev
  libnghttp2-dev libsystemd-dev libcli11-dev
  # collector / wire
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libsqlite3-dev libpq-dev
  # tests and benchmarks: real clients and servers on loopback
  libclang-rt-14-dev
  libgtest-dev libgmock-dev curl python3 openssl iproute2 procps util-linux
  python3-pytest nghttp2-server nghttp2-client passwd
  # protocol decoders (h6): zstd and brotli Content-Encoding
  libzstd-dev libbrotli-dev
  # undeclared bzip2 and xz streams (issue 15), and the packers the kernel tests use
  libbz2-dev liblzma-dev bzip2 xz-utils zip
  # packaging (h5): rpm builds and checks, lintian, clean Debian roots for install tests
  rpm lintian debootstrap
  # collector tests (h4): a real PostgreSQL server started on loopback
  postgresql
  # Go crypto/tls capture tests (h7): Go clients built from source in the tests
  golang-go
  # Prometheus metrics (issue 17): the HTTP server for /metrics, promtool to check the text
  libcpp-httplib-dev prometheus
  # the collector's web console (issue 17): browser tests in headless Chromium, driven by
  # puppeteer-core from npm (tests/console; needs node and npm, which it does not install)
  chromium
  # io_uring tests and bench (issue 14): a C client that does all its I/O through liburing
  liburing-dev
  # prevent mode's connect block (issue 16): a Java client (JSSE, unhookable TLS) built with javac
  openjdk-17-jdk-headless
  # capsh: a kernel test starts the agent without CAP_KILL (holds need it)
  libcap2-bin
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
