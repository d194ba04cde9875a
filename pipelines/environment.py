"""The machine a command runs on: versions and hardware, for reports, model cards and speed results.

The one hardware probe of the project: `lineage compare`, `lineage study` and the speed
measurement all describe their machine with `describe_machine`.
"""

import os
import platform
import time
from pathlib import Path


def describe_machine(device: str = "cpu") -> dict:
    """Versions, hardware and how busy the machine is, for `device` ("cpu" or "cuda")."""
    import accelerate
    import datasets
    import psutil
    import torch
    import transformers

    on_gpu = device == "cuda" and torch.cuda.is_available()
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "datasets": datasets.__version__,
        "device": "cuda" if on_gpu else "cpu",
        "device_name": torch.cuda.get_device_name(0) if on_gpu else cpu_model(),
        "hardware": f"cuda ({torch.cuda.get_device_name(0)})" if on_gpu else hardware_description(),
        "cpu_model": cpu_model(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_supports_bf16(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "matmul_gflops": matmul_gflops(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    if on_gpu:
        info["cuda"] = torch.version.cuda
    return info


def matmul_gflops(size: int = 512, seconds: float = 1.0) -> float:
    """This machine's fp32 matmul speed with this process's threads: a one-second probe, so a
    reader can relate absolute speeds between machines (the load average says how busy it was)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # first call: thread pool and kernel selection
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        a @ b
        calls += 1
    return round(2 * size**3 * calls / elapsed / 1e9, 1)


def cpu_model() -> str | None:
    """The CPU's model name ("AMD EPYC 7B13"), or what the platform says where /proc/cpuinfo is missing."""
    for line in _cpuinfo_lines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def cpu_supports_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (the avx512_bf16 or amx_bf16 instructions)."""
    for line in _cpuinfo_lines():
        if line.startswith("flags"):
            return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    return False


def hardware_description() -> str:
    """"2-core x86_64 CPU (AMD EPYC 7B13)"."""
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu_model() or platform.machine()})"


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
