"""One log line per phase of data preparation, with its wall and CPU seconds.

Lines read `phase <name>: <wall> s wall, <cpu> s CPU (<details>)`, the details starting with the rank under a
distributed launcher; benchmarks/data_scale.py reads them. CPU seconds count every thread of this process and
the processes it has waited for (a tokenizing pool).
"""

import logging
import os
import resource
import time
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def phase(name: str):
    """Time the block and log its line when it ends; the block may add details to the dict it gets."""
    details = {"rank": os.environ["RANK"]} if "RANK" in os.environ else {}
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield details
    extra = f" ({', '.join(f'{key}={value}' for key, value in details.items())})" if details else ""
    logger.info("phase %s: %.1f s wall, %.1f s CPU%s", name, time.perf_counter() - wall, cpu_seconds() - cpu, extra)


def cpu_seconds() -> float:
    """User and system seconds of this process and of its waited-for children so far."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
