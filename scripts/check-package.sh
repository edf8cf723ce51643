#!/usr/bin/env bash
# Installs nicmig as a new user would, from its packed tarball into a fresh prefix, runs
# `nicmig demo` from a directory that has nothing to do with the repository, then runs every
# command the demo's "Next:" hints print. Fails if the demo or any hint fails, or if the demo
# printed no hints. Run by .ci/run after the tests; by hand: npm run test:package
#
#   --prebuilt   pack dist/ as it is (npm pack --ignore-scripts): for CI, right after
#                `npm test` built it; by default npm pack's prepack builds it first.
set -euo pipefail
prebuilt=0
for arg in "$@"; do
  case "$arg" in
    --prebuilt) prebuilt=1 ;;
    *) echo "check-package.sh: unknown argument '$arg' (only --prebuilt)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
repo=$PWD

work=$(mktemp -d "${TMPDIR:-/tmp}/nicmig-package-$$-XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

say() { printf 'package check (+%ss): %s\n' "$SECONDS" "$*"; }

# npm pack runs prepack (the build): what ships is what the sources build today.
pack=(npm pack --silent --pack-destination "$work")
if [ "$prebuilt" = 1 ]; then
  [ -f oclif.manifest.json ] && [ -f dist/commands/demo.js ] || { say "FAILED: --prebuilt but no build here (npm run build)"; exit 1; }
  pack+=(--ignore-scripts)
fi
say "${pack[*]}"
tarball=$("${pack[@]}" | tail -1)
say "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB)"

say "npm install -g into a fresh prefix"
npm install -g "$work/$tarball" --prefix "$work/prefix" --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
nicmig="$work/prefix/bin/nicmig"
[ -x "$nicmig" ] || { say "FAILED: no $nicmig after the install"; exit 1; }

# A cwd with no fixtures/, no package.json, no node_modules above it that is ours.
elsewhere="$work/elsewhere"
mkdir -p "$elsewhere"
cd "$elsewhere"
export PATH="$work/prefix/bin:$PATH"
unset NICMIG_CONFIG

say "nicmig demo (from $elsewhere)"
if ! nicmig demo --memory 64 >"$work/demo.out" 2>"$work/demo.err"; then
  say "FAILED: nicmig demo exited non-zero"
  cat "$work/demo.err" "$work/demo.out"
  exit 1
fi
grep -q 'vm1 now runs on hostB' "$work/demo.out" || { say "FAILED: the demo did not say vm1 moved"; cat "$work/demo.out"; exit 1; }

# The hints: the lines after "Next:", each "  <command>   <what it shows>".
mapfile -t hints < <(sed -n '/^Next:/,$p' "$work/demo.out" | sed -n 's/^  \(nicmig .*[^ ]\) \{3,\}.*$/\1/p')
[ "${#hints[@]}" -gt 0 ] || { say "FAILED: the demo printed no hints"; cat "$work/demo.out"; exit 1; }

failed=0
for hint in "${hints[@]}"; do
  if bash -c "$hint" >"$work/hint.out" 2>&1; then
    say "ok   $hint"
  else
    code=$?
    say "FAILED (exit $code): $hint"
    sed 's/^/    /' "$work/hint.out"
    failed=1
  fi
done
cd "$repo"
[ "$failed" = 0 ] || exit 1
say "the installed package runs the demo and all ${#hints[@]} of its hints"
