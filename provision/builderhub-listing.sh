#!/bin/bash
# builderhub-listing: tells Prometheus whether BuilderHub lists each FlowProxy VM of the stack, and
# whether it lists the certificate that proxy presents (monitoring on).
#
# Why it exists: a proxy BuilderHub does not list gets no system flow, and one listed with another
# certificate than it presents is refused by its peers' TLS; neither shows in FlowProxy's own
# metrics. BuilderHub lists builders at BUILDERS_URL (mockhub's GET /builders), each with dns_name,
# the address it registered from, and instance.tls_cert, the certificate its peers verify. This
# compares them with FLEET_FILE and with the certificate each proxy's HAProxy presents on the system
# port, and writes the result where the node exporter's textfile collector serves it.
#
# Inputs, from /etc/flowproxy-monitoring/listing.env (written by provisioning, no secrets; the
# variable BUILDERHUB_LISTING_ENV names another file, for tests):
#   FLEET_FILE     the stack's FlowProxy VMs, "<VM name> <private IP>" a line
#   BUILDERS_URL   mockhub's listing, asked on the VM's loopback
#   SYSTEM_PORT    the port every proxy presents its certificate on (HAProxy's system frontend)
#   TEXTFILE_DIR   the textfile collector's directory
# Output, one series per VM of the fleet, labelled vm:
#   flowproxy_staging_builderhub_listed                1 when BuilderHub lists the VM's address, else 0
#   flowproxy_staging_builderhub_certificate_matches   for a listed VM that presents a certificate: 1
#                                                       when BuilderHub lists that certificate, else 0
# Exit status: 0 when the result was written (BuilderHub not answering counts every VM unlisted).
set -euo pipefail

readonly CONFIG_FILE=${BUILDERHUB_LISTING_ENV:-/etc/flowproxy-monitoring/listing.env}
readonly SETTINGS=(FLEET_FILE BUILDERS_URL SYSTEM_PORT TEXTFILE_DIR)
readonly PROBE_SECONDS=5

fail() {
  printf 'builderhub-listing: %s\n' "$1" >&2
  exit 1
}

# shellcheck source=provision/hook-settings.sh
source "${BASH_SOURCE[0]%/*}/hook-settings.sh"

load_config() {
  read_settings "$CONFIG_FILE" "${SETTINGS[@]}" || fail "$SETTINGS_PROBLEM"
  [[ -r $FLEET_FILE ]] || fail "$FLEET_FILE is missing; rerun provisioning (pulumi up)"
}

# The certificate the proxy at $1 presents on the system port, as PEM; empty when it does not answer.
presented_certificate() {
  timeout "$PROBE_SECONDS" openssl s_client -connect "$1:$SYSTEM_PORT" </dev/null 2>/dev/null |
    openssl x509 2>/dev/null || true
}

# A PEM certificate reduced to its DER's SHA-256, so line breaks and headers do not count.
fingerprint() {
  openssl x509 -noout -fingerprint -sha256 2>/dev/null <<<"$1" || true
}

# Metric lines for one VM: $1 its name, $2 its address, $3 BuilderHub's listing (JSON, may be empty).
vm_series() {
  local listed_cert presented
  if [[ -z $3 ]] || ! jq -e --arg a "$2" 'any(.[]; .dns_name == $a)' <<<"$3" >/dev/null; then
    printf 'flowproxy_staging_builderhub_listed{vm="%s"} 0\n' "$1"
    return
  fi
  printf 'flowproxy_staging_builderhub_listed{vm="%s"} 1\n' "$1"
  presented=$(presented_certificate "$2")
  if [[ -z $presented ]]; then return; fi
  listed_cert=$(jq -r --arg a "$2" '[.[] | select(.dns_name == $a) | .instance.tls_cert][0] // ""' <<<"$3")
  if [[ -n $listed_cert && $(fingerprint "$listed_cert") == "$(fingerprint "$presented")" ]]; then
    printf 'flowproxy_staging_builderhub_certificate_matches{vm="%s"} 1\n' "$1"
  else
    printf 'flowproxy_staging_builderhub_certificate_matches{vm="%s"} 0\n' "$1"
  fi
}

main() {
  load_config
  local listing name address series=()
  listing=$(curl -fsS --max-time 10 --user-agent builderhub-listing "$BUILDERS_URL") || listing=""
  if [[ -n $listing ]] && ! jq -e 'type == "array"' <<<"$listing" >/dev/null 2>&1; then listing=""; fi
  while read -r name address; do
    if [[ -n $name && -n $address ]]; then mapfile -t -O "${#series[@]}" series < <(vm_series "$name" "$address" "$listing"); fi
  done <"$FLEET_FILE"
  local out="$TEXTFILE_DIR/builderhub-listing.prom"
  local tmp="$out.$$"
  {
    printf '# HELP flowproxy_staging_builderhub_listed 1 when BuilderHub lists the VM at its private address.\n'
    printf '# TYPE flowproxy_staging_builderhub_listed gauge\n'
    printf '%s\n' "${series[@]}" | grep '^flowproxy_staging_builderhub_listed' || true
    printf '# HELP flowproxy_staging_builderhub_certificate_matches 1 when BuilderHub lists the certificate the VM presents on its system port.\n'
    printf '# TYPE flowproxy_staging_builderhub_certificate_matches gauge\n'
    printf '%s\n' "${series[@]}" | grep '^flowproxy_staging_builderhub_certificate_matches' || true
  } >"$tmp"
  # The collector reads whole files only: a rename never shows it half a file.
  chmod 644 "$tmp"
  mv -f "$tmp" "$out"
}

main "$@"
