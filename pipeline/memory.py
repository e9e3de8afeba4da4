"""Peak resident memory of one phase of work, not of the whole process that happened to run it.

Linux resets a process's high-water mark (VmHWM) when "5" is written to /proc/self/clear_refs; reading
VmHWM afterwards gives the peak since then. Elsewhere the lifetime peak (ru_maxrss) is all there is, and
the result says which one it is.
"""

from __future__ import annotations

import resource
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class PeakMemory:
    def __init__(self) -> None:
        try:
            _CLEAR_REFS.write_text("5")
            self.scope = "phase"
        except OSError:
            self.scope = "process lifetime"

    def peak_bytes(self) -> int:
        try:
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
