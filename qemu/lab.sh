#!/bin/bash
# The QEMU lab: boots the appliance image (npm run image) headless under QEMU as the director of
# a DR lab in network namespaces (a client behind a gateway, two real servers set up by
# `tapvs agent`), waits for its ready line on the serial console, and checks it end to end.
# Tears everything down afterwards, also on failure; --keep leaves it up to play with
# (then: node dist/tapvs.js lab down --prefix qlab).
#
#   qemu/lab.sh [--boot kernel|bios|uefi|iso] [--prefix NAME] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."

boot=kernel prefix=qlab keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --boot) boot=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: qemu/lab.sh [--boot kernel|bios|uefi|iso] [--prefix NAME] [--keep]" >&2; exit 2 ;;
  esac
done
[ -f out/image/initrd.img ] || { echo "qemu/lab.sh: no image in out/image: run npm run image" >&2; exit 1; }

tapvs() { node dist/tapvs.js "$@"; }
down() { tapvs lab down --prefix "$prefix" >/dev/null 2>&1 || true; }
[ "$keep" = 1 ] || trap down EXIT

failed=0
check() {
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok   $what"; else echo "FAIL $what"; echo "$out" | sed 's/^/     /'; failed=1; fi
}
http_spread() {
  local seen=""
  for _ in 1 2 3 4; do seen="$seen $(tapvs lab exec client --prefix "$prefix" -- curl -s --max-time 5 http://192.168.1.2/)"; done
  echo "answers:$seen"
  [[ "$seen" == *rs1* && "$seen" == *rs2* ]]
}

echo "booting the appliance ($boot) under QEMU (TCG); every wait is bounded (180 s to ready)"
started=$(date +%s)
tapvs lab up --topology dr --agent --appliance out/image --boot "$boot" --prefix "$prefix"
echo "ready after $(( $(date +%s) - started )) s"
check "the client pings the director (192.168.1.10)" timeout 20 node dist/tapvs.js lab exec client --prefix "$prefix" -- ping -c 2 -W 3 192.168.1.10
check "HTTP to the VIP reaches rs1 and rs2 (DR)" timeout 60 bash -c "$(declare -f tapvs http_spread); prefix=$prefix; http_spread"
check "tapvsadm -L -n on the serial console" timeout 60 node dist/tapvs.js lab console director --prefix "$prefix" -- tapvsadm -L -n
tapvs lab console director --prefix "$prefix" -- tapvsadm -L -n --stats | sed 's/^/     /'
[ "$failed" = 0 ] && echo "all checks passed" || echo "some checks FAILED"
exit "$failed"
