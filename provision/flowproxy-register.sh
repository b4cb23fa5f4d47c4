#!/bin/bash
# flowproxy-register: makes BuilderHub list this VM's FlowProxy signer together with the
# certificate HAProxy presents to peers, and says so when it cannot.
#
# Why it exists: FlowProxy registers itself at every start with its signer and no certificate, and
# BuilderHub's mock keeps the first registration of a signer until it restarts, when it forgets
# them all. So this runs before every start of flowproxy@ (ExecStartPre), from provisioning, and
# from flowproxy-registration.timer, which repairs a BuilderHub that lost its registry.
#
# Inputs, from /etc/flowproxy/registration.env (written by provisioning, no secrets; the variable
# FLOWPROXY_REGISTRATION_ENV names another file, for tests):
#   BUILDERHUB_ENDPOINT  BuilderHub's base URL, e.g. http://builderhub.flowproxy.internal:3000
#   SIGNER_ADDRESS       the 0x address FlowProxy signs orderflow with
#   CERTIFICATE_FILE     the PEM certificate HAProxy serves on :443 and :5544
#   REGISTER_PATH        BuilderHub's registration route
#   BUILDERS_PATH        BuilderHub's listing route
# Argument: who runs it (provisioning, timer; FlowProxy's start when absent), sent to BuilderHub as
# the user agent flowproxy-register/CALLER, so BuilderHub's log tells the callers apart.
# One attempt per run; callers retry. Exit status:
#   0  BuilderHub lists the signer with this certificate (registered now or before)
#   1  BuilderHub could not be asked or refused the registration: worth retrying
#   2  this VM's side is broken (its settings or certificate): provisioning must run again
#   3  BuilderHub lists the signer with something else: no retry helps until BuilderHub restarts
set -euo pipefail

readonly CONFIG_FILE=${FLOWPROXY_REGISTRATION_ENV:-/etc/flowproxy/registration.env}
readonly UNREACHABLE_STATUS=1
readonly LOCAL_STATUS=2
readonly CONFLICT_STATUS=3
readonly USER_AGENT="flowproxy-register/${1:-flowproxy-start}"

fail() {
  printf 'flowproxy-register: %s\n' "$2" >&2
  exit "$1"
}

# shellcheck source=provision/hook-settings.sh
source "${BASH_SOURCE[0]%/*}/hook-settings.sh"

load_config() {
  read_settings "$CONFIG_FILE" BUILDERHUB_ENDPOINT SIGNER_ADDRESS CERTIFICATE_FILE REGISTER_PATH BUILDERS_PATH ||
    fail "$LOCAL_STATUS" "$SETTINGS_PROBLEM"
}

served_certificate() {
  local pem
  pem=$(<"$CERTIFICATE_FILE") || fail "$LOCAL_STATUS" "cannot read $CERTIFICATE_FILE, the certificate HAProxy serves"
  [[ $pem == *"BEGIN CERTIFICATE"* ]] || fail "$LOCAL_STATUS" "$CERTIFICATE_FILE holds no PEM certificate"
  printf '%s' "$pem"
}

list_builders() {
  curl -fsS --max-time 10 --user-agent "$USER_AGENT" "$BUILDERHUB_ENDPOINT$BUILDERS_PATH" ||
    fail "$UNREACHABLE_STATUS" "BuilderHub at $BUILDERHUB_ENDPOINT does not answer $BUILDERS_PATH"
}

# Prints "absent", or the certificate BuilderHub hands to peers for our signer (possibly empty).
listed_certificate() {
  jq -r --arg address "${SIGNER_ADDRESS,,}" '
    [.[] | select((.orderflow_proxy.ecdsa_pubkey_address // "" | ascii_downcase) == $address)]
    | if length == 0 then "absent" else .[0].instance.tls_cert // "" end' ||
    fail "$UNREACHABLE_STATUS" "BuilderHub's $BUILDERS_PATH answer is not the expected JSON list"
}

register() {
  jq -n --arg cert "$1" --arg address "$SIGNER_ADDRESS" '{tls_cert: $cert, ecdsa_pubkey_address: $address}' |
    curl -fsS --max-time 10 --user-agent "$USER_AGENT" -X POST -H 'Content-Type: application/json' --data-binary @- \
      "$BUILDERHUB_ENDPOINT$REGISTER_PATH" >/dev/null ||
    fail "$UNREACHABLE_STATUS" "BuilderHub at $BUILDERHUB_ENDPOINT refused or did not answer the registration of $SIGNER_ADDRESS"
}

# Peers find us through instance.tls_cert; anything but the served certificate there means they
# either cannot reach us over TLS or trust a certificate we no longer present.
report_conflict() {
  local listed=$1
  if [[ -z $listed ]]; then
    fail "$CONFLICT_STATUS" "BuilderHub lists $SIGNER_ADDRESS without a certificate, so peers cannot reach this proxy over TLS. Either FlowProxy's own registration (it sends none) reached BuilderHub first, or mockhub runs without ENABLE_TLS=true. BuilderHub keeps a signer's first registration until it restarts: restart mockhub on vm-builderhub (sudo docker restart mockhub) and this VM registers again within a minute."
  fi
  fail "$CONFLICT_STATUS" "BuilderHub lists $SIGNER_ADDRESS with a certificate other than the one HAProxy serves ($CERTIFICATE_FILE), so peers reject this proxy. BuilderHub keeps a signer's first registration until it restarts: restart mockhub on vm-builderhub (sudo docker restart mockhub) and this VM registers again within a minute."
}

main() {
  load_config
  local certificate listed
  certificate=$(served_certificate)
  listed=$(list_builders | listed_certificate)
  if [[ $listed == absent ]]; then
    register "$certificate"
    listed=$(list_builders | listed_certificate)
    [[ $listed != absent ]] || fail "$UNREACHABLE_STATUS" "BuilderHub answered the registration of $SIGNER_ADDRESS but does not list it"
    if [[ $listed == "$certificate" ]]; then
      printf 'flowproxy-register: registered %s with the served certificate\n' "$SIGNER_ADDRESS"
      return
    fi
  fi
  if [[ $listed == "$certificate" ]]; then
    printf 'flowproxy-register: BuilderHub lists %s with the served certificate\n' "$SIGNER_ADDRESS"
    return
  fi
  report_conflict "$listed"
}

main "$@"
