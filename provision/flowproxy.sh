# The FlowProxy role: HAProxy in Docker in front of FlowProxy under systemd, registered with
# BuilderHub. Each step converges on the state it names; reloads and restarts happen only when
# something they depend on changed.
#
# Inputs, rendered by the program as read-only variables above common.sh (lib/provision.ts).
# The stack's settings:
#   HAPROXY_IMAGE            haproxy:<haProxyVersion>
#   HAPROXY_CFG              haproxy.cfg, verbatim
#   HAPROXY_ENVIRONMENT      NAME=value lines HAProxy's container gets; haproxy.cfg takes its ports
#                            and files from them, and its system API mode (FLOWPROXY_SYSTEM_API)
#   CERT_SANS                the names and addresses the TLS certificate must cover
#   ARTIFACT_URL             the GitHub API URL of the FlowProxy artifact zip
#   FLOWPROXY_SHA256         the binary's pinned SHA-256, or empty
#   GITHUB_TOKEN             a token that can read the artifact (secret)
#   FLOWPROXY_GENERATION     the system API generation the build must speak: 1 or 2
#   FLOWPROXY_UNIT           flowproxy@.service, verbatim
#   FLOWPROXY_ENV            flowproxy.env with the program's own settings
#   SIGNER_KEY_SOURCE        stack (SIGNER_KEY and SIGNER_ADDRESS given) or vm (made here)
#   SIGNER_KEY               the stack's signer key (secret), or empty
#   SIGNER_ADDRESS           its address, or empty
#   CLICKHOUSE_USERNAME      ClickHouse's user, or empty without ClickHouse
#   CLICKHOUSE_PASSWORD      its password (secret), or empty
#   REGISTRATION_HOOK        provision/flowproxy-register.sh, with provision/hook-settings.sh in place
#   REGISTRATION_SERVICE_UNIT, REGISTRATION_TIMER_UNIT  its service and timer units, verbatim
# The contract's names and places (lib/contract.ts):
#   HAPROXY_CONTAINER        the name HAProxy's container runs under
#   HAPROXY_DIR              HAProxy's configuration directory, mounted read-only into it
#   HAPROXY_CFG_FILE         the live haproxy.cfg in it
#   HAPROXY_PEM              the certificate and key HAProxy's TLS frontends present
#   SERVED_CERT_FILE         the certificate alone, served by the public_cert frontend
#   HAPROXY_CHECK_LOG        the output of the last `haproxy -c`
#   FLOWPROXY_BIN            the installed FlowProxy binary
#   FLOWPROXY_CONFIG_DIR     FlowProxy's configuration directory
#   FLOWPROXY_ENV_FILE       FlowProxy's environment file (holds the signer key: 0600)
#   SIGNER_KEY_FILE, SIGNER_ADDRESS_FILE  the key made here with signerKeySource vm, and its address
#   FOUNDRY_DIR              where Foundry's cast is installed for signerKeySource vm
#   SYSTEMD_UNIT_DIR         where the units are installed
#   FLOWPROXY_SERVICE        flowproxy@<VM_NAME>.service
#   REGISTER_HOOK_FILE       the installed registration hook
#   REGISTRATION_ENV_FILE    its settings (no secrets)
#   REGISTRATION_SERVICE, REGISTRATION_TIMER  the names of its service and timer units
#   BUILDERHUB_ENDPOINT      BuilderHub's base URL
#   REGISTER_PATH, BUILDERS_PATH  BuilderHub's registration and listing routes
#   FLOWPROXY_LIVEZ_URL      FlowProxy's own /livez, on its user listener
#   SERVED_LIVEZ_URL         /livez through HAProxy's user frontend: provisioning ends only when
#                            traffic flows through it
: "${HAPROXY_IMAGE?}" "${HAPROXY_CFG?}" "${HAPROXY_ENVIRONMENT?}" "${CERT_SANS?}" "${ARTIFACT_URL?}" \
  "${FLOWPROXY_SHA256?}" "${GITHUB_TOKEN?}" "${FLOWPROXY_GENERATION?}" "${FLOWPROXY_UNIT?}" "${FLOWPROXY_ENV?}" \
  "${SIGNER_KEY_SOURCE?}" "${SIGNER_KEY?}" "${SIGNER_ADDRESS?}" "${CLICKHOUSE_USERNAME?}" "${CLICKHOUSE_PASSWORD?}" \
  "${REGISTRATION_HOOK?}" "${REGISTRATION_SERVICE_UNIT?}" "${REGISTRATION_TIMER_UNIT?}" \
  "${HAPROXY_CONTAINER?}" "${HAPROXY_DIR?}" "${HAPROXY_CFG_FILE?}" "${HAPROXY_PEM?}" "${SERVED_CERT_FILE?}" \
  "${HAPROXY_CHECK_LOG?}" "${FLOWPROXY_BIN?}" "${FLOWPROXY_CONFIG_DIR?}" "${FLOWPROXY_ENV_FILE?}" \
  "${SIGNER_KEY_FILE?}" "${SIGNER_ADDRESS_FILE?}" "${FOUNDRY_DIR?}" "${SYSTEMD_UNIT_DIR?}" "${FLOWPROXY_SERVICE?}" \
  "${REGISTER_HOOK_FILE?}" "${REGISTRATION_ENV_FILE?}" "${REGISTRATION_SERVICE?}" "${REGISTRATION_TIMER?}" \
  "${BUILDERHUB_ENDPOINT?}" "${REGISTER_PATH?}" "${BUILDERS_PATH?}" "${FLOWPROXY_LIVEZ_URL?}" "${SERVED_LIVEZ_URL?}"

readonly FLOWPROXY_UNIT_FILE=$SYSTEMD_UNIT_DIR/flowproxy@.service
# Which artifact (and pin) the installed binary came from, with the binary's digest.
readonly ARTIFACT_MARKER=$STATE_DIR/artifact
readonly ARTIFACT_WANTED="$ARTIFACT_URL ${FLOWPROXY_SHA256:-unpinned}"
# flowproxy-register's exit statuses that no retry can help: this VM's side is broken, or
# BuilderHub lists our signer with another certificate.
readonly REGISTRATION_LOCAL_PROBLEM=2
readonly REGISTRATION_CONFLICT=3

HAPROXY_RELOAD=no
FLOWPROXY_RESTART=no
REGISTRATION_TIMER_RESTART=no
FLOWPROXY_CANDIDATE=""
FLOWPROXY_CANDIDATE_DIGEST=""
SIGNER_KEY_VALUE=""
SIGNER_ADDRESS_VALUE=""

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates openssl unzip jq
}

ensure_haproxy_image() {
  ensure_docker_image "$HAPROXY_IMAGE" \
    "set a tag (and digest) that Docker Hub's haproxy has: pulumi config set flowproxy-staging:haProxyVersion TAG[@sha256:DIGEST]"
}

# Made once and kept; remade only when it is about to expire or the addresses it must name changed.
ensure_tls_certificate() {
  install -d -m 755 "$HAPROXY_DIR" "$HAPROXY_DIR/static"
  install -d -m 700 "$HAPROXY_DIR/certs"
  local sans_file=$STATE_DIR/certificate-sans
  if [[ -s $HAPROXY_PEM ]] && [[ -f $sans_file && $(<"$sans_file") == "$CERT_SANS" ]] &&
    openssl x509 -in "$HAPROXY_PEM" -noout -checkend 2592000 >/dev/null; then
    log "  kept the existing certificate"
  else
    local work
    work=$(mktemp -d "$WORK_DIR/certificate.XXXXXX")
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
      -subj "/CN=$VM_NAME" -addext "subjectAltName=$CERT_SANS" \
      -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
      die "openssl could not make the certificate: $(tail -n 1 "$work/openssl.log")"
    cat "$work/cert.pem" "$work/key.pem" >"$work/combined.pem"
    mv -f "$work/combined.pem" "$HAPROXY_PEM"
    printf '%s' "$CERT_SANS" >"$sans_file"
    rm -rf "$work"
    HAPROXY_RELOAD=yes
    log "  made a new self-signed certificate for $CERT_SANS"
  fi
  converge_file 644 "$SERVED_CERT_FILE" "$(openssl x509 -in "$HAPROXY_PEM")"$'\n'
  if [[ $CHANGED == yes ]]; then HAPROXY_RELOAD=yes; fi
}

# HAProxy's environment as `docker run` arguments: haproxy.cfg reads its ports, files and system
# API mode from it (see the file).
HAPROXY_ENV_ARGS=()
while IFS= read -r setting; do HAPROXY_ENV_ARGS+=(-e "$setting"); done <<<"$HAPROXY_ENVIRONMENT"
readonly HAPROXY_ENV_ARGS

# validate_haproxy_config FILE WHAT: FILE passes the check of the target image, or the run stops
# with HAProxy's own words and WHAT (what is left running).
validate_haproxy_config() {
  if ! docker run --rm --network none --user root "${HAPROXY_ENV_ARGS[@]}" -v "$HAPROXY_DIR:$HAPROXY_DIR:ro" \
    "$HAPROXY_IMAGE" haproxy -c -f "$1" >"$HAPROXY_CHECK_LOG" 2>&1; then
    sed 's/^/  haproxy: /' "$HAPROXY_CHECK_LOG" | tail -n 20
    rm -f "$HAPROXY_CFG_FILE.candidate"
    die "haproxy.cfg is invalid for $HAPROXY_IMAGE with its environment (${HAPROXY_ENVIRONMENT//$'\n'/ }) (see above); $2"
  fi
}

# A new file is checked by the HAProxy of the target image before it replaces the running one.
ensure_haproxy_config() {
  local live=$HAPROXY_CFG_FILE candidate=$HAPROXY_CFG_FILE.candidate
  if [[ -f $live ]] && printf '%s' "$HAPROXY_CFG" | cmp -s - "$live"; then
    log "  haproxy.cfg unchanged"
    return
  fi
  converge_file 644 "$candidate" "$HAPROXY_CFG"
  validate_haproxy_config "$candidate" "HAProxy keeps running the previous one"
  mv -f "$candidate" "$live"
  HAPROXY_RELOAD=yes
  log "  installed a new haproxy.cfg (validated)"
}

# `always`, not `unless-stopped`: every reload signals the container (docker kill -s HUP), and Docker
# counts a signalled container as stopped by hand, so `unless-stopped` would leave HAProxy down after
# the next reboot (moby/moby#41302, #47792; seen in the sandbox with Docker 26.1).
readonly HAPROXY_RESTART_POLICY=always

start_haproxy_container() {
  docker run -d --name "$HAPROXY_CONTAINER" --restart "$HAPROXY_RESTART_POLICY" --network host --user root \
    --label "$CONTAINER_SPEC_LABEL=$1" "${HAPROXY_ENV_ARGS[@]}" \
    -v "$HAPROXY_DIR:$HAPROXY_DIR:ro" "$HAPROXY_IMAGE" >/dev/null
}

readonly HAPROXY_PREVIOUS=$HAPROXY_CONTAINER-previous

# The master says so once its listeners are bound and its first worker runs.
haproxy_loaded() {
  [[ $(docker logs "$HAPROXY_CONTAINER" 2>&1) == *"Loading success"* ]]
}

wait_for_haproxy_loaded() {
  local attempt
  for ((attempt = 0; attempt < 50; attempt++)); do
    if haproxy_loaded; then
      return 0
    fi
    container_running "$HAPROXY_CONTAINER" || return 1
    sleep 0.2
  done
  return 1
}

# HAProxy binds its ports with SO_REUSEPORT, so the new container listens beside the old one, and
# the old one gets its stop signal (SIGUSR1: stop listening, finish what it holds) only once the
# new one has loaded its configuration: no connection finds the ports closed.
start_haproxy_beside_previous() {
  local spec=$2 start=$3
  docker rename "$HAPROXY_CONTAINER" "$HAPROXY_PREVIOUS"
  if ! "$start" "$spec" || ! wait_for_haproxy_loaded; then
    docker logs --tail 20 "$HAPROXY_CONTAINER" 2>&1 | sed 's/^/  haproxy: /' || true
    docker rm -f "$HAPROXY_CONTAINER" >/dev/null 2>&1 || true
    docker rename "$HAPROXY_PREVIOUS" "$HAPROXY_CONTAINER"
    die "the new HAProxy container did not load its configuration within 10 s (see above); the previous one keeps serving"
  fi
  remove_container "$HAPROXY_PREVIOUS"
}

# A run killed between the two steps above leaves the previous container: it goes once the new one
# has the name, or takes its name back.
ensure_no_previous_haproxy() {
  if ! container_exists "$HAPROXY_PREVIOUS"; then
    return
  fi
  if container_exists "$HAPROXY_CONTAINER"; then
    remove_container "$HAPROXY_PREVIOUS"
    log "  removed the previous HAProxy container an interrupted run left"
  else
    docker rename "$HAPROXY_PREVIOUS" "$HAPROXY_CONTAINER"
    log "  gave the previous HAProxy container its name back"
  fi
}

# The container is recreated only for a new HAProxy version or system API, after the configuration
# passed that version's check with that environment; a new configuration or certificate is a
# graceful reload (SIGHUP to the master process), which keeps established connections.
ensure_haproxy_running() {
  local spec
  spec="$HAPROXY_IMAGE ${HAPROXY_ENVIRONMENT//$'\n'/ } restart=$HAPROXY_RESTART_POLICY $DOCKER_LOG_SPEC"
  ensure_no_previous_haproxy
  if container_exists "$HAPROXY_CONTAINER" && [[ $(container_spec "$HAPROXY_CONTAINER") != "$spec" ]]; then
    validate_haproxy_config "$HAPROXY_CFG_FILE" "HAProxy keeps running as it was"
  fi
  ensure_container "$HAPROXY_CONTAINER" "$spec" start_haproxy_container start_haproxy_beside_previous
  if [[ $CONTAINER_STATE == running && $HAPROXY_RELOAD == yes ]]; then
    docker kill -s HUP "$HAPROXY_CONTAINER" >/dev/null
    log "  reloaded HAProxy gracefully"
  fi
}

fetch_artifact() {
  local destination=$1 attempt status
  for attempt in 1 2 3; do
    status=$(curl --silent --show-error --location --proto '=https' --connect-timeout 10 \
      --speed-limit 1024 --speed-time 20 --max-time 900 \
      -H @<(printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN") \
      -H 'Accept: application/vnd.github+json' -H 'X-GitHub-Api-Version: 2022-11-28' \
      --write-out '%{http_code}' -o "$destination" "$ARTIFACT_URL") && [[ $status == 200 ]] && return 0
    case $status in
      401 | 403) die "GitHub refused the artifact (HTTP $status): githubToken is wrong, expired or lacks actions:read" ;;
      404 | 410) die "GitHub has no artifact at $ARTIFACT_URL (HTTP $status): it expired or flowProxyArtifact is wrong" ;;
    esac
    if ((attempt < 3)); then
      log "  artifact download failed (HTTP ${status:-none}, attempt $attempt of 3), next try in 5 s"
      sleep 5
    fi
  done
  die "could not download the artifact from $ARTIFACT_URL after 3 attempts; the installed flowproxy is untouched"
}

sha256_of() {
  sha256sum "$1" | cut -d ' ' -f 1
}

is_executable_format() {
  local magic
  magic=$(head -c 4 "$1" | od -A n -t x1 | tr -d ' \n')
  [[ $magic == 7f454c46 || $magic == 2321* ]]
}

# `flowproxy --version` of a build, run as nobody for 10 s at most: a new artifact runs here for the
# first time, before anything but its checksum was checked, and must not run as root.
flowproxy_version_of() {
  local binary=$1 dir output status=0
  dir=$(mktemp -d /run/flowproxy-version.XXXXXX)
  chmod 755 "$dir"
  install -m 755 "$binary" "$dir/flowproxy"
  output=$(timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups "$dir/flowproxy" --version 2>&1) || status=$?
  rm -rf "$dir"
  ((status == 0)) || die "flowproxy --version failed (status $status): ${output:0:200}"
  printf '%s' "$output"
}

# The system API generation of a FlowProxy build, from `flowproxy --version`, which clap prints as
# "flowproxy <version>-<git hash>" (src/cli.rs). 1.3.x serves an HTTP and a TCP system API side by
# side (SYSTEM_LISTEN_ADDR_TCP), a layout this stack does not set up.
check_flowproxy_generation() {
  local output version generation
  output=$(flowproxy_version_of "$1")
  version=${output##* }
  case $version in
    1.1.* | 1.2.*) generation=1 ;;
    2.*) generation=2 ;;
    1.3.*) die "flowproxy $version needs both an HTTP and a TCP system listener, which this stack does not configure; deploy a 1.2 build (flowProxyGeneration 1) or a 2.x build (flowProxyGeneration 2)" ;;
    *) die "flowproxy --version printed \"${output:0:120}\", not a FlowProxy 1.1, 1.2 or 2.x version; check flowProxyArtifact" ;;
  esac
  if [[ $generation != "$FLOWPROXY_GENERATION" ]]; then
    die "flowproxy $version speaks system API generation $generation, but flowProxyGeneration is $FLOWPROXY_GENERATION; set it with: pulumi config set flowproxy-staging:flowProxyGeneration $generation (nothing on this VM was changed)"
  fi
  log "  flowproxy $version (system API generation $generation)"
}

# Runs before any step that changes the VM: the build to run (installed, or downloaded from a new
# artifact) must exist, be an executable, match flowProxySha256 and speak the configured generation;
# otherwise the run stops with HAProxy and FlowProxy as they were. A new build waits in the run's
# scratch space for ensure_flowproxy_binary.
ensure_flowproxy_build_checked() {
  if [[ -x $FLOWPROXY_BIN && -f $ARTIFACT_MARKER ]] && [[ $(<"$ARTIFACT_MARKER") == "$ARTIFACT_WANTED $(sha256_of "$FLOWPROXY_BIN")" ]]; then
    check_flowproxy_generation "$FLOWPROXY_BIN"
    log "  flowproxy from this artifact is installed"
    return
  fi
  local work binary digest
  work=$(mktemp -d "$WORK_DIR/artifact.XXXXXX")
  fetch_artifact "$work/artifact.zip"
  unzip -tq "$work/artifact.zip" >/dev/null 2>&1 || die "the artifact is not a valid zip (truncated or corrupt download?)"
  unzip -q "$work/artifact.zip" -d "$work/content"
  binary=$(find "$work/content" -type f -name flowproxy -print -quit)
  [[ -n $binary ]] || die "the artifact holds no file named flowproxy"
  is_executable_format "$binary" || die "flowproxy in the artifact is not an executable (no ELF header or #! line)"
  digest=$(sha256_of "$binary")
  if [[ -n $FLOWPROXY_SHA256 && $digest != "$FLOWPROXY_SHA256" ]]; then
    die "flowproxy in the artifact has SHA-256 $digest, but flowProxySha256 pins $FLOWPROXY_SHA256"
  fi
  check_flowproxy_generation "$binary"
  FLOWPROXY_CANDIDATE=$binary
  FLOWPROXY_CANDIDATE_DIGEST=$digest
  log "  downloaded and checked flowproxy $digest"
}

# The checked build replaces the binary with a rename, so a failed or killed run leaves the running
# FlowProxy and its binary as they were.
ensure_flowproxy_binary() {
  if [[ -z $FLOWPROXY_CANDIDATE ]]; then
    log "  flowproxy from this artifact is installed"
    return
  fi
  if [[ -x $FLOWPROXY_BIN && $(sha256_of "$FLOWPROXY_BIN") == "$FLOWPROXY_CANDIDATE_DIGEST" ]]; then
    log "  the installed flowproxy already matches the artifact"
  else
    install -m 755 "$FLOWPROXY_CANDIDATE" "$FLOWPROXY_BIN.new"
    mv -f "$FLOWPROXY_BIN.new" "$FLOWPROXY_BIN"
    FLOWPROXY_RESTART=yes
    log "  installed flowproxy $FLOWPROXY_CANDIDATE_DIGEST"
  fi
  printf '%s %s' "$ARTIFACT_WANTED" "$FLOWPROXY_CANDIDATE_DIGEST" >"$ARTIFACT_MARKER"
}

ensure_foundry_installed() {
  if [[ -x $FOUNDRY_DIR/bin/cast ]]; then
    return
  fi
  local installer=$STATE_DIR/foundry-install.sh
  retry 3 10 "Foundry download" curl -fsSL --proto '=https' --max-time 120 https://foundry.paradigm.xyz -o "$installer" ||
    die "could not download Foundry's installer"
  # FOUNDRY_DIR is read-only in this script, so it reaches the installer through env, not a prefix.
  env FOUNDRY_DIR="$FOUNDRY_DIR" bash "$installer" >/dev/null
  retry 3 10 "foundryup" env FOUNDRY_DIR="$FOUNDRY_DIR" "$FOUNDRY_DIR/bin/foundryup" >/dev/null ||
    die "foundryup could not install cast"
}

# With signerKeySource=vm the key is made here once and never leaves the VM; it is read from
# cast's output through a pipe, so it never appears on a command line.
generate_signer_key_on_vm() {
  ensure_foundry_installed
  local output
  output=$("$FOUNDRY_DIR/bin/cast" wallet new)
  SIGNER_KEY_VALUE=$(awk '/^Private key:/ { print $3 }' <<<"$output")
  SIGNER_ADDRESS_VALUE=$(awk '/^Address:/ { print $2 }' <<<"$output")
  [[ $SIGNER_KEY_VALUE =~ ^0x[0-9a-fA-F]{64}$ && $SIGNER_ADDRESS_VALUE =~ ^0x[0-9a-fA-F]{40}$ ]] ||
    die "cast wallet new printed no key and address in the expected form"
  converge_file 600 "$SIGNER_KEY_FILE" "$SIGNER_KEY_VALUE"
  converge_file 644 "$SIGNER_ADDRESS_FILE" "$SIGNER_ADDRESS_VALUE"
  log "  generated a signer key on this VM for $SIGNER_ADDRESS_VALUE"
}

ensure_signer_key() {
  install -d -m 755 "$FLOWPROXY_CONFIG_DIR"
  if [[ $SIGNER_KEY_SOURCE == stack ]]; then
    SIGNER_KEY_VALUE=$SIGNER_KEY
    SIGNER_ADDRESS_VALUE=$SIGNER_ADDRESS
    log "  using the stack's signer key for $SIGNER_ADDRESS_VALUE"
  elif [[ -s $SIGNER_KEY_FILE && -s $SIGNER_ADDRESS_FILE ]]; then
    SIGNER_KEY_VALUE=$(<"$SIGNER_KEY_FILE")
    SIGNER_ADDRESS_VALUE=$(<"$SIGNER_ADDRESS_FILE")
    log "  kept this VM's signer key for $SIGNER_ADDRESS_VALUE"
  else
    generate_signer_key_on_vm
  fi
}

# FLOWPROXY_ENV already holds ClickHouse's host, database and backup path when ClickHouse is
# configured; the program sets the credentials exactly then, so the group is complete or absent.
flowproxy_environment() {
  printf '%s' "$FLOWPROXY_ENV"
  printf 'FLASHBOTS_ORDERFLOW_SIGNER=%s\n' "$SIGNER_KEY_VALUE"
  if [[ -n $CLICKHOUSE_USERNAME ]]; then
    printf 'CLICKHOUSE_USERNAME=%s\nCLICKHOUSE_PASSWORD=%s\n' "$CLICKHOUSE_USERNAME" "$CLICKHOUSE_PASSWORD"
  fi
}

ensure_flowproxy_config() {
  converge_file 644 "$FLOWPROXY_UNIT_FILE" "$FLOWPROXY_UNIT"
  if [[ $CHANGED == yes ]]; then
    systemctl daemon-reload
    FLOWPROXY_RESTART=yes
    log "  installed flowproxy@.service"
  fi
  converge_file 600 "$FLOWPROXY_ENV_FILE" "$(flowproxy_environment)"$'\n'
  if [[ $CHANGED == yes ]]; then
    FLOWPROXY_RESTART=yes
    log "  wrote $FLOWPROXY_ENV_FILE"
  fi
  if [[ $FLOWPROXY_RESTART == no ]]; then log "  unit and environment unchanged"; fi
}

registration_environment() {
  printf 'BUILDERHUB_ENDPOINT=%s\n' "$BUILDERHUB_ENDPOINT"
  printf 'SIGNER_ADDRESS=%s\n' "$SIGNER_ADDRESS_VALUE"
  printf 'CERTIFICATE_FILE=%s\n' "$SERVED_CERT_FILE"
  printf 'REGISTER_PATH=%s\n' "$REGISTER_PATH"
  printf 'BUILDERS_PATH=%s\n' "$BUILDERS_PATH"
}

# The hook that registers before every FlowProxy start, and its timer, which repairs a BuilderHub
# that forgot its registry; a changed timer is restarted by ensure_registration_timer.
ensure_registration_hook() {
  converge_timed_hook "$REGISTER_HOOK_FILE" "$REGISTRATION_HOOK" "$REGISTRATION_ENV_FILE" "$(registration_environment)"$'\n' \
    "$REGISTRATION_SERVICE" "$REGISTRATION_SERVICE_UNIT" "$REGISTRATION_TIMER" "$REGISTRATION_TIMER_UNIT"
  if [[ $UNITS_CHANGED == yes ]]; then
    REGISTRATION_TIMER_RESTART=yes
    log "  installed the registration hook and its timer"
  else
    log "  registration hook and timer unchanged"
  fi
}

# FlowProxy may only serve once BuilderHub lists its signer with the served certificate. Only an
# unreachable or refusing BuilderHub is retried: a conflicting entry stays until BuilderHub restarts.
ensure_registered_with_builderhub() {
  local attempt status
  for ((attempt = 1; attempt <= 5; attempt++)); do
    status=0
    "$REGISTER_HOOK_FILE" provisioning || status=$?
    if ((status == 0)); then
      return
    fi
    if ((status == REGISTRATION_LOCAL_PROBLEM)); then
      die "the registration hook cannot run on this VM (see above); $FLOWPROXY_SERVICE was not (re)started"
    fi
    if ((status == REGISTRATION_CONFLICT)); then
      die "BuilderHub lists $SIGNER_ADDRESS_VALUE with another certificate than HAProxy serves (see above); $FLOWPROXY_SERVICE was not (re)started"
    fi
    if ((attempt < 5)); then
      log "  BuilderHub registration failed (attempt $attempt of 5), next try in 10 s"
      sleep 10
    fi
  done
  die "BuilderHub at $BUILDERHUB_ENDPOINT did not take the registration after 5 attempts; $FLOWPROXY_SERVICE was not (re)started"
}

ensure_registration_timer() {
  ensure_unit_running "$REGISTRATION_TIMER" "$REGISTRATION_TIMER_RESTART"
}

url_answers() {
  curl -fsS --max-time 2 "$1" >/dev/null 2>&1
}

# wait_until_answers URL WHAT: FlowProxy takes a moment to listen, and HAProxy's health check a
# moment more to send it traffic.
wait_until_answers() {
  local attempt
  for ((attempt = 1; attempt <= 30; attempt++)); do
    if url_answers "$1"; then
      log "  $2 answers on $1"
      return 0
    fi
    sleep 1
  done
  return 1
}

ensure_flowproxy_running() {
  local unit=$FLOWPROXY_SERVICE
  ensure_unit_running "$unit" "$FLOWPROXY_RESTART"
  if ! wait_until_answers "$FLOWPROXY_LIVEZ_URL" "$unit"; then
    journalctl -u "$unit" -n 20 --no-pager | sed 's/^/  journal: /' || true
    die "$unit did not answer on $FLOWPROXY_LIVEZ_URL within 30 s"
  fi
  wait_until_answers "$SERVED_LIVEZ_URL" "HAProxy" ||
    die "HAProxy does not pass traffic to $unit within 30 s; see docker logs $HAPROXY_CONTAINER"
}

main() {
  provision \
    ensure_base_packages \
    ensure_flowproxy_build_checked \
    ensure_docker_configured \
    ensure_docker_running \
    ensure_docker_hub_login \
    ensure_tailscale_connected \
    ensure_haproxy_image \
    ensure_tls_certificate \
    ensure_haproxy_config \
    ensure_haproxy_running \
    ensure_flowproxy_binary \
    ensure_signer_key \
    ensure_flowproxy_config \
    ensure_registration_hook \
    ensure_registered_with_builderhub \
    ensure_flowproxy_running \
    ensure_registration_timer
}
