#!/usr/bin/env python3
# Plays the director of a TUN-mode service, for the lab's own test: sends one UDP datagram to
# VIP:PORT wrapped in IP-in-IP to the real server RIP, and prints what comes back and from where
# (the real server answers from the VIP straight to the client, not through the tunnel).
#   python3 lab-ipip-probe.py CLIENT RIP VIP PORT
import socket
import struct
import sys

client, rip, vip, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def checksum(data):
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ip_header(src, dst, proto, payload_len):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, 0x1234, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', checksum(h)) + h[12:]


answer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
answer.bind((client, 0))
answer.settimeout(5)
sport = answer.getsockname()[1]
payload = b'hello'
udp = struct.pack('!HHHH', sport, port, 8 + len(payload), 0) + payload
inner = ip_header(client, vip, socket.IPPROTO_UDP, len(udp)) + udp
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.sendto(ip_header(client, rip, socket.IPPROTO_IPIP, len(inner)) + inner, (rip, 0))
data, source = answer.recvfrom(2048)
print('%s from %s' % (data.decode().strip(), source[0]))
