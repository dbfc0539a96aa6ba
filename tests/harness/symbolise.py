#!/usr/bin/env python3
"""Names the kernel code an L1 vCPU was running: every RIP in a QEMU register
dump (the monitor's `info registers`, or `-d cpu_reset` in qemu.log) that lies in
L1's kernel text is printed with the symbol it falls in, from the copy of
/proc/kallsyms L1 wrote at boot (so KASLR does not matter; Debian's package
ships no real System.map, only in its -dbg package).

usage: symbolise.py KALLSYMS FILE...
Prints one line per distinct RIP and file, in the order first seen, with how
often it appeared: "RIP ffffffffafe44ffe = native_safe_halt+0xe (x2, l1-stall.log)".
"""
import bisect
import re
import sys

TEXT_TYPES = set("tTwW")
RIP = re.compile(r"\bRIP[=:]\s*(?:[0-9a-f]{4}:)?\[?<?([0-9a-fA-F]{16})")


def load_map(path):
    addrs, names = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in TEXT_TYPES:
                continue
            addrs.append(int(parts[0], 16))
            names.append((parts[2], " " + parts[3] if len(parts) > 3 else ""))  # (name, " [module]")
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def name(addrs, names, rip):
    i = bisect.bisect_right(addrs, rip) - 1
    if i < 0 or rip - addrs[i] > 0x100000:  # not in the kernel's text
        return None
    symbol, module = names[i]
    return f"{symbol}+{rip - addrs[i]:#x}{module}"


def main():
    if len(sys.argv) < 3:
        print("usage: symbolise.py KALLSYMS FILE...", file=sys.stderr)
        return 2
    addrs, names = load_map(sys.argv[1])
    seen = {}
    for path in sys.argv[2:]:
        try:
            text = open(path, errors="replace").read()
        except OSError:
            continue
        for m in RIP.finditer(text):
            rip = int(m.group(1), 16)
            key = (rip, path.rsplit("/", 1)[-1])
            seen[key] = seen.get(key, 0) + 1
    for (rip, where), count in seen.items():
        sym = name(addrs, names, rip) if rip >= 0xFFFFFFFF80000000 else None
        print(f"RIP {rip:016x} = {sym or '(not kernel text: user space or a guest)'} (x{count}, {where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
