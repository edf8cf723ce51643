#!/usr/bin/env bash
# Installs QEMU 10.0 from Debian 12's bookworm-backports beside the system's QEMU 7.2, without
# replacing it: the three packages are downloaded and extracted (dpkg-deb -x) into one
# directory, default /opt/qemu-10.0 (or $1). Idempotent: does nothing when the command there
# already answers --version. Ends by starting a q35 machine from the extracted tree, so a
# broken install fails here and not in the tests.
#
#   <dir>/bin/qemu-system-x86_64         the command to run: the binary with its own data and modules
#   <dir>/usr/bin/qemu-system-x86_64     the binary
#   <dir>/usr/share/qemu                 its firmware and data (-L; the BIOS itself still comes
#                                        from the system's seabios, on QEMU's default path)
#   <dir>/usr/lib/x86_64-linux-gnu/qemu  its modules (QEMU_MODULE_DIR, searched first). A module
#                                        not in these three packages (audio-pa, ui-opengl, ...) is
#                                        still looked up in 7.2's /usr/lib dir, and QEMU 10 aborts
#                                        on it ("Only modules from the same build can be loaded"):
#                                        run it with -nodefaults -display none, as nicmig does.
set -euo pipefail

DEST="${1:-${NICMIG_QEMU10_DIR:-/opt/qemu-10.0}}"
BINARY="$DEST/usr/bin/qemu-system-x86_64"
DATA="$DEST/usr/share/qemu"
MODULES="$DEST/usr/lib/x86_64-linux-gnu/qemu"
COMMAND="$DEST/bin/qemu-system-x86_64"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

check() {
  "$COMMAND" --version | head -1 | grep -q 'version 10\.' || { echo "install-qemu10: $COMMAND is not QEMU 10" >&2; return 1; }
  # A q35 machine (with the devices the tests give their guests) must start from the
  # extracted tree and answer on its monitor; `quit` ends it.
  local out
  out=$(printf 'quit\n' | timeout 30 "$COMMAND" -machine pc-q35-7.2 -accel tcg -nodefaults -display none \
    -device virtio-net-pci,netdev=n0 -netdev user,id=n0 -serial null -monitor stdio -S 2>&1) || {
    echo "install-qemu10: $COMMAND did not start a pc-q35-7.2 machine:" >&2
    echo "$out" >&2
    return 1
  }
}

if [ -x "$COMMAND" ] && "$COMMAND" --version >/dev/null 2>&1; then
  check
  echo "QEMU 10 already in $DEST: $("$COMMAND" --version | head -1)"
  exit 0
fi

# bookworm-backports in the sources, on the same mirror as the machine's Debian entry.
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  mirror=$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?$|https?://[^ ]+/debian ' | head -1 | tr -d ' ' || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
  echo "deb ${mirror%/} bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  echo "added bookworm-backports from ${mirror%/}"
fi
$SUDO apt-get update -qq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download fetches as the _apt user when it can: a directory it may write to.
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
(cd "$work" && apt-get download -qq qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports)

staging="$DEST.partial.$$"
$SUDO rm -rf "$staging"
$SUDO mkdir -p "$staging/bin"
for deb in "$work"/*.deb; do $SUDO dpkg-deb -x "$deb" "$staging"; done
printf '#!/bin/sh\n# QEMU 10 extracted beside the system QEMU: its own modules and data.\nQEMU_MODULE_DIR="%s" exec "%s" -L "%s" "$@"\n' "$MODULES" "$BINARY" "$DATA" |
  $SUDO tee "$staging/bin/qemu-system-x86_64" >/dev/null
$SUDO chmod 755 "$staging/bin/qemu-system-x86_64"
$SUDO rm -rf "$DEST"
$SUDO mv "$staging" "$DEST"
check
echo "QEMU 10 installed in $DEST: $("$COMMAND" --version | head -1)"
