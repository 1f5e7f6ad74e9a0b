#!/usr/bin/env python3
# The receiving end of an IPIP tunnel in user space, for a TUN-mode real server in the lab:
# the build host's kernel has no ipip module, so lab.ts runs this inside the real server's
# namespace. It takes every IP-in-IP packet (protocol 4) off a raw socket, strips the outer
# header and writes the inner packet to the TUN device DEV (made and brought up by lab.ts), where
# the kernel receives it as if the ipip module had decapsulated it: the inner destination (the
# VIP) is on the namespace's loopback and the answer goes straight to the client.
#   python3 lab-ipip.py DEV
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

dev = sys.argv[1]
tun = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack('16sH', dev.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
print('ready', flush=True)
while True:
    packet = raw.recv(65535)
    outer = (packet[0] & 0x0F) * 4
    inner = packet[outer:]
    if len(inner) >= 20 and inner[0] >> 4 == 4:
        os.write(tun, inner)
