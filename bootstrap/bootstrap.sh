#!/usr/bin/env bash
# Prepares a fresh Debian machine for this project: the Debian packages the tests and the sandbox
# use, pnpm, and the locked npm dependencies. Safe to run again; it installs only what is missing.
set -euo pipefail

readonly DEBIAN_PACKAGES=(
  shellcheck        # lints the rendered provisioning scripts
  systemd-container # systemd-nspawn boots the sandbox VMs
  debootstrap       # builds the sandbox VM image
  mmdebstrap        # extracts Debian packages and their dependencies into the sandbox's Docker images' layers
  umoci             # makes those layers and their config an OCI image
  skopeo            # pushes those images into the sandbox's Docker Hub registry, as Docker's schema 2
  debian-archive-keyring # verifies the packages of that image and of the sandbox's Docker images
  dnsmasq-base      # the sandbox's private DNS
  iproute2          # namespaces, bridges and veth pairs
  nftables          # the VMs' NSG rules, inside their own namespaces only (sandbox/networks/nsg.ts)
  openssh-client    # the sandbox's key pair and the suite's logins to its VMs
  iputils-ping      # ICMP through the sandbox's NSGs
  unzip             # the FlowProxy artifact double's tests
  wrk               # HAProxy data-path benchmark
  sslscan           # TLS scan in the reliability report
  prometheus        # promtool runs the alert rules' tests (monitoring/alerts.test.yml)
  curl ca-certificates
)

missing_debian_packages() {
  local package
  for package in "${DEBIAN_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
      printf '%s\n' "$package"
    fi
  done
}

ensure_debian_packages() {
  local missing
  mapfile -t missing < <(missing_debian_packages)
  if ((${#missing[@]} == 0)); then
    return
  fi
  if ((EUID != 0)); then
    echo "bootstrap: missing Debian packages: ${missing[*]}; run this as root or install them with apt-get" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's prometheus package enables its server on every address; only its promtool is wanted here.
ensure_prometheus_server_off() {
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet prometheus.service 2>/dev/null; then
    echo "bootstrap: disabling the prometheus server the package enabled (only promtool is used)"
    systemctl disable --quiet prometheus.service
    # Stopped too where systemd runs (a container without it never started the server).
    if [[ -d /run/systemd/system ]]; then systemctl stop prometheus.service; fi
  fi
}

ensure_pnpm() {
  if command -v pnpm >/dev/null; then
    return
  fi
  # corepack cannot verify pnpm's signature on our machines; npm installs it directly.
  echo "bootstrap: installing pnpm 10"
  npm install --global --silent pnpm@10
}

ensure_node_modules() {
  cd "$(dirname "$0")/.."
  # --silent would also hide why an install fails (an outdated lockfile, say); keep the errors.
  pnpm install --frozen-lockfile --reporter=append-only --loglevel=error
}

ensure_debian_packages
ensure_prometheus_server_off
ensure_pnpm
ensure_node_modules
