"""`lineage compare`: every architecture on a task under one budget, tested and reported.

    config.py    CompareConfig, the rows it names
    presets.py   test | demo | gpu
    rows.py      PlannedRow: each row planned once
    reuse.py     which rows are reused, continued or refused before anything trains
    running.py   train, test and report the rows
    estimate.py  the time a comparison will take, from a warm-up
"""

from .config import CompareConfig
from .running import compare

__all__ = ["CompareConfig", "compare"]
