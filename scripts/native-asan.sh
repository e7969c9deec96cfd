#!/usr/bin/env bash
# Builds the native helper (native/*.c, the sources binding.gyp lists) with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan/ (build/Release stays as npm ci built it) and runs the tests that load the
# helper against that build: test/linux/*.test.ts but the tc-BPF engine's (native.test.ts and tun-offload.test.ts among
# them), or the test files given as arguments. Any sanitizer report aborts the process that made
# it, which fails its test, so this script exits non-zero. Needs root like the Linux tests.
#
#   scripts/native-asan.sh                       # build, then every test/linux file but the tc-BPF ones
#   scripts/native-asan.sh test/linux/udp.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Node's own headers (as .ci/run finds them for node-gyp); nothing is downloaded.
node_prefix=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
headers=$node_prefix/include/node
if [ ! -f "$headers/node_api.h" ]; then
  echo "native-asan: Node headers not found in $headers (set npm_config_nodedir)" >&2
  exit 1
fi

# Same defines as binding.gyp; -O1 and frame pointers for readable reports; every UBSan check
# fatal (-fno-sanitize-recover) so that none is only printed. native/bpf-loader.c is the
# separate mip4_bpf addon (it links libbpf), not part of mip4_io.
mkdir -p build-asan
gcc -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Wno-unused-parameter -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=mip4_io \
  -I"$headers" $(ls native/*.c | grep -v '^native/bpf-loader\.c$') -o build-asan/mip4_io.node

# The end-to-end tests run the compiled CLI (built before the sanitizer slows every process).
npx tsc -p tsconfig.json

# Node is not built with ASan, so its runtime must come first: preload it into every process
# the tests start (vitest's workers, daemons and peers are all node). Leak detection stays off:
# Node itself leaks on purpose at exit and would fail every run.
libasan=$(gcc -print-file-name=libasan.so)
if [ ! -f "$libasan" ]; then
  echo "native-asan: gcc has no libasan.so ($libasan)" >&2
  exit 1
fi
# The preload reaches every child too (ip, ping, tshark): libc's string functions go unchecked
# (replace_str=0 and the intercept_str* flags, which would otherwise warn on every child's
# stderr), since iproute2's own print_route passes strncpy overlapping ranges; the helper calls
# none of them (memcpy and the rest stay checked, replace_intrin).
export LD_PRELOAD=$libasan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:replace_str=0:intercept_strlen=0:intercept_strchr=0:intercept_strndup=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# io/linux/native.ts then loads only this file (never falls back to build/Release).
export MIP4_NATIVE_ADDON=$root/build-asan/mip4_io.node

if (($#)); then
  files=("$@")
else
  # All but the tests of the tc-BPF engine and the lab launcher: the programs run in the kernel
  # and the loader is the separate mip4_bpf addon (native/bpf-loader.c, libbpf), which this
  # build does not cover; their userspace paths are the same calls the other files make.
  files=()
  for f in test/linux/*.test.ts; do
    case $f in test/linux/bpf-*|test/linux/*-bpf-engine.test.ts|test/linux/lab-launch.test.ts) ;; *) files+=("$f") ;; esac
  done
fi
# Every process runs about twice as slowly under the sanitizers: peers get three times as
# long to answer (test/linux/netns.ts) and each test a minute.
export MIP4_TEST_TIME_SCALE=3
echo "native-asan: ${files[*]} against $MIP4_NATIVE_ADDON"
npx vitest run --testTimeout=60000 "${files[@]}"
