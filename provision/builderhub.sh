# The BuilderHub role: the mock BuilderHub in Docker, reachable only inside the VNets, kept to the
# stack's FlowProxy VMs by builderhub-prune.
#
# Inputs, rendered by the program as read-only variables above common.sh (lib/provision.ts).
# The stack's settings:
#   FLEET                  the stack's FlowProxy VMs, "<VM name> <private IP>" a line
#   PRUNE_HOOK             provision/builderhub-prune.sh, verbatim
#   PRUNE_SERVICE_UNIT, PRUNE_TIMER_UNIT  its service and timer units, verbatim
# The contract's names and places (lib/contract.ts):
#   MOCKHUB_IMAGE          the pinned mock BuilderHub image
#   MOCKHUB_CONTAINER      the name its container runs under
#   MOCKHUB_PORT           the port its API listens on, inside the container and on the VM
#   BUILDERS_PATH          its route listing the builders, which answers once the API is up
#   FLOWPROXY_SYSTEM_PORT  the port of each proxy's system frontend, which the mock hands to peers
#   SYSTEMD_UNIT_DIR       where the units are installed
#   FLEET_FILE             where FLEET is kept for the hook
#   PRUNE_HOOK_FILE        the installed hook
#   PRUNE_ENV_FILE         its settings (no secrets)
#   PRUNE_RENAMED_FILE     its record of the listings it renamed, in its unit's state directory
#   PRUNE_SERVICE, PRUNE_TIMER  the names of its service and timer units
: "${FLEET?}" "${PRUNE_HOOK?}" "${PRUNE_SERVICE_UNIT?}" "${PRUNE_TIMER_UNIT?}" \
  "${MOCKHUB_IMAGE?}" "${MOCKHUB_CONTAINER?}" "${MOCKHUB_PORT?}" "${BUILDERS_PATH?}" "${FLOWPROXY_SYSTEM_PORT?}" \
  "${SYSTEMD_UNIT_DIR?}" "${FLEET_FILE?}" "${PRUNE_HOOK_FILE?}" "${PRUNE_ENV_FILE?}" "${PRUNE_RENAMED_FILE?}" \
  "${PRUNE_SERVICE?}" "${PRUNE_TIMER?}"

PRUNE_TIMER_RESTART=no

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates jq
}

ensure_mockhub_image() {
  ensure_docker_image "$MOCKHUB_IMAGE" "the program pins this image; check that its registry still serves it"
}

# ENABLE_TLS=true makes the mock hand each proxy's registered certificate to its peers
# (instance.tls_cert); without it peers would speak plain text to HAProxy's TLS port.
readonly MOCKHUB_ENV=(ENABLE_TLS=true "SYSTEM_PORT=$FLOWPROXY_SYSTEM_PORT")

# On the host's network, as HAProxy is: a published port goes through dockerd's docker-proxy, which
# dies with dockerd (moby's daemon/libnetwork/portmapper/proxy_linux.go: Pdeathsig), and Docker's NAT
# rules, which dockerd rewrites as it starts, so even with live-restore a restart of dockerd refused
# registrations (seen in the sandbox: 1 of 15 requests from vm-eastus refused). The NSG keeps the
# port to the VNets.
#
# --init puts tini (DOCKER_DAEMON_CONFIG's init-path) in front as PID 1: mockhub sets no
# SIGTERM handler, and the kernel ignores such a signal for a namespace's PID 1, so without it
# `docker stop` waits out its timeout and, with live-restore, a VM's shutdown waits out systemd's.
start_mockhub_container() {
  local env_args=() setting
  for setting in "${MOCKHUB_ENV[@]}"; do env_args+=(-e "$setting"); done
  docker run -d --name "$MOCKHUB_CONTAINER" --restart unless-stopped --network host --init \
    --label "$CONTAINER_SPEC_LABEL=$1" "${env_args[@]}" "$MOCKHUB_IMAGE" >/dev/null
}

ensure_mockhub_running() {
  ensure_container "$MOCKHUB_CONTAINER" "$MOCKHUB_IMAGE ${MOCKHUB_ENV[*]} network=host init $DOCKER_LOG_SPEC" start_mockhub_container
}

mockhub_answers() {
  curl -fsS --max-time 2 "http://127.0.0.1:$MOCKHUB_PORT$BUILDERS_PATH" >/dev/null
}

ensure_mockhub_answers() {
  retry 30 1 "BuilderHub API check" mockhub_answers ||
    die "mockhub runs but does not answer on port $MOCKHUB_PORT; see docker logs $MOCKHUB_CONTAINER"
  log "  the BuilderHub API answers on port $MOCKHUB_PORT"
}

prune_environment() {
  printf 'FLEET_FILE=%s\n' "$FLEET_FILE"
  printf 'BUILDERS_URL=%s\n' "http://127.0.0.1:$MOCKHUB_PORT$BUILDERS_PATH"
  printf 'MOCKHUB_CONTAINER=%s\n' "$MOCKHUB_CONTAINER"
  printf 'SYSTEM_PORT=%s\n' "$FLOWPROXY_SYSTEM_PORT"
  printf 'RENAMED_FILE=%s\n' "$PRUNE_RENAMED_FILE"
}

# The fleet changes when a region grows or shrinks; the hook reads it at its next run, and nothing
# restarts for it: mockhub is restarted only by the hook, and only for a listing that left the fleet.
ensure_fleet_recorded() {
  install -d -m 755 "$(dirname "$FLEET_FILE")" "$(dirname "$PRUNE_ENV_FILE")"
  converge_file 644 "$FLEET_FILE" "$FLEET"
  if [[ $CHANGED == yes ]]; then log "  the fleet is now: $(tr '\n' ' ' <<<"$FLEET")"; else log "  the fleet is unchanged"; fi
}

ensure_prune_hook() {
  converge_timed_hook "$PRUNE_HOOK_FILE" "$PRUNE_HOOK" "$PRUNE_ENV_FILE" "$(prune_environment)"$'\n' \
    "$PRUNE_SERVICE" "$PRUNE_SERVICE_UNIT" "$PRUNE_TIMER" "$PRUNE_TIMER_UNIT"
  if [[ $UNITS_CHANGED == yes ]]; then
    PRUNE_TIMER_RESTART=yes
    log "  installed builderhub-prune and its timer"
  else
    log "  builderhub-prune and its timer unchanged"
  fi
}

ensure_prune_timer() {
  ensure_unit_running "$PRUNE_TIMER" "$PRUNE_TIMER_RESTART"
}

main() {
  provision \
    ensure_base_packages \
    ensure_docker_configured \
    ensure_docker_running \
    ensure_docker_hub_login \
    ensure_tailscale_connected \
    ensure_mockhub_image \
    ensure_mockhub_running \
    ensure_mockhub_answers \
    ensure_fleet_recorded \
    ensure_prune_hook \
    ensure_prune_timer
}
