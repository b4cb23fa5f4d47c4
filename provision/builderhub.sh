# The BuilderHub role: the mock BuilderHub in Docker, reachable only inside the VNets.

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates
}

ensure_mockhub_image() {
  ensure_docker_image "$MOCKHUB_IMAGE" "the program pins this image; check that its registry still serves it"
}

# ENABLE_TLS=true makes the mock hand each proxy's registered certificate to its peers
# (instance.tls_cert); without it peers would speak plain text to HAProxy's TLS port.
readonly MOCKHUB_ENV=(ENABLE_TLS=true "SYSTEM_PORT=$FLOWPROXY_SYSTEM_PORT")

start_mockhub_container() {
  local env_args=() setting
  for setting in "${MOCKHUB_ENV[@]}"; do env_args+=(-e "$setting"); done
  docker run -d --name mockhub --restart unless-stopped -p "$MOCKHUB_PORT:$MOCKHUB_PORT" \
    --label "$CONTAINER_SPEC_LABEL=$1" "${env_args[@]}" "$MOCKHUB_IMAGE" >/dev/null
}

ensure_mockhub_running() {
  ensure_container mockhub "$MOCKHUB_IMAGE ${MOCKHUB_ENV[*]}" start_mockhub_container
}

mockhub_answers() {
  curl -fsS --max-time 2 "http://127.0.0.1:$MOCKHUB_PORT/api/l1-builder/v1/builders" >/dev/null
}

ensure_mockhub_answers() {
  retry 30 1 "BuilderHub API check" mockhub_answers ||
    die "mockhub runs but does not answer on port $MOCKHUB_PORT; see docker logs mockhub"
  log "  the BuilderHub API answers on port $MOCKHUB_PORT"
}

main() {
  provision \
    ensure_base_packages \
    ensure_docker_running \
    ensure_tailscale_connected \
    ensure_mockhub_image \
    ensure_mockhub_running \
    ensure_mockhub_answers
}
