"""Test helpers: run one of scripts/ in a subprocess, alone or as two CPU processes under
`accelerate launch`, and collect its output. Not a test module: pytest collects nothing here.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_cpu_processes() -> list[str]:
    """`accelerate launch` for two gloo processes on this machine (run with ACCELERATE_USE_CPU=1).

    accelerate 1.15 runs ONE process for `--cpu --num_processes 2`; this is the working CPU DDP recipe.
    """
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
    ]


def run_script(script: str, flags: list[str], launcher: list[str] | None = None, **env) -> subprocess.Popen:
    """scripts/<script> in a subprocess (optionally under a launcher such as `two_cpu_processes()`)."""
    command = [*(launcher or [sys.executable]), str(ROOT / "scripts" / script), *flags]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_tree(process: subprocess.Popen) -> str:
    """SIGKILL the run and every process it started; returns what it printed.

    The launcher's workers run in sessions of their own and hold the output pipe
    open: every descendant is killed, not just the launcher's process group.
    """
    for member in [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    return process.communicate(timeout=30)[0]


def finish(process: subprocess.Popen, timeout: int = 300) -> str:
    """The run's output once it exits 0; on a hang, kill it and fail with what it printed last."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        output = kill_tree(process)
        pytest.fail(f"run still going after {timeout} s; its last output:\n{output[-4000:]}")
    assert process.returncode == 0, output[-3000:]
    return output
