#!/usr/bin/env bash
# Stand-in for Foundry's foundryup, served by the sandbox's GitHub double. Test code: never shipped
# to Azure. It installs only the cast double, the one tool provisioning uses, from the "release"
# the GitHub double serves.
set -eo pipefail

FOUNDRY_DIR=${FOUNDRY_DIR:-"${XDG_CONFIG_HOME:-$HOME}/.foundry"}
FOUNDRY_BIN_DIR=$FOUNDRY_DIR/bin
RELEASE_URL=https://github.com/foundry-rs/foundry/releases/download/stable

mkdir -p "$FOUNDRY_BIN_DIR"
download=$(mktemp "$FOUNDRY_BIN_DIR/.cast.XXXXXX")
trap 'rm -f "$download"' EXIT
curl -sSfL --proto '=https' "$RELEASE_URL/cast" -o "$download"
chmod 755 "$download"
mv -f "$download" "$FOUNDRY_BIN_DIR/cast"
echo "foundryup: installed - $("$FOUNDRY_BIN_DIR/cast" --version)"
