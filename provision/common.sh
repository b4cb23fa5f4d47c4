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
#   DOCKER_HUB_USERNAME   dockerHubUsername, or empty to pull anonymously
#   DOCKER_HUB_TOKEN      dockerHubToken (secret), empty exactly when DOCKER_HUB_USERNAME is
: "${VM_NAME?}" "${TAILSCALE_AUTH_KEY?}" "${STATE_DIR?}" "${WORK_DIR?}" "${LAST_RUN_FILE?}" "${CONTAINER_SPEC_LABEL?}" \
  "${DOCKER_HUB_USERNAME?}" "${DOCKER_HUB_TOKEN?}"

# At first boot cloud-init and apt-daily may hold apt's locks for minutes. DPkg::Lock::Timeout makes
# apt-get wait for the dpkg locks only, not for the lists lock of `apt-get update` or the archives
# lock of a download, so every one of them is waited for, within this bound.
readonly APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
readonly APT_WAIT_SECONDS=600
# Without a timeout `tailscale up` waits forever for a key the tailnet refuses.
readonly TAILSCALE_UP_TIMEOUT=120s
# dockerd's own settings. live-restore keeps containers running while dockerd stops or restarts (an
# upgrade of docker.io, a crash), so HAProxy keeps serving and mockhub keeps its registry. Logs are
# bounded: json-file keeps `docker logs` as it was, at most 3 files of 10 MB per container. Log
# settings apply to containers created after them, so they are part of every container's spec.
# `docker run --init` runs init-path, named here because where docker.io puts its own docker-init
# differs between distributions; tini is installed with docker.io.
readonly DOCKER_DAEMON_JSON=/etc/docker/daemon.json
readonly DOCKER_DAEMON_CONFIG='{
  "init-path": "/usr/bin/tini-static",
  "live-restore": true,
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" }
}'
readonly DOCKER_LOG_SPEC="log=json-file,max-size=10m,max-file=3"
# Where the docker client keeps a login (HOME is /root, see provision), and Docker Hub's key in it.
readonly DOCKER_CLIENT_CONFIG=/root/.docker/config.json
readonly DOCKER_HUB_SERVER=https://index.docker.io/v1/
# Unattended upgrades of the Azure agent restart it, which kills the extension it is running
# (Azure/WALinuxAgent#582): the package is held while provisioning runs. The marker says the hold
# is provisioning's own, so a run killed before releasing it is released by the next run, and a hold
# an operator set is left alone.
readonly AGENT_PACKAGE=walinuxagent
readonly AGENT_HOLD_MARKER=$STATE_DIR/walinuxagent-held
AGENT_HOLD=none
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
  release_agent
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

# dockerd's settings (DOCKER_DAEMON_CONFIG), in place before docker.io is installed or started. A
# running dockerd first reloads (SIGHUP: live-restore is one of the settings it reloads), so that the
# restart the log settings need keeps every container running.
ensure_docker_configured() {
  if [[ -f $DOCKER_DAEMON_JSON ]] && printf '%s\n' "$DOCKER_DAEMON_CONFIG" | cmp -s - "$DOCKER_DAEMON_JSON"; then
    log "  $DOCKER_DAEMON_JSON unchanged"
    return
  fi
  install -d -m 755 "$(dirname "$DOCKER_DAEMON_JSON")"
  local tmp
  tmp=$(mktemp "$DOCKER_DAEMON_JSON.XXXXXX")
  printf '%s\n' "$DOCKER_DAEMON_CONFIG" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$DOCKER_DAEMON_JSON"
  if systemctl is-active --quiet docker; then
    systemctl reload docker || die "dockerd refused $DOCKER_DAEMON_JSON on reload; see journalctl -u docker"
    systemctl restart docker || die "dockerd did not restart with $DOCKER_DAEMON_JSON; see journalctl -u docker"
    log "  wrote $DOCKER_DAEMON_JSON; dockerd reloaded, then restarted with its containers running"
  else
    log "  wrote $DOCKER_DAEMON_JSON"
  fi
}

ensure_docker_running() {
  ensure_packages_installed docker.io tini
  if systemctl is-active --quiet docker; then
    log "  docker is active"
  else
    systemctl enable --now docker
    log "  docker started"
  fi
}

# docker_hub_login_current: the docker client holds exactly this login for Docker Hub. The
# comparison runs in bash: the token never becomes an argument of a command.
docker_hub_login_current() {
  local stored expected
  [[ -f $DOCKER_CLIENT_CONFIG ]] || return 1
  stored=$(<"$DOCKER_CLIENT_CONFIG")
  expected=$(printf '%s:%s' "$DOCKER_HUB_USERNAME" "$DOCKER_HUB_TOKEN" | base64 -w 0)
  [[ $stored == *"\"$DOCKER_HUB_SERVER\""*"\"auth\": \"$expected\""* ]]
}

docker_hub_logged_in() {
  [[ -f $DOCKER_CLIENT_CONFIG && $(<"$DOCKER_CLIENT_CONFIG") == *"\"$DOCKER_HUB_SERVER\""* ]]
}

# The token reaches docker on its standard input, never its command line; Docker's answer (never the
# token) is kept for the failure's reason.
docker_hub_login() {
  local output
  output=$(printf '%s' "$DOCKER_HUB_TOKEN" | docker login --username "$DOCKER_HUB_USERNAME" --password-stdin 2>&1) && return 0
  PULL_ERROR=${output##*$'\n'}
  # Docker Hub refused the account: another try is refused alike.
  if [[ $PULL_ERROR == *"incorrect username or password"* || $PULL_ERROR == *unauthorized* ]]; then RETRY_IS_FUTILE=yes; fi
  return 1
}

# Pulls count against the account when a login is configured, else against the VM's address, which
# Azure's default outbound access shares with other tenants.
ensure_docker_hub_login() {
  if [[ -z $DOCKER_HUB_USERNAME ]]; then
    if docker_hub_logged_in; then
      docker logout >/dev/null 2>&1 || die "docker logout failed; remove $DOCKER_HUB_SERVER from $DOCKER_CLIENT_CONFIG"
      log "  logged out of Docker Hub: dockerHubUsername is not set"
    else
      log "  pulls are anonymous: dockerHubUsername is not set"
    fi
    return
  fi
  if docker_hub_login_current; then
    log "  logged in to Docker Hub as $DOCKER_HUB_USERNAME"
    return
  fi
  retry 3 10 "docker login" docker_hub_login ||
    die "docker login to Docker Hub as $DOCKER_HUB_USERNAME failed: $PULL_ERROR; check dockerHubUsername and dockerHubToken (pulumi config set --secret flowproxy-staging:dockerHubToken TOKEN), then raise provisioningRun and run pulumi up"
  chmod 600 "$DOCKER_CLIENT_CONFIG"
  log "  logged in to Docker Hub as $DOCKER_HUB_USERNAME"
}

# Docker's last line of error output from the last failed pull, and whether it was Docker Hub's pull
# rate limit.
PULL_ERROR=""
PULL_RATE_LIMITED=no

# A tag or digest the registry does not know ("manifest unknown"), or refuses to this login ("pull access
# denied"), stays so however often we ask.
# Docker Hub's pull rate limit (HTTP 429, "toomanyrequests: You have reached your pull rate limit")
# counts over hours, so ten seconds later it still refuses; Docker Hub's shorter, overall limit answers
# a bare 429 without that message, and that is retried like any other failure.
pull_image() {
  local output
  output=$(docker pull "$1" 2>&1 >/dev/null) && return 0
  PULL_ERROR=${output##*$'\n'}
  if [[ $PULL_ERROR == *"manifest unknown"* || $PULL_ERROR == *"invalid reference format"* || $PULL_ERROR == *"pull access denied"* ]]; then
    RETRY_IS_FUTILE=yes
  elif [[ $PULL_ERROR == *toomanyrequests* || $PULL_ERROR == *"pull rate limit"* ]]; then
    PULL_RATE_LIMITED=yes
    RETRY_IS_FUTILE=yes
  fi
  return 1
}

# ensure_docker_image IMAGE HINT: IMAGE present, pulled if missing; HINT says how to fix a bad reference.
ensure_docker_image() {
  local image=$1 hint=$2 account=anonymous
  if docker image inspect --format '{{.Id}}' "$image" >/dev/null 2>&1; then
    log "  $image is present"
    return
  fi
  if [[ -n $DOCKER_HUB_USERNAME ]]; then account="as $DOCKER_HUB_USERNAME"; fi
  if ! retry 5 10 "docker pull $image" pull_image "$image"; then
    if [[ $PULL_RATE_LIMITED == yes ]]; then
      die "docker pull $image was refused by Docker Hub's pull rate limit (HTTP 429, pulls $account; Docker's words: $PULL_ERROR); log every VM in to Docker Hub with an account: pulumi config set flowproxy-staging:dockerHubUsername NAME and pulumi config set --secret flowproxy-staging:dockerHubToken TOKEN, or wait for the limit's window to pass, then raise provisioningRun and run pulumi up"
    fi
    if [[ $PULL_ERROR == *"pull access denied"* ]]; then
      die "docker pull $image failed: $PULL_ERROR; with a Docker Hub account set dockerHubUsername and dockerHubToken (pulumi config set --secret flowproxy-staging:dockerHubToken TOKEN), else $hint"
    fi
    die "docker pull $image failed: $PULL_ERROR; $hint"
  fi
  log "  pulled $image ($account)"
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

# converge_timed_hook HOOK_FILE HOOK ENV_FILE ENVIRONMENT SERVICE SERVICE_UNIT TIMER TIMER_UNIT:
# a hook script, its environment file and the service and timer that run it, as given. Sets
# UNITS_CHANGED=yes when either unit changed, after systemd has read them again, so that the caller
# restarts the timer; a changed hook or environment is read at the hook's next run.
converge_timed_hook() {
  local hook_file=$1 hook=$2 env_file=$3 environment=$4 service=$5 service_unit=$6 timer=$7 timer_unit=$8
  UNITS_CHANGED=no
  converge_file 755 "$hook_file" "$hook"
  converge_file 644 "$env_file" "$environment"
  converge_file 644 "$SYSTEMD_UNIT_DIR/$service" "$service_unit"
  if [[ $CHANGED == yes ]]; then UNITS_CHANGED=yes; fi
  converge_file 644 "$SYSTEMD_UNIT_DIR/$timer" "$timer_unit"
  if [[ $CHANGED == yes ]]; then UNITS_CHANGED=yes; fi
  if [[ $UNITS_CHANGED == yes ]]; then systemctl daemon-reload; fi
}

# ensure_unit_running UNIT RESTART: UNIT enabled and active; restarted when RESTART is yes.
ensure_unit_running() {
  local unit=$1 restart=$2
  if ! systemctl is-enabled --quiet "$unit"; then
    systemctl enable --quiet "$unit"
  fi
  if [[ $restart == yes ]] || ! systemctl is-active --quiet "$unit"; then
    systemctl restart "$unit" || die "$unit did not start; see journalctl -u $unit"
    log "  (re)started $unit"
  else
    log "  $unit is running with its current files"
  fi
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

agent_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$AGENT_PACKAGE" 2>/dev/null) == "install ok installed" ]]
}

agent_held() {
  [[ $(apt-mark showhold "$AGENT_PACKAGE" 2>/dev/null) == "$AGENT_PACKAGE" ]]
}

# hold_agent: keeps apt (unattended-upgrades) from upgrading the agent while this run lasts. A hold
# without the marker is the operator's, and stays theirs. Not being able to hold it (apt busy) does
# not stop the run: the hold only narrows a window.
hold_agent() {
  if ! agent_installed; then
    return
  fi
  if agent_held && [[ ! -f $AGENT_HOLD_MARKER ]]; then
    AGENT_HOLD=operator
    log "  $AGENT_PACKAGE is held already (not by provisioning); the hold stays"
    return
  fi
  # The marker first: a run killed right after the hold leaves it for the next run to release.
  : >"$AGENT_HOLD_MARKER"
  if apt-mark hold "$AGENT_PACKAGE" >/dev/null 2>&1; then
    AGENT_HOLD=provisioning
    log "  held $AGENT_PACKAGE while provisioning runs (Azure/WALinuxAgent#582)"
  else
    rm -f "$AGENT_HOLD_MARKER"
    log "  could not hold $AGENT_PACKAGE (apt busy?); going on without the hold"
  fi
}

# release_agent: releases provisioning's own hold, whatever the run's outcome (the EXIT trap).
release_agent() {
  if [[ $AGENT_HOLD != provisioning ]]; then
    return 0
  fi
  if apt-mark unhold "$AGENT_PACKAGE" >/dev/null 2>&1; then
    rm -f "$AGENT_HOLD_MARKER"
    log "  released the hold on $AGENT_PACKAGE"
  else
    log "  could not release the hold on $AGENT_PACKAGE; the next run releases it"
  fi
}

# provision STEP...: the entry point of every role.
provision() {
  trap finish_run EXIT
  # The extension runs without HOME (Azure/custom-script-extension-linux#97); Foundry's installer
  # (under set -u) and the docker client read it.
  export HOME=${HOME:-/root}
  install -d -m 700 "$STATE_DIR"
  record_last_run running "provisioning of $VM_NAME started" || die "cannot write $LAST_RUN_FILE"
  hold_agent
  rm -rf "$WORK_DIR"
  install -d -m 700 "$WORK_DIR"
  log "provisioning $VM_NAME"
  run_steps "$@"
}
