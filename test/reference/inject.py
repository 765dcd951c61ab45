#!/usr/bin/env python3
# Sends Ethernet frames out of an interface through an AF_PACKET socket (root only), for the
# reference comparisons in test/reference/: frames come from a file of records, each a
# 4-byte big-endian length followed by the frame. Usage: inject.py IFACE FILE [PAUSE_EVERY]
# Sends in bursts of PAUSE_EVERY frames (default 200) with a 2 ms pause between bursts so the
# receiving veth's backlog (net.core.netdev_max_backlog) never overflows.
import socket
import struct
import sys
import time

iface, path = sys.argv[1], sys.argv[2]
burst = int(sys.argv[3]) if len(sys.argv) > 3 else 200
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
data = open(path, 'rb').read()
o = 0
n = 0
while o < len(data):
    (ln,) = struct.unpack_from('>I', data, o)
    s.send(data[o + 4:o + 4 + ln])
    o += 4 + ln
    n += 1
    if n % burst == 0:
        time.sleep(0.002)
print(n)
