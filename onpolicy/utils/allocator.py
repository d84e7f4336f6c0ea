"""Keep freed memory in the process for reuse instead of handing it back to the OS (glibc malloc).

Every PPO epoch frees and re-allocates the same activations, several MiB each. With glibc's defaults
such blocks come from fresh mmaps, or from a heap top that is trimmed back to the OS after each free,
so every epoch touches new pages: 40-60 thousand page faults an update, about a fifth of MAPPO's
training time on this project's 2-core CPU machine. With the settings below an epoch reuses the
memory the previous one freed; the peak stays what the run allocates at once.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest accepted value on 64-bit; bigger blocks are still mmapped
NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Ask glibc to serve blocks up to 32 MiB from its heap and never trim it; True if it took effect.

    Does nothing (False) where the C library is not glibc, e.g. macOS or musl.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
