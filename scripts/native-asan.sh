#!/usr/bin/env bash
# Builds the native helper (native/*.c, the sources binding.gyp lists) with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan/ (build/Release stays as npm ci built it) and runs the tests that load the
# helper against that build: the test/linux files listed below, or the test files given as arguments. Any sanitizer report aborts the process that made
# it, which fails its test, so this script exits non-zero. Needs root like the Linux tests.
#
#   scripts/native-asan.sh                       # build, then the native-call files listed below
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
  # The files that drive the helper's calls directly (sockets, TUN, packet and raw sockets,
  # netlink, the drop counters), plus one home agent under real traffic: the other daemon tests
  # make the same calls (the foreign agent's visitor link reader is packet.test.ts's PACKET_VNET_HDR
  # reads and raw-ip.test.ts's sends), and running them sanitized took longer than CI allows.
  # The tc-BPF tests are not here: their native part is the mip4_bpf addon (native/bpf-loader.c,
  # libbpf), which this build does not cover.
  files=(test/linux/native.test.ts test/linux/packet.test.ts test/linux/raw-ip.test.ts test/linux/raw-ip-drops.test.ts
    test/linux/tun.test.ts test/linux/tun-drops.test.ts test/linux/tun-offload.test.ts test/linux/udp.test.ts
    test/linux/udp-gso.test.ts test/linux/udp-send-queue.test.ts test/linux/link-events.test.ts
    test/linux/interface-name-native.test.ts test/linux/device-drops.test.ts test/linux/fa-visitor-capture.test.ts
    test/linux/mn-request-socket.test.ts test/linux/ha-data-path.test.ts)
fi
# Every process runs about twice as slowly under the sanitizers: peers get three times as
# long to answer (test/linux/netns.ts) and each test a minute.
export MIP4_TEST_TIME_SCALE=3
echo "native-asan: ${files[*]} against $MIP4_NATIVE_ADDON"
npx vitest run --testTimeout=60000 "${files[@]}"
