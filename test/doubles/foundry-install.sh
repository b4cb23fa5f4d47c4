#!/usr/bin/env bash
# Stand-in for Foundry's installer (what https://foundry.paradigm.xyz leads to), served by the
# sandbox's GitHub double. Test code: never shipped to Azure. Like the real installer it installs
# only foundryup, into $FOUNDRY_DIR/bin (default: $XDG_CONFIG_HOME or $HOME, then .foundry);
# foundryup then installs the tools.
set -eo pipefail

BASE_DIR=${XDG_CONFIG_HOME:-$HOME}
FOUNDRY_DIR=${FOUNDRY_DIR:-"$BASE_DIR/.foundry"}
FOUNDRY_BIN_DIR=$FOUNDRY_DIR/bin

mkdir -p "$FOUNDRY_BIN_DIR"
curl -sSfL --proto '=https' https://raw.githubusercontent.com/foundry-rs/foundry/HEAD/foundryup/foundryup \
  -o "$FOUNDRY_BIN_DIR/foundryup"
chmod +x "$FOUNDRY_BIN_DIR/foundryup"
echo "Installed foundryup (sandbox double) to $FOUNDRY_BIN_DIR; run foundryup to install the tools."
