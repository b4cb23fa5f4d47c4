# The BuilderHub role: the mock BuilderHub in Docker, reachable only inside the VNets.
#
# Inputs, rendered by the program as read-only variables above common.sh (lib/provision.ts):
#   MOCKHUB_IMAGE          the pinned mock BuilderHub image
#   MOCKHUB_CONTAINER      the name its container runs under
#   MOCKHUB_PORT           the port its API listens on, inside the container and on the VM
#   BUILDERS_PATH          its route listing the builders, which answers once the API is up
#   FLOWPROXY_SYSTEM_PORT  the port of each proxy's system frontend, which the mock hands to peers
: "${MOCKHUB_IMAGE?}" "${MOCKHUB_CONTAINER?}" "${MOCKHUB_PORT?}" "${BUILDERS_PATH?}" "${FLOWPROXY_SYSTEM_PORT?}"

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates
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

main() {
  provision \
    ensure_base_packages \
    ensure_docker_configured \
    ensure_docker_running \
    ensure_docker_hub_login \
    ensure_tailscale_connected \
    ensure_mockhub_image \
    ensure_mockhub_running \
    ensure_mockhub_answers
}
