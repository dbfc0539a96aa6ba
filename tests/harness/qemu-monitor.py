#!/usr/bin/env python3
"""Sends HMP commands to a QEMU monitor on a unix socket and prints the replies.

usage: qemu-monitor.py SOCKET COMMAND... ("sleep N" waits N seconds instead).
Used by run-on-kvm.sh to take a post-mortem of a stuck L1 (vCPU registers,
sysrq dumps) before it is killed. Never fails the caller: errors are printed.
"""
import re
import socket
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


def read_reply(sock):
    out = b""
    try:
        while not out.endswith(b"(qemu) "):
            data = sock.recv(65536)
            if not data:
                break
            out += data
    except socket.timeout:
        pass
    return ANSI.sub("", out.decode(errors="replace"))


def main():
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(sys.argv[1])
        read_reply(sock)  # the greeting
        for cmd in sys.argv[2:]:
            if cmd.startswith("sleep "):
                time.sleep(float(cmd[6:]))
                continue
            sock.sendall((cmd + "\n").encode())
            lines = read_reply(sock).replace("(qemu) ", "").splitlines()
            if lines and lines[0].endswith(cmd):
                lines = lines[1:]  # the monitor's echo of what we typed
            print(f"=== (qemu) {cmd}\n" + "\n".join(lines).strip())
    except OSError as e:
        print(f"qemu-monitor: {sys.argv[1]}: {e}")


if __name__ == "__main__":
    main()
