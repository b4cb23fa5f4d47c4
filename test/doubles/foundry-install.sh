#!/bin/sh
# Stand-in for Foundry's installer (what https://foundry.paradigm.xyz serves), served by the
# sandbox's GitHub double. Test code: never shipped to Azure.
#
# It behaves like foundry-rs/foundryup foundryup-init.sh at ae2e0ee (2026-03-04) where the
# provisioning can tell the difference:
# - It runs under `set -eu` and works out ${XDG_CONFIG_HOME:-$HOME} before anything else, even when
#   FOUNDRY_DIR is given. So without HOME (and without XDG_CONFIG_HOME) the shell itself stops at
#   that line with a non-zero status: bash says "HOME: unbound variable" (exit 1), dash (Debian's
#   sh) "HOME: parameter not set" (exit 2).
# - It installs only foundryup, into $FOUNDRY_DIR/bin, FOUNDRY_DIR defaulting to
#   ${XDG_CONFIG_HOME:-$HOME}/.foundry; foundryup then installs the tools.
# - A failed step prints "foundryup-init: <reason>" on stderr and exits 1.
#
# Where it differs, because the sandbox has no GitHub releases: it fetches the foundryup double
# the GitHub double serves (foundry's foundryup/foundryup path) instead of the release binary
# foundryup_<os>_<arch>, so it neither detects the platform nor checks an attestation; it needs
# curl (upstream also takes wget) and ignores its options and FOUNDRYUP_VERSION.
set -eu

BASE_DIR="${XDG_CONFIG_HOME:-$HOME}"
FOUNDRY_DIR="${FOUNDRY_DIR:-$BASE_DIR/.foundry}"
FOUNDRYUP_BIN_DIR="$FOUNDRY_DIR/bin"
FOUNDRYUP_URL=https://raw.githubusercontent.com/foundry-rs/foundry/HEAD/foundryup/foundryup

report() {
  printf 'foundryup-init: %s\n' "$1"
}

fail() {
  report "$1" >&2
  exit 1
}

require() {
  command -v "$1" >/dev/null 2>&1 || fail "need '$1' (command not found)"
}

# Runs a step; its failure ends the installer, naming the step.
ensure() {
  "$@" || fail "command failed: $*"
}

# curl's own complaint becomes a warning; the status says whether the download worked.
fetch() {
  status=0
  problem=$(curl --proto '=https' --tlsv1.2 --silent --show-error --fail --location "$1" --output "$2" 2>&1) || status=$?
  if [ -n "$problem" ]; then
    report "warning: $problem" >&2
  fi
  return "$status"
}

main() {
  for command in curl mktemp chmod mkdir rm rmdir; do
    require "$command"
  done
  report "fetching foundryup (sandbox double)"
  if ! workdir="$(ensure mktemp -d)"; then
    exit 1
  fi
  ensure fetch "$FOUNDRYUP_URL" "$workdir/foundryup"
  ensure chmod u+x "$workdir/foundryup"
  ensure mkdir -p "$FOUNDRYUP_BIN_DIR"
  ensure cp "$workdir/foundryup" "$FOUNDRYUP_BIN_DIR/foundryup"
  ensure chmod +x "$FOUNDRYUP_BIN_DIR/foundryup"
  rm "$workdir/foundryup"
  rmdir "$workdir"
  report "foundryup is in $FOUNDRYUP_BIN_DIR; run foundryup to install the tools"
}

# As upstream: main runs in an `||` list, so only `ensure` and `fail` end it early.
main "$@" || exit 1
