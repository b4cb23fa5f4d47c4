#!/bin/sh
# Stand-in for https://tailscale.com/install.sh, served by the sandbox's GitHub double. Test code:
# never shipped to Azure. Installs the tailscale and tailscaled doubles where Debian's package puts
# the real ones and starts tailscaled, as the real installer does through apt.
set -eu

PACKAGES=https://pkgs.tailscale.com/stable/sandbox

if [ "$(id -u)" != 0 ]; then
  echo "This installer needs root." >&2
  exit 1
fi

fetch() {
  curl -fsSL --proto '=https' "$PACKAGES/$1" -o "$2.new"
  chmod 755 "$2.new"
  mv -f "$2.new" "$2"
}

fetch tailscale /usr/bin/tailscale
fetch tailscaled /usr/sbin/tailscaled

cat >/etc/systemd/system/tailscaled.service <<'UNIT'
[Unit]
Description=Tailscale node agent (sandbox double)

[Service]
Type=notify
NotifyAccess=all
ExecStart=/usr/sbin/tailscaled
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now tailscaled
echo "Installation complete! Log in to start using Tailscale by running: tailscale up"
