#!/bin/sh
# Brings the appliance up: drivers, a kernel that never routes or answers for anyone, the
# config from the config disk (or the kernel command line), validated before tapvs sees it.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
say() { echo "tapvs-appliance: $*" > /dev/console; }

mkdir -p /dev/pts /run /tmp /var/log /mnt/config
mount -t devpts devpts /dev/pts
for d in /run /tmp /var/log; do mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$d"; done
mkdir -p /run/tapvs
mkdir -m 0700 /run/tapvs/ssh
hostname tapvs

# Drivers for whatever hardware is there (NICs, disks), then what tapvs and power-off need.
# Buses appear as their drivers load (virtio devices behind virtio_pci, disks behind USB), so
# go round until a pass finds nothing new.
seen=""
for pass in 1 2 3 4; do
  aliases=$(find /sys/devices -name modalias -exec cat {} + 2>/dev/null | sort -u)
  [ "$aliases" = "$seen" ] && break
  echo "$aliases" | xargs modprobe -q -a 2>/dev/null
  seen=$aliases
done
modprobe -q -a tun bridge button evdev vfat nls_cp437 nls_ascii isofs sd_mod sr_mod
sleep 1 # USB and SCSI disks appear a moment after their controller's driver loads

# The kernel routes nothing and owns no address on a data NIC: tapvs does the networking.
sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link set lo up

# The config: tapvs.config=<base64 JSON> on the kernel command line, else tapvs.json at the top
# of the first FAT or ISO filesystem that has one. Disks are only ever mounted read-only.
config=/run/tapvs/config.json
source=""
for word in $(cat /proc/cmdline); do
  case "$word" in tapvs.config=*) echo "${word#tapvs.config=}" | base64 -d > "$config" 2>/dev/null && source="kernel command line" ;; esac
done
if [ -z "$source" ]; then
  for dev in $(ls /dev/vd[a-z]* /dev/sd[a-z]* /dev/sr[0-9] /dev/nvme*n*p* /dev/mmcblk*p* 2>/dev/null); do
    for fs in vfat iso9660; do
      mount -t "$fs" -o ro "$dev" /mnt/config 2>/dev/null || continue
      if [ -f /mnt/config/tapvs.json ]; then cp /mnt/config/tapvs.json "$config" && source="$dev:/tapvs.json" && echo "$dev $fs" > /run/tapvs/config-source; fi
      # SSH's host key, made on the first boot with SSH and kept here by run-sshd.
      [ -n "$source" ] && [ -f /mnt/config/dropbear_ed25519_host_key ] && cp /mnt/config/dropbear_ed25519_host_key /run/tapvs/ssh/
      umount /mnt/config
      break
    done
    [ -n "$source" ] && break
  done
fi

# What became of it, said on the console and kept for the login banner (/usr/lib/tapvs/banner).
verdict() { say "$1"; echo "$1" > /run/tapvs/verdict; }
if [ -z "$source" ]; then
  verdict "no config found (no tapvs.json on a FAT or ISO disk, no tapvs.config= on the kernel command line): forwarding nothing"
  rm -f "$config"
elif out=$(tapvs check --nics --config "$config" 2>&1); then
  verdict "config from $source: $(echo "$out" | sed "s|$config|tapvs.json|")"
else
  verdict "config from $source REJECTED: $(echo "$out" | sed "s|$config|tapvs.json|")"
  say "keeping the safe default: tapvs does not start, nothing is forwarded; fix tapvs.json and reboot"
  mv "$config" /run/tapvs/rejected.json
fi

# The box's own settings (the config's system section): plain files for this shell, run-sshd
# and run-ntpd. The host name and the zone are set here, while / can still be written.
system=/run/tapvs/system
if [ -f "$config" ]; then
  tapvs system-files --config "$config" --out "$system" > /dev/null || say "system settings not applied"
  [ -f "$system/hostname" ] && hostname -F "$system/hostname"
  if [ -f "$system/timezone" ]; then
    zone=$(cat "$system/timezone")
    if [ -f "/usr/share/zoneinfo/$zone" ]; then ln -sf "/usr/share/zoneinfo/$zone" /etc/localtime
    else say "time zone $zone is not in this image's tzdata: the clock stays UTC"; fi
  fi
fi

# Power button: a clean shutdown (busybox acpid runs /etc/acpi/PWRF/00000080).
acpid -c /etc/acpi -l /var/log/acpid.log

# Nothing below / is ever written again: the root is RAM, read-only from here on.
mount -o remount,ro /
say "booted $(uname -r); $(cat /etc/tapvs-release)"
