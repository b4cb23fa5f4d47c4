# The BuilderHub role: the mock BuilderHub in Docker, reachable only inside the VNets.

readonly MOCKHUB_IMAGE=mempirate/mockhub:latest

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates
}

ensure_mockhub_image() {
  ensure_docker_image "$MOCKHUB_IMAGE"
}

start_mockhub_container() {
  docker run -d --name mockhub --restart unless-stopped -p "$MOCKHUB_PORT:$MOCKHUB_PORT" \
    -e ENABLE_TLS=true -e SYSTEM_PORT="$FLOWPROXY_SYSTEM_PORT" "$MOCKHUB_IMAGE" >/dev/null
}

ensure_mockhub_running() {
  ensure_container mockhub "$MOCKHUB_IMAGE" start_mockhub_container
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
