# The FlowProxy role: HAProxy in Docker in front of FlowProxy under systemd, registered with
# BuilderHub. Each step converges on the state it names; reloads and restarts happen only when
# something they depend on changed.

readonly HAPROXY_DIR=/usr/local/etc/haproxy
readonly HAPROXY_PEM=$HAPROXY_DIR/certs/flowproxy.pem
readonly PUBLIC_CERT=$HAPROXY_DIR/static/le.cer
readonly FLOWPROXY_BIN=/usr/local/bin/flowproxy
readonly FLOWPROXY_ENV_FILE=/etc/flowproxy/flowproxy.env
readonly FLOWPROXY_UNIT_FILE=/etc/systemd/system/flowproxy@.service
readonly SIGNER_KEY_FILE=/etc/flowproxy/signer.key
readonly SIGNER_ADDRESS_FILE=/etc/flowproxy/signer.address
readonly FOUNDRY_DIR=/opt/foundry
readonly PUBLIC_CERT_URL=http://127.0.0.1:14727/
# The user-flow frontend of haproxy.cfg (:80): provisioning ends only when traffic flows through it.
readonly SERVED_LIVEZ_URL=http://127.0.0.1/livez
readonly REGISTER_PATH=/api/l1-builder/v1/register_credentials/orderflow_proxy
readonly BUILDERS_PATH=/api/l1-builder/v1/builders

HAPROXY_RELOAD=no
FLOWPROXY_RESTART=no
SIGNER_KEY_VALUE=""
SIGNER_ADDRESS_VALUE=""

# converge_file MODE PATH CONTENT: replaces PATH atomically when its content or mode differs and
# sets CHANGED to yes or no. The temporary file is created 0600, so a secret is never exposed.
converge_file() {
  local mode=$1 target=$2 content=$3 tmp
  if [[ -f $target ]] && [[ $(stat -c %a "$target") == "$mode" ]] && printf '%s' "$content" | cmp -s - "$target"; then
    CHANGED=no
    return
  fi
  tmp=$(mktemp "$target.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
  CHANGED=yes
}

ensure_base_packages() {
  ensure_packages_installed curl ca-certificates openssl unzip jq
}

ensure_haproxy_image() {
  ensure_docker_image "$HAPROXY_IMAGE"
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
  converge_file 644 "$PUBLIC_CERT" "$(openssl x509 -in "$HAPROXY_PEM")"$'\n'
  if [[ $CHANGED == yes ]]; then HAPROXY_RELOAD=yes; fi
}

validate_haproxy_config() {
  docker run --rm --network none --user root -v "$HAPROXY_DIR:$HAPROXY_DIR:ro" "$HAPROXY_IMAGE" \
    haproxy -c -f "$1" >"$STATE_DIR/haproxy-check.log" 2>&1
}

# A new file is checked by the HAProxy of the target image before it replaces the running one.
ensure_haproxy_config() {
  local live=$HAPROXY_DIR/haproxy.cfg candidate=$HAPROXY_DIR/haproxy.cfg.candidate
  if [[ -f $live ]] && printf '%s' "$HAPROXY_CFG" | cmp -s - "$live"; then
    log "  haproxy.cfg unchanged"
    return
  fi
  converge_file 644 "$candidate" "$HAPROXY_CFG"
  if ! validate_haproxy_config "$candidate"; then
    sed 's/^/  haproxy: /' "$STATE_DIR/haproxy-check.log" | tail -n 20
    rm -f "$candidate"
    die "the new haproxy.cfg is invalid for $HAPROXY_IMAGE (see above); HAProxy keeps running the previous one"
  fi
  mv -f "$candidate" "$live"
  HAPROXY_RELOAD=yes
  log "  installed a new haproxy.cfg (validated)"
}

start_haproxy_container() {
  docker run -d --name haproxy --restart unless-stopped --network host --user root \
    -v "$HAPROXY_DIR:$HAPROXY_DIR:ro" "$HAPROXY_IMAGE" >/dev/null
}

# The container is recreated only for a new HAProxy version, after the configuration passed that
# version's check; a new configuration or certificate is a graceful reload (SIGHUP to the master
# process), which keeps established connections.
ensure_haproxy_running() {
  local image
  image=$(container_image haproxy)
  if [[ -n $image && $image != "$HAPROXY_IMAGE" ]]; then
    validate_haproxy_config "$HAPROXY_DIR/haproxy.cfg" ||
      die "haproxy.cfg is invalid for $HAPROXY_IMAGE; HAProxy keeps running $image"
  fi
  ensure_container haproxy "$HAPROXY_IMAGE" start_haproxy_container
  if [[ $CONTAINER_STATE == running && $HAPROXY_RELOAD == yes ]]; then
    docker kill -s HUP haproxy >/dev/null
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

# The binary is replaced only by a complete, checked download, with a rename, so a failed or
# corrupt artifact leaves the running FlowProxy and its binary as they were.
ensure_flowproxy_binary() {
  local marker=$STATE_DIR/artifact wanted="$ARTIFACT_URL ${FLOWPROXY_SHA256:-unpinned}"
  if [[ -x $FLOWPROXY_BIN && -f $marker ]] && [[ $(<"$marker") == "$wanted $(sha256_of "$FLOWPROXY_BIN")" ]]; then
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
  if [[ -x $FLOWPROXY_BIN && $(sha256_of "$FLOWPROXY_BIN") == "$digest" ]]; then
    log "  the installed flowproxy already matches the artifact"
  else
    install -m 755 "$binary" "$FLOWPROXY_BIN.new"
    mv -f "$FLOWPROXY_BIN.new" "$FLOWPROXY_BIN"
    FLOWPROXY_RESTART=yes
    log "  installed flowproxy $digest"
  fi
  printf '%s %s' "$wanted" "$digest" >"$marker"
  rm -rf "$work"
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
  install -d -m 755 /etc/flowproxy
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

served_certificate() {
  curl -fsS --max-time 5 "$PUBLIC_CERT_URL"
}

registration_is_current() {
  curl -fsS --max-time 10 "$BUILDERHUB_ENDPOINT$BUILDERS_PATH" |
    jq -e --arg address "$SIGNER_ADDRESS_VALUE" --arg cert "$1" \
      'any(.[]; (.orderflow_proxy.ecdsa_pubkey_address | ascii_downcase) == ($address | ascii_downcase)
                and .orderflow_proxy.tls_cert == $cert)' >/dev/null
}

register_once() {
  local cert
  cert=$(served_certificate) && [[ $cert == *"BEGIN CERTIFICATE"* ]] || return 1
  if registration_is_current "$cert"; then
    log "  BuilderHub already lists $SIGNER_ADDRESS_VALUE with the served certificate"
    return 0
  fi
  jq -n --arg cert "$cert" --arg address "$SIGNER_ADDRESS_VALUE" \
    '{tls_cert: $cert, ecdsa_pubkey_address: $address}' |
    curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' --data-binary @- \
      "$BUILDERHUB_ENDPOINT$REGISTER_PATH" >/dev/null &&
    log "  registered $SIGNER_ADDRESS_VALUE and the served certificate"
}

# FlowProxy may only serve once BuilderHub knows its certificate and signer.
ensure_registered_with_builderhub() {
  retry 5 10 "BuilderHub registration" register_once ||
    die "BuilderHub at $BUILDERHUB_ENDPOINT did not take the registration after 5 attempts; flowproxy@$VM_NAME was not (re)started"
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
  local unit=flowproxy@$VM_NAME.service
  if ! systemctl is-enabled --quiet "$unit"; then
    systemctl enable --quiet "$unit"
  fi
  if [[ $FLOWPROXY_RESTART == yes ]] || ! systemctl is-active --quiet "$unit"; then
    systemctl restart "$unit"
    log "  (re)started $unit"
  else
    log "  $unit is running the current binary and configuration"
  fi
  if ! wait_until_answers "$FLOWPROXY_LIVEZ_URL" "$unit"; then
    journalctl -u "$unit" -n 20 --no-pager | sed 's/^/  journal: /' || true
    die "$unit did not answer on $FLOWPROXY_LIVEZ_URL within 30 s"
  fi
  wait_until_answers "$SERVED_LIVEZ_URL" "HAProxy" ||
    die "HAProxy does not pass traffic to $unit within 30 s; see docker logs haproxy"
}

main() {
  provision \
    ensure_base_packages \
    ensure_docker_running \
    ensure_tailscale_connected \
    ensure_haproxy_image \
    ensure_tls_certificate \
    ensure_haproxy_config \
    ensure_haproxy_running \
    ensure_flowproxy_binary \
    ensure_signer_key \
    ensure_flowproxy_config \
    ensure_registered_with_builderhub \
    ensure_flowproxy_running
}
