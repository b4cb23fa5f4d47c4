#!/bin/bash
# builderhub-prune: keeps BuilderHub's mock listing the stack's FlowProxy VMs, each under its VM's
# name, and no proxy the stack removed.
#
# Why it exists: mockhub keeps each registration, with the name it gave it, until it restarts, and
# has no way to drop one (simulation/mockhub/src/main.rs at b56e719). So a proxy the stack removed
# stays listed and its peers keep sending system flow to it, and a proxy that registered before its
# address had a reverse name stays listed under its signer address. Provisioning writes the stack's
# FlowProxy VMs to FLEET_FILE; builderhub-prune.timer runs this every 20 s, and it restarts mockhub
# when mockhub lists
#   - a builder whose address is no FlowProxy VM's of the stack and which no longer answers on the
#     system port: its VM is gone. Pulumi deletes a removed VM after BuilderHub's extension took the
#     new fleet, and until then the VM answers and keeps its registration;
#   - a VM of the stack under another name than the VM's, while its address's reverse name now gives
#     the VM's name, which a new registration gets; once for each address and listed name.
# After the restart every proxy's flowproxy-registration.timer registers it again within 20 s.
#
# Inputs, from /etc/builderhub/prune.env (written by provisioning, no secrets; the variable
# BUILDERHUB_PRUNE_ENV names another file, for tests):
#   FLEET_FILE         the stack's FlowProxy VMs, "<VM name> <private IP>" a line
#   BUILDERS_URL       mockhub's listing, asked on the VM's loopback
#   MOCKHUB_CONTAINER  the container mockhub runs in
#   SYSTEM_PORT        the port every proxy takes system flow on
#   RENAMED_FILE       the listings a restart was made for to rename them, "<address> <name>" a line
# Exit status: 0 when mockhub lists only what it should, or was restarted to; 1 when mockhub could
# not be asked or restarted.
set -euo pipefail

readonly CONFIG_FILE=${BUILDERHUB_PRUNE_ENV:-/etc/builderhub/prune.env}
readonly SETTINGS=(FLEET_FILE BUILDERS_URL MOCKHUB_CONTAINER SYSTEM_PORT RENAMED_FILE)
# A proxy that answers within this many seconds is still there.
readonly PROBE_SECONDS=3

fail() {
  printf 'builderhub-prune: %s\n' "$1" >&2
  exit 1
}

# shellcheck source=provision/hook-settings.sh
source "${BASH_SOURCE[0]%/*}/hook-settings.sh"

load_config() {
  read_settings "$CONFIG_FILE" "${SETTINGS[@]}" || fail "$SETTINGS_PROBLEM"
}

declare -A FLEET=()

load_fleet() {
  [[ -r $FLEET_FILE ]] || fail "$FLEET_FILE is missing; rerun provisioning (pulumi up)"
  local name address
  while read -r name address; do
    if [[ -n $name && -n $address ]]; then FLEET[$address]=$name; fi
  done <"$FLEET_FILE"
}

# Prints "<address> <name>" for each builder mockhub lists: dns_name is the registering address.
listed_builders() {
  local listing
  listing=$(curl -fsS --max-time 10 --user-agent builderhub-prune "$BUILDERS_URL") ||
    fail "mockhub does not answer $BUILDERS_URL"
  jq -r '.[] | "\(.dns_name) \(.name)"' <<<"$listing" || fail "mockhub's answer on $BUILDERS_URL is not the expected JSON list"
}

answers() {
  # The inner bash expands them: the address and port are its arguments, never spliced into code.
  # shellcheck disable=SC2016
  timeout "$PROBE_SECONDS" bash -c ': >"/dev/tcp/$1/$2"' _ "$1" "$SYSTEM_PORT" 2>/dev/null
}

# The first label of the address's reverse name, as mockhub names a registration (empty without one).
reverse_label() {
  local resolved=()
  read -r -a resolved < <(getent hosts "$1" || true)
  printf '%s' "${resolved[1]%%.*}"
}

already_renamed() {
  [[ -f $RENAMED_FILE ]] && grep -qxF "$1 $2" "$RENAMED_FILE"
}

main() {
  load_config
  load_fleet
  local listing reasons=() address listed vm
  listing=$(listed_builders)
  while read -r address listed; do
    if [[ -z $address ]]; then continue; fi
    vm=${FLEET[$address]:-}
    if [[ -z $vm ]]; then
      if ! answers "$address"; then reasons+=("$listed ($address) left the stack and no longer answers on port $SYSTEM_PORT"); fi
    elif [[ $listed != "$vm" && $(reverse_label "$address") == "$vm" ]] && ! already_renamed "$address" "$listed"; then
      printf '%s %s\n' "$address" "$listed" >>"$RENAMED_FILE"
      reasons+=("$vm ($address) is listed as $listed; registered again it is named $vm")
    fi
  done <<<"$listing"
  if ((${#reasons[@]} == 0)); then return; fi
  docker restart "$MOCKHUB_CONTAINER" >/dev/null || fail "docker restart $MOCKHUB_CONTAINER failed"
  local reason
  for reason in "${reasons[@]}"; do printf 'builderhub-prune: %s\n' "$reason"; done
  printf 'builderhub-prune: restarted %s; every proxy of the stack registers again within 20 s\n' "$MOCKHUB_CONTAINER"
}

main "$@"
