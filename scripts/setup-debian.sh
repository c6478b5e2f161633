#!/usr/bin/env bash
# Installs what tapvs needs on Debian 12 to build, run its lab and pass its tests, then builds it.
# Run as root from the repository. Safe to repeat.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ make python3            # the addon (node-gyp)
  iproute2 iputils-ping iputils-arping  # the lab: namespaces, veth, bridges, TAPs
  traceroute curl tshark wrk hping3 sip-tester dnsmasq-base bind9-dnsutils  # tests: real clients, and the wire
  iperf3                      # npm run bench: TCP throughput through each forwarder
  netcat-openbsd              # nc: bytes through a routed VIP
  procps nftables tmux         # tmux: tapvs top in a real 80x24 terminal
  keepalived                  # the VRRP peer of the high-availability tests (VRRP only: no IPVS module needed)
  chrony openssh-client       # the appliance's NTP server and SSH client in its lab
  bird2                       # BGP: tapvs's VIPs announced by BIRD, to a BIRD peer standing for the upstream router
  frr                         # the ECMP lab's upstream router: bgpd + zebra, multipath to N directors
  # the appliance image (npm run image) and its QEMU lab
  cpio zstd fdisk dosfstools mtools kmod bc binutils xorriso grub-pc-bin grub-efi-amd64-bin
  qemu-system-x86 qemu-utils ovmf
)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
npm ci --no-audit --no-fund
npm run build
