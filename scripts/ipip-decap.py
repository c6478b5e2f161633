#!/usr/bin/env python3
"""IP-in-IP decapsulation in user space, for real servers of a tun service on a kernel without
the ipip module: a raw socket takes protocol-4 packets (so the kernel sends no protocol
unreachable), and each inner packet is written to a TUN device that holds the VIP, so the
kernel receives it as if it had arrived there. Replies leave normally, from the VIP.

usage: ipip-decap.py TUN_NAME   (the TUN exists, persistent, with the VIP on it)
"""
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

name = sys.argv[1]
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)  # IPPROTO_IPIP
print("ready", flush=True)
decapsulated = dropped = 0
while True:
    packet = raw.recv(65535)
    ihl = (packet[0] & 0x0F) * 4
    inner = packet[ihl:]
    if len(inner) < 20 or inner[0] >> 4 != 4:
        dropped += 1
        continue
    os.write(tun, inner)
    decapsulated += 1
