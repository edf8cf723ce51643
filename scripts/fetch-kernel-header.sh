#!/usr/bin/env bash
# Fetches include/linux/avf/virtchnl.h from Debian's linux-headers-*-common package into
# tmp/kernel-headers/ (the kernel's virtchnl validator, for the conformance test
# test/unit/vfio/kernel-conformance.test.ts). The package recorded in
# src/vfio/kernel-reference.ts is taken when the archive still has it; otherwise the
# current one of the same suite (bookworm-backports), resolved through linux-headers-amd64,
# and the script says so. Needs apt-get (Debian); run `apt-get update` first.
#   scripts/fetch-kernel-header.sh [--force]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/tmp/kernel-headers"
ref="$root/src/vfio/kernel-reference.ts"
field() { sed -n "s/^ *$1: '\\(.*\\)',\$/\\1/p" "$ref"; }
suite="$(field suite)"
package="$(field package)"
version="$(field version)"

if [ "${1:-}" != "--force" ] && [ -s "$cache/include/linux/avf/virtchnl.h" ] && [ -s "$cache/SOURCE" ]; then
  echo "kernel header already fetched: $(cat "$cache/SOURCE")"
  exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-kernel-header: apt-get not found (Debian's package tools are needed)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/nicmig-kernel-header.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
if apt-get download -qq "$package=$version" >/dev/null 2>&1; then
  got="$package $version"
else
  # The archive drops old kernel ABIs: take the suite's current header package.
  image="$(apt-cache depends -t "$suite" linux-headers-amd64 | sed -n 's/^ *Depends: \(linux-headers-.*-amd64\)$/\1/p' | head -1)"
  [ -n "$image" ] || { echo "fetch-kernel-header: cannot resolve linux-headers-amd64 in $suite (apt-get update?)" >&2; exit 1; }
  package="${image%-amd64}-common"
  apt-get download -qq -t "$suite" "$package" >/dev/null
  got="$package $(dpkg-deb -f ./*.deb Version) (recorded: $(field package) $version)"
  echo "fetch-kernel-header: $(field package) $version is gone from the archive; using $got" >&2
fi
deb="$(ls ./*.deb)"
dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards '*/include/linux/avf/virtchnl.h'
found="$(find . -path '*/include/linux/avf/virtchnl.h' | head -1)"
[ -n "$found" ] || { echo "fetch-kernel-header: $deb has no include/linux/avf/virtchnl.h" >&2; exit 1; }
rm -rf "$cache"
mkdir -p "$cache/include/linux/avf"
cp "$found" "$cache/include/linux/avf/virtchnl.h"
echo "$suite $got" > "$cache/SOURCE"
echo "kernel header: $(cat "$cache/SOURCE") -> $cache/include/linux/avf/virtchnl.h"
