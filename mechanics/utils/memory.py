"""How much memory a new allocation can have: used to refuse sizes that cannot fit before
allocating them (``gamemech simulate --n-points``, ``gans`` model widths)."""
from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes available to a new allocation (Linux ``MemAvailable``, else the free physical
    pages), or ``None`` where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
