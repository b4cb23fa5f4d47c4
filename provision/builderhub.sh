# The BuilderHub role: the mock BuilderHub in Docker, reachable only inside the VNets, kept to the
# stack's FlowProxy VMs by builderhub-prune; with monitoring on, Prometheus scraping the fleet and
# the listing check that tells it what BuilderHub lists.
#
# Inputs, rendered by the program as read-only variables above common.sh (lib/provision.ts).
# The stack's settings:
#   FLEET                  the stack's FlowProxy VMs, "<VM name> <private IP>" a line
#   PRUNE_HOOK             provision/builderhub-prune.sh, with provision/hook-settings.sh in place
#   PRUNE_SERVICE_UNIT, PRUNE_TIMER_UNIT  its service and timer units, verbatim
#   MONITORING             true: Prometheus and the listing check run here; false: neither does
#   PROMETHEUS_CONFIG      prometheus.yml, generated from the fleet (lib/monitoring.ts)
#   ALERT_RULES            monitoring/alerts.yml, verbatim
#   LISTING_HOOK           provision/builderhub-listing.sh, with provision/hook-settings.sh in place
#   LISTING_SERVICE_UNIT, LISTING_TIMER_UNIT  its service and timer units, verbatim
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
#   PROMETHEUS_IMAGE       the pinned Prometheus image
#   PROMETHEUS_CONTAINER   the name its container runs under
#   PROMETHEUS_PORT        its web page and API, on loopback
#   LISTING_EXPORTER_PORT  the node exporter serving the listing check's file, on loopback
#   MONITORING_CONFIG_DIR  prometheus.yml and the rules, mounted read-only at /etc/prometheus
#   PROMETHEUS_DATA_DIR    Prometheus's database, mounted at /prometheus
#   LISTING_TEXTFILE_DIR   where the listing check writes and the node exporter reads
#   LISTING_HOOK_FILE, LISTING_ENV_FILE  the installed listing check and its settings (no secrets)
#   LISTING_SERVICE, LISTING_TIMER  the names of its service and timer units
#   NODE_EXPORTER_SERVICE  the distribution's node exporter unit
: "${FLEET?}" "${PRUNE_HOOK?}" "${PRUNE_SERVICE_UNIT?}" "${PRUNE_TIMER_UNIT?}" \
  "${MONITORING?}" "${PROMETHEUS_CONFIG?}" "${ALERT_RULES?}" "${LISTING_HOOK?}" "${LISTING_SERVICE_UNIT?}" "${LISTING_TIMER_UNIT?}" \
  "${MOCKHUB_IMAGE?}" "${MOCKHUB_CONTAINER?}" "${MOCKHUB_PORT?}" "${BUILDERS_PATH?}" "${FLOWPROXY_SYSTEM_PORT?}" \
  "${SYSTEMD_UNIT_DIR?}" "${FLEET_FILE?}" "${PRUNE_HOOK_FILE?}" "${PRUNE_ENV_FILE?}" "${PRUNE_RENAMED_FILE?}" \
  "${PRUNE_SERVICE?}" "${PRUNE_TIMER?}" \
  "${PROMETHEUS_IMAGE?}" "${PROMETHEUS_CONTAINER?}" "${PROMETHEUS_PORT?}" "${LISTING_EXPORTER_PORT?}" \
  "${MONITORING_CONFIG_DIR?}" "${PROMETHEUS_DATA_DIR?}" "${LISTING_TEXTFILE_DIR?}" "${LISTING_HOOK_FILE?}" \
  "${LISTING_ENV_FILE?}" "${LISTING_SERVICE?}" "${LISTING_TIMER?}" "${NODE_EXPORTER_SERVICE?}"

PRUNE_TIMER_RESTART=no
LISTING_TIMER_RESTART=no
NODE_EXPORTER_RESTART=no
PROMETHEUS_RELOAD=no
# The image's user (nobody), which owns Prometheus's database.
readonly PROMETHEUS_UID=65534
readonly NODE_EXPORTER_DROPIN=$SYSTEMD_UNIT_DIR/$NODE_EXPORTER_SERVICE.d/flowproxy-staging.conf

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

# --- Monitoring (MONITORING=true) ---------------------------------------------------------------

# The distribution's node exporter serves only the listing check's file, and only on loopback: its
# packaged arguments would expose every host collector on all addresses. The drop-in is in place
# before the package, so the package's first start already takes it.
node_exporter_dropin() {
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:%s --collector.disable-defaults --collector.textfile --collector.textfile.directory=%s\n' \
    "$LISTING_EXPORTER_PORT" "$LISTING_TEXTFILE_DIR"
}

ensure_node_exporter_installed() {
  install -d -m 755 "$(dirname "$NODE_EXPORTER_DROPIN")" "$LISTING_TEXTFILE_DIR"
  converge_file 644 "$NODE_EXPORTER_DROPIN" "$(node_exporter_dropin)"
  if [[ $CHANGED == yes ]]; then
    systemctl daemon-reload
    NODE_EXPORTER_RESTART=yes
  fi
  ensure_packages_installed prometheus-node-exporter openssl
}

ensure_node_exporter_running() {
  ensure_unit_running "$NODE_EXPORTER_SERVICE" "$NODE_EXPORTER_RESTART"
}

listing_environment() {
  printf 'FLEET_FILE=%s\n' "$FLEET_FILE"
  printf 'BUILDERS_URL=%s\n' "http://127.0.0.1:$MOCKHUB_PORT$BUILDERS_PATH"
  printf 'SYSTEM_PORT=%s\n' "$FLOWPROXY_SYSTEM_PORT"
  printf 'TEXTFILE_DIR=%s\n' "$LISTING_TEXTFILE_DIR"
}

ensure_listing_check() {
  install -d -m 755 "$MONITORING_CONFIG_DIR"
  converge_file 755 "$LISTING_HOOK_FILE" "$LISTING_HOOK"
  converge_file 644 "$LISTING_ENV_FILE" "$(listing_environment)"$'\n'
  local units_changed=no
  converge_file 644 "$SYSTEMD_UNIT_DIR/$LISTING_SERVICE" "$LISTING_SERVICE_UNIT"
  if [[ $CHANGED == yes ]]; then units_changed=yes; fi
  converge_file 644 "$SYSTEMD_UNIT_DIR/$LISTING_TIMER" "$LISTING_TIMER_UNIT"
  if [[ $CHANGED == yes ]]; then units_changed=yes; fi
  if [[ $units_changed == yes ]]; then
    systemctl daemon-reload
    LISTING_TIMER_RESTART=yes
    log "  installed builderhub-listing and its timer"
  else
    log "  builderhub-listing and its timer unchanged"
  fi
  ensure_unit_running "$LISTING_TIMER" "$LISTING_TIMER_RESTART"
}

ensure_prometheus_image() {
  ensure_docker_image "$PROMETHEUS_IMAGE" "the program pins this image; check that its registry still serves it"
}

# The new configuration is checked with the image's own promtool before it replaces the running
# one: a rule Prometheus cannot load would otherwise leave it on the old rules, silently.
ensure_prometheus_config() {
  local staged=$WORK_DIR/prometheus check
  install -d -m 755 "$staged" "$MONITORING_CONFIG_DIR"
  printf '%s' "$PROMETHEUS_CONFIG" >"$staged/prometheus.yml"
  printf '%s' "$ALERT_RULES" >"$staged/alerts.yml"
  chmod 644 "$staged/prometheus.yml" "$staged/alerts.yml"
  check=$(docker run --rm --network none --user root --entrypoint /bin/promtool -v "$staged:/etc/prometheus:ro" \
    "$PROMETHEUS_IMAGE" check config /etc/prometheus/prometheus.yml 2>&1) ||
    die "promtool refuses the generated Prometheus configuration or monitoring/alerts.yml: $(tail -n 3 <<<"$check" | tr '\n' ' ')"
  converge_file 644 "$MONITORING_CONFIG_DIR/prometheus.yml" "$PROMETHEUS_CONFIG"
  if [[ $CHANGED == yes ]]; then PROMETHEUS_RELOAD=yes; fi
  converge_file 644 "$MONITORING_CONFIG_DIR/alerts.yml" "$ALERT_RULES"
  if [[ $CHANGED == yes ]]; then PROMETHEUS_RELOAD=yes; fi
  install -d -m 700 -o "$PROMETHEUS_UID" -g "$PROMETHEUS_UID" "$PROMETHEUS_DATA_DIR"
  log "  configuration checked by promtool; $([[ $PROMETHEUS_RELOAD == yes ]] && echo changed || echo unchanged)"
}

readonly PROMETHEUS_ARGS=(
  --config.file=/etc/prometheus/prometheus.yml
  --storage.tsdb.path=/prometheus
  "--web.listen-address=127.0.0.1:$PROMETHEUS_PORT"
  --storage.tsdb.retention.time=15d
)

# On the host's network like mockhub, bound to loopback: the page is reached through an SSH tunnel
# only, and the scrapes leave from the VM's own address, which the proxies' NSGs admit.
start_prometheus_container() {
  docker run -d --name "$PROMETHEUS_CONTAINER" --restart unless-stopped --network host --user "$PROMETHEUS_UID" \
    -v "$MONITORING_CONFIG_DIR:/etc/prometheus:ro" -v "$PROMETHEUS_DATA_DIR:/prometheus" \
    --label "$CONTAINER_SPEC_LABEL=$1" "$PROMETHEUS_IMAGE" "${PROMETHEUS_ARGS[@]}" >/dev/null
}

ensure_prometheus_running() {
  ensure_container "$PROMETHEUS_CONTAINER" "$PROMETHEUS_IMAGE ${PROMETHEUS_ARGS[*]} network=host user=$PROMETHEUS_UID $DOCKER_LOG_SPEC" start_prometheus_container
  # SIGHUP makes Prometheus reread its configuration and rules without losing its database or targets.
  if [[ $CONTAINER_STATE == running && $PROMETHEUS_RELOAD == yes ]]; then
    docker kill -s HUP "$PROMETHEUS_CONTAINER" >/dev/null
    log "  reloaded $PROMETHEUS_CONTAINER for its new configuration"
  fi
}

prometheus_ready() {
  curl -fsS --max-time 2 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null
}

ensure_prometheus_answers() {
  retry 30 1 "Prometheus readiness check" prometheus_ready ||
    die "Prometheus runs but is not ready on 127.0.0.1:$PROMETHEUS_PORT; see docker logs $PROMETHEUS_CONTAINER"
  log "  Prometheus is ready on 127.0.0.1:$PROMETHEUS_PORT"
}

# Monitoring turned off: nothing of it keeps running (its files stay, inert, for the next time).
ensure_monitoring_stopped() {
  if container_exists "$PROMETHEUS_CONTAINER"; then
    remove_container "$PROMETHEUS_CONTAINER"
    log "  removed $PROMETHEUS_CONTAINER"
  fi
  local unit
  for unit in "$LISTING_TIMER" "$NODE_EXPORTER_SERVICE"; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit"; then
      systemctl disable --now --quiet "$unit"
      log "  stopped $unit"
    fi
  done
}

# The steps of monitoring on, or the one that undoes them.
monitoring_steps() {
  if [[ $MONITORING == true ]]; then
    printf '%s\n' ensure_node_exporter_installed ensure_node_exporter_running ensure_listing_check \
      ensure_prometheus_image ensure_prometheus_config ensure_prometheus_running ensure_prometheus_answers
  else
    printf '%s\n' ensure_monitoring_stopped
  fi
}

main() {
  local monitoring
  mapfile -t monitoring < <(monitoring_steps)
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
    ensure_prune_timer \
    "${monitoring[@]}"
}
