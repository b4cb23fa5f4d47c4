# Steps shared by every VM. The program places this after the VM's settings and before its role.
# Nothing here traces commands or prints a value that could be secret: the last 4 KiB of stdout
# and stderr end up in the extension status, which any Reader of the subscription can see.
#
# Inputs, rendered by the program as read-only variables above this file (lib/provision.ts):
#   VM_NAME               the VM's name, as Azure and the private DNS zone know it
#   TAILSCALE_AUTH_KEY    tailscaleAuthKey (secret), or empty to stay off the tailnet
#   STATE_DIR             provisioning's own state on the VM
#   WORK_DIR              one run's scratch space: removed when the script exits, and again when
#                         the next run starts, since a killed run cannot clean up after itself
#   LAST_RUN_FILE         what the last run did, for `pnpm run verify` (read over SSH): "running"
#                         from the start, then the exit status and last line; nothing secret
#   CONTAINER_SPEC_LABEL  the Docker label holding the settings a container was started with
: "${VM_NAME?}" "${TAILSCALE_AUTH_KEY?}" "${STATE_DIR?}" "${WORK_DIR?}" "${LAST_RUN_FILE?}" "${CONTAINER_SPEC_LABEL?}"

# At first boot cloud-init and apt-daily may hold apt's locks for minutes. DPkg::Lock::Timeout makes
# apt-get wait for the dpkg locks only, not for the lists lock of `apt-get update` or the archives
# lock of a download, so every one of them is waited for, within this bound.
readonly APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
readonly APT_WAIT_SECONDS=600
# Without a timeout `tailscale up` waits forever for a key the tailnet refuses.
readonly TAILSCALE_UP_TIMEOUT=120s
STEP_NUMBER=0
STEP_COUNT=0
STEP_NAME=""
FAILURE_REASON=""
# The line a successful run ends with.
RESULT_LINE=""

log() {
  printf '%s\n' "$*"
}

# failure_line STATUS: what went wrong, naming the step as the progress lines do.
failure_line() {
  printf 'FAILED: %s, step %d/%d (%s): %s' "$VM_NAME" "$STEP_NUMBER" "$STEP_COUNT" "${STEP_NAME//_/ }" \
    "${FAILURE_REASON:-a command exited with status $1}"
}

# report_failure [STATUS]: the extension status shows stdout and stderr separately; the reason for a
# failure goes to both so the last line of either says what went wrong. STATUS defaults to the
# status the script is exiting with, so it serves as an EXIT trap by itself.
report_failure() {
  local status=${1:-$?}
  if ((status != 0)); then
    local line
    line=$(failure_line "$status")
    printf '%s\n' "$line"
    printf '%s\n' "$line" >&2
  fi
}

# record_last_run STATUS LINE: replaces LAST_RUN_FILE in one rename, so a reader never sees half of
# it. The handler runs the script in its download directory, where stdout and stderr are kept.
record_last_run() {
  local tmp
  tmp=$(mktemp "$LAST_RUN_FILE.XXXXXX") &&
    printf 'status=%s\nat=%s\ndir=%s\nline=%s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PWD" "${2//$'\n'/ }" >"$tmp" &&
    mv -f "$tmp" "$LAST_RUN_FILE"
}

# The EXIT trap of a run: its outcome recorded for `pnpm run verify`, then the failure line, which
# must stay the last line of the output, and no scratch space left behind.
finish_run() {
  local status=$?
  if ((status == 0)); then
    record_last_run 0 "$RESULT_LINE"
  else
    record_last_run "$status" "$(failure_line "$status")"
  fi || log "could not record this run's outcome in $LAST_RUN_FILE"
  report_failure "$status"
  rm -rf "$WORK_DIR"
}

die() {
  FAILURE_REASON=$*
  exit 1
}

now_ms() {
  local micros=${EPOCHREALTIME/./}
  printf '%d' $((micros / 1000))
}

run_steps() {
  STEP_COUNT=$#
  local started total_started
  total_started=$(now_ms)
  for STEP_NAME in "$@"; do
    STEP_NUMBER=$((STEP_NUMBER + 1))
    started=$(now_ms)
    log "[$STEP_NUMBER/$STEP_COUNT] ${STEP_NAME//_/ }"
    "$STEP_NAME"
    log "[$STEP_NUMBER/$STEP_COUNT] done in $(seconds_since "$started") s"
  done
  STEP_NAME=finished
  RESULT_LINE="provisioning of $VM_NAME converged in $(seconds_since "$total_started") s"
  log "$RESULT_LINE"
}

seconds_since() {
  local elapsed=$(($(now_ms) - $1))
  printf '%d.%03d' $((elapsed / 1000)) $((elapsed % 1000))
}

# retry ATTEMPTS DELAY WHAT COMMAND...: for network steps only. COMMAND runs in a condition, where
# errexit is off, so retried functions chain their commands with && themselves. A COMMAND that
# knows another try cannot help (the registry has no such tag) sets RETRY_IS_FUTILE=yes and fails.
retry() {
  local attempts=$1 delay=$2 what=$3 attempt
  shift 3
  RETRY_IS_FUTILE=no
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if "$@"; then
      return 0
    fi
    if [[ $RETRY_IS_FUTILE == yes ]]; then
      log "  $what failed; trying again cannot help"
      return 1
    fi
    if ((attempt < attempts)); then
      log "  $what failed (attempt $attempt of $attempts), next try in ${delay} s"
      sleep "$delay"
    fi
  done
  log "  $what failed $attempts times"
  return 1
}

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}

# lock_id FILE: how /proc/locks names FILE: device major:minor in hex, then the inode.
lock_id() {
  local dev ino
  read -r dev ino < <(stat -c '%d %i' "$1" 2>/dev/null) || return 1
  printf '%02x:%02x:%d' $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & 0xfff00))) "$ino"
}

# held_lock FILE...: prints the first FILE some process holds a lock on. apt and dpkg lock with
# fcntl(2), which flock(1) cannot see; the kernel lists every lock in /proc/locks.
held_lock() {
  local file id
  for file in "$@"; do
    id=$(lock_id "$file") || continue
    if grep -q " $id " /proc/locks; then
      printf '%s' "$file"
      return 0
    fi
  done
  return 1
}

# wait_for_locks SECONDS FILE...: returns once no process holds a lock on any FILE, or fails the
# step naming the lock after SECONDS.
wait_for_locks() {
  local started deadline held waited_for=""
  started=$(now_ms)
  deadline=$((started + $1 * 1000))
  shift
  while held=$(held_lock "$@"); do
    if [[ -z $waited_for ]]; then
      log "  waiting for $held, which another apt or dpkg run holds"
      waited_for=$held
    fi
    if (($(now_ms) >= deadline)); then
      die "$held was still locked after $(seconds_since "$started") s (cloud-init or apt-daily still running?); once it is free, raise provisioningRun and run pulumi up"
    fi
    sleep 1
  done
  if [[ -n $waited_for ]]; then log "  apt's locks are free after $(seconds_since "$started") s"; fi
}

# wait_for_apt: cloud-init's own package steps end first, then apt's locks are free, within
# APT_WAIT_SECONDS in all.
wait_for_apt() {
  local started=$SECONDS status=0
  if command -v cloud-init >/dev/null; then
    timeout "$APT_WAIT_SECONDS" cloud-init status --wait >/dev/null 2>&1 || status=$?
    # Other non-zero statuses mean cloud-init ended with errors or warnings: not a reason to stop.
    if ((status == 124)); then
      die "cloud-init was still running after $APT_WAIT_SECONDS s; see /var/log/cloud-init-output.log"
    fi
  fi
  wait_for_locks $((APT_WAIT_SECONDS - (SECONDS - started))) "${APT_LOCKS[@]}"
}

apt_get_when_free() {
  wait_for_apt && apt_get "$@"
}

missing_packages() {
  local package
  for package in "$@"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
      printf '%s\n' "$package"
    fi
  done
}

ensure_packages_installed() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    log "  present: $*"
    return
  fi
  log "  installing: ${missing[*]}"
  retry 5 10 "apt-get update" apt_get_when_free update ||
    die "apt-get update failed; check the VM's outbound access to the Ubuntu mirrors"
  retry 5 10 "apt-get install" apt_get_when_free install -y --no-install-recommends "${missing[@]}" ||
    die "could not install ${missing[*]} from the distribution's packages"
}

ensure_docker_running() {
  if ! command -v docker >/dev/null; then
    ensure_packages_installed docker.io
  fi
  if systemctl is-active --quiet docker; then
    log "  docker is active"
  else
    systemctl enable --now docker
    log "  docker started"
  fi
}

# Docker's last line of error output from the last failed pull.
PULL_ERROR=""

# A tag or digest the registry does not know ("manifest unknown") stays unknown however often we ask.
pull_image() {
  local output
  output=$(docker pull "$1" 2>&1 >/dev/null) && return 0
  PULL_ERROR=${output##*$'\n'}
  if [[ $PULL_ERROR == *"manifest unknown"* || $PULL_ERROR == *"invalid reference format"* ]]; then
    RETRY_IS_FUTILE=yes
  fi
  return 1
}

# ensure_docker_image IMAGE HINT: IMAGE present, pulled if missing; HINT says how to fix a bad reference.
ensure_docker_image() {
  local image=$1 hint=$2
  if docker image inspect --format '{{.Id}}' "$image" >/dev/null 2>&1; then
    log "  $image is present"
    return
  fi
  retry 5 10 "docker pull $image" pull_image "$image" ||
    die "docker pull $image failed: $PULL_ERROR; $hint"
  log "  pulled $image"
}

# Containers carry the settings they were started with (image and environment) in
# CONTAINER_SPEC_LABEL, so a changed setting, not only a changed image, recreates them.
container_spec() {
  docker inspect --format "{{index .Config.Labels \"$CONTAINER_SPEC_LABEL\"}}" "$1" 2>/dev/null || true
}

container_exists() {
  docker inspect --format '{{.Id}}' "$1" >/dev/null 2>&1
}

container_running() {
  [[ $(docker inspect --format '{{.State.Running}}' "$1" 2>/dev/null || true) == true ]]
}

# remove_container NAME: stopped with its image's stop signal, so requests in flight finish, then removed.
remove_container() {
  docker stop "$1" >/dev/null
  docker rm "$1" >/dev/null
}

# stop_then_start NAME SPEC START: the plain way to replace a container: the new one takes the
# ports the old one freed.
stop_then_start() {
  remove_container "$1"
  "$3" "$2"
}

# ensure_container NAME SPEC START [REPLACE]: runs container NAME with settings SPEC (START SPEC
# starts it and labels it with SPEC), recreating it only when its label differs, by REPLACE NAME
# SPEC START (stop_then_start unless given). Sets CONTAINER_STATE to started, replaced, restarted
# or running.
ensure_container() {
  local name=$1 spec=$2 start=$3 replace=${4:-stop_then_start}
  if ! container_exists "$name"; then
    "$start" "$spec"
    CONTAINER_STATE=started
  elif [[ $(container_spec "$name") != "$spec" ]]; then
    "$replace" "$name" "$spec" "$start"
    CONTAINER_STATE=replaced
  elif ! container_running "$name"; then
    docker start "$name" >/dev/null
    CONTAINER_STATE=restarted
  else
    CONTAINER_STATE=running
  fi
  log "  $name: $CONTAINER_STATE ($spec)"
}

# The installer runs apt-get itself.
install_tailscale() {
  curl -fsSL --proto '=https' --max-time 120 https://tailscale.com/install.sh -o "$STATE_DIR/tailscale-install.sh" &&
    wait_for_apt &&
    sh "$STATE_DIR/tailscale-install.sh"
}

ensure_tailscale_connected() {
  if [[ -z $TAILSCALE_AUTH_KEY ]]; then
    log "  skipped: tailscaleAuthKey is not set"
    return
  fi
  if ! command -v tailscale >/dev/null; then
    retry 3 10 "Tailscale install" install_tailscale || die "could not install Tailscale"
  fi
  if tailscale status >/dev/null 2>&1; then
    # An earlier run may have joined with the tailnet's DNS; the VM's own resolver must stay.
    tailscale set --accept-dns=false || die "tailscale set --accept-dns=false failed"
    log "  already on the tailnet"
    return
  fi
  # The key travels in a 0600 file, never on a command line that ps would show.
  local key_file
  key_file=$(mktemp "$WORK_DIR/tailscale-key.XXXXXX")
  printf '%s' "$TAILSCALE_AUTH_KEY" >"$key_file"
  # With the tailnet's DNS (the default) the VM's resolver is replaced and *.flowproxy.internal,
  # which Azure's resolver serves, stops resolving.
  if ! tailscale up --auth-key="file:$key_file" --hostname="$VM_NAME" --ssh --accept-dns=false --timeout="$TAILSCALE_UP_TIMEOUT"; then
    rm -f "$key_file"
    die "tailscale up failed or did not join within $TAILSCALE_UP_TIMEOUT; check tailscaleAuthKey (expired, or not reusable and already used by another VM?)"
  fi
  rm -f "$key_file"
  log "  joined the tailnet as $VM_NAME"
}

# provision STEP...: the entry point of every role.
provision() {
  trap finish_run EXIT
  # The extension runs without HOME (Azure/custom-script-extension-linux#97); Foundry's installer
  # (under set -u) and the docker client read it.
  export HOME=${HOME:-/root}
  install -d -m 700 "$STATE_DIR"
  record_last_run running "provisioning of $VM_NAME started" || die "cannot write $LAST_RUN_FILE"
  rm -rf "$WORK_DIR"
  install -d -m 700 "$WORK_DIR"
  log "provisioning $VM_NAME"
  run_steps "$@"
}
