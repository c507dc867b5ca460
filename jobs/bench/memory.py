"""Peak memory of a process tree (Linux ``/proc``): the bench's memory figure.

A Spark run is a Python driver, its JVM and the Python workers the JVM starts (pandas UDFs);
``ru_maxrss`` of one process sees only itself, and RUSAGE_CHILDREN only children that have
exited. ``TreePeak`` samples the memory of a process and all its descendants on a thread (every
``interval`` seconds) and keeps the largest sum since the last ``reset()``; it misses spikes
shorter than the interval, so figures are a slight underestimate.

The sum is of PSS (proportional set size, ``/proc/<pid>/smaps_rollup``): PySpark's worker daemon
forks its workers, which share most of their pages, and summing their RSS would count those pages
once per worker. Where PSS cannot be read, RSS (``statm``) is used. ``peak_rss`` keeps the RSS
sum as well, for comparison with tools that report RSS.
"""

import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:                   # the process ended while we looked
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant."""
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (shared pages divided among their sharers); RSS if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss_bytes(pid)


def tree_memory(root: int) -> tuple[int, int]:
    """(summed PSS, summed RSS) of ``root``'s tree."""
    pids = tree_pids(root)
    return sum(pss_bytes(p) for p in pids), sum(rss_bytes(p) for p in pids)


class TreePeak:
    """Largest summed PSS (and RSS) of ``pid``'s process tree since the last ``reset()``."""

    def __init__(self, pid: int | None = None, interval: float = 0.2):
        self.pid, self.interval = pid or os.getpid(), interval
        self._peak, self._peak_rss, self._lock = 0, 0, threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="geopulse-bench-rss", daemon=True)

    def __enter__(self) -> "TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        pss, rss = tree_memory(self.pid)
        with self._lock:
            self._peak, self._peak_rss = max(self._peak, pss), max(self._peak_rss, rss)
        return pss

    def reset(self) -> None:
        with self._lock:
            self._peak, self._peak_rss = 0, 0
        self.sample()

    @property
    def peak(self) -> int:
        """Largest summed PSS (bytes) since the last reset."""
        self.sample()
        with self._lock:
            return self._peak

    @property
    def peak_rss(self) -> int:
        """Largest summed RSS (bytes) since the last reset (counts shared pages once per process)."""
        with self._lock:
            return self._peak_rss
