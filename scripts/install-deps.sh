#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages fastdns needs, only those that are missing.
#   install-deps.sh run   - what building and serving needs
#   install-deps.sh test  - that plus the reference servers and tools the tests start,
#                           what the AF_XDP backend builds with, and the fuzzer's
#                           compiler runtimes
#   install-deps.sh xdp   - what building the AF_XDP backend needs
set -euo pipefail

profile=${1:-run}
# libldns-dev: fastdns._zonefile reads zone files with ldns (BSD; docs/zone-parser.md).
# libssl-dev: the data plane's SHA-1 for NSEC3 (libcrypto; libldns-dev pulls it in too).
# libsodium-dev: SipHash-2-4 for DNS cookies in the data plane (ISC).
run_pkgs=(python3 python3-venv python3-dev gcc make libldns-dev libssl-dev libsodium-dev)
# libknot-dev: libzscanner's headers, for the opt-in reader the tests check (make build-zscanner).
# bind9-utils: dnssec-keygen and dnssec-signzone, which sign the DNSSEC tests' zones with NSEC3.
test_pkgs=(bind9-dnsutils knot nsd dnsperf iproute2 procps iputils-ping ethtool valgrind libknot-dev bind9-utils)
# The AF_XDP backend (fastdns._xdp and the XDP program) builds where these are present.
xdp_pkgs=(libxdp-dev libbpf-dev clang llvm)
# The fuzz target (make fuzz, tests/fuzz/): clang's libFuzzer, ASan and UBSan runtimes.
fuzz_pkgs=(clang libclang-rt-dev)

case "$profile" in
  run) wanted=("${run_pkgs[@]}") ;;
  test) wanted=("${run_pkgs[@]}" "${test_pkgs[@]}" "${xdp_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  xdp) wanted=("${run_pkgs[@]}" "${xdp_pkgs[@]}") ;;
  *) echo "install-deps.sh: unknown profile '$profile' (run|test|xdp)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "install-deps.sh: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# Package scripts may try to start knotd/nsd as services; the tests start their own copies.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
