"""A run's log: log.jsonl, one JSON object per event, and Accelerate's trackers."""

import json
from pathlib import Path

from accelerate import Accelerator

from ..files import append_line, read_json_lines, write_lines


class RunLog:
    """log.jsonl (always, main process) plus Accelerate's trackers."""

    def __init__(self, path: Path, accelerator: Accelerator):
        self.path, self.accelerator = path, accelerator

    def truncate_after(self, step: int) -> None:
        """Forget entries a resumed run will write again, and a line torn by a crash."""
        if self.accelerator.is_main_process and self.path.exists():
            kept = [record for record in read_json_lines(self.path) if record["step"] <= step]
            write_lines(self.path, [json.dumps(record) for record in kept])

    def write(self, event: str, step: int, **values) -> None:
        if not self.accelerator.is_main_process:
            return
        append_line(self.path, json.dumps({"event": event, "step": step, **values}))
        numbers = {f"{event}/{k}": v for k, v in values.items() if isinstance(v, (int, float))}
        self.accelerator.log(numbers, step=step)
