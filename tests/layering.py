#!/usr/bin/python3
"""The rooms of the code and the one direction of their includes (docs/architecture.md "Rooms"),
checked on the sources themselves: a room includes only its own headers and those of the rooms
below it, and the rooms that need no event loop do not include <uv.h>. Run by ctest; exits 1
with one line per broken rule."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

kRoot = Path(__file__).resolve().parent.parent

# room: (folder, rooms it may include, may it include <uv.h>). The folder of a room holds no
# other room's files except the subfolders listed as rooms of their own.
kRooms: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "protocol": ("protocol", (), False),
    "auth": ("auth", (), False),
    "ops": ("proxy/ops", ("auth",), False),
    "config": ("proxy/config", ("ops", "auth", "protocol"), False),
    "net": ("proxy/net", ("config", "ops", "auth", "protocol"), True),
    "tokens": ("proxy/tokens", ("config", "ops", "auth"), True),
    "pool": ("proxy/pool", ("net", "tokens", "config", "ops", "auth", "protocol"), True),
    "session": ("proxy/session", ("pool", "net", "tokens", "config", "ops", "auth", "protocol"), True),
    "app": ("proxy", ("session", "pool", "net", "tokens", "config", "ops", "auth", "protocol"), True),
}
kInclude = re.compile(r'^\s*#\s*include\s+([<"])([^">]+)[">]', re.MULTILINE)


def room_of(path: str) -> str | None:
    """The room whose folder holds `path` directly (the longest folder that matches)."""
    best = None
    for name, (folder, _, _) in kRooms.items():
        if path.startswith(folder + "/") and "/" not in path[len(folder) + 1:]:
            best = name
    return best


def sources() -> list[str]:
    out = subprocess.run(["git", "-C", str(kRoot), "ls-files", "--cached", "--others", "--exclude-standard",
                          "*.h", "*.cc"], check=True, capture_output=True, text=True).stdout
    return [p for p in out.split() if (kRoot / p).exists()]


def main() -> int:
    problems = []
    for path in sources():
        room = room_of(path)
        if room is None:
            continue
        _, allowed, uv_ok = kRooms[room]
        text = (kRoot / path).read_text()
        for kind, target in kInclude.findall(text):
            if kind == "<":
                if target == "uv.h" and not uv_ok:
                    problems.append(f"{path}: includes <uv.h>, but the {room} room needs no event loop")
                continue
            other = room_of(target)
            if other is None:
                problems.append(f"{path}: includes \"{target}\", which is in no room")
            elif other != room and other not in allowed:
                problems.append(f"{path}: the {room} room includes \"{target}\" of the {other} room "
                                f"(it may include: {', '.join(allowed) or 'nothing'})")
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} broken rule(s)" if problems else "layering: every include goes one way")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
