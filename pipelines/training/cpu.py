"""CPU tuning a training process applies before any torch operation: threads, denormals, freed memory."""

import ctypes
import os
import platform

import psutil
import torch


def configure_cpu() -> None:
    """Threads and float mode for CPU work; `train()` calls it before any torch operation.

    - One intra-op thread per physical core of this process's share of the
      machine: hyper-threads only add contention to matrix kernels.
      `accelerate launch` sets OMP_NUM_THREADS itself; respect it.
    - Denormal floats flushed to zero: a trained tanh RNN's backward pass
      through time is full of them (vanishing gradients), and CPUs compute on
      them slowly: its training steps took twice as long as a fresh model's
      (benchmarks/fast_paths.py, "denormals"). Worker threads inherit the mode
      when they start, so it is set before torch's thread pool exists.
    - Freed memory kept for reuse (`keep_freed_memory`).
    """
    torch.set_flush_denormal(True)
    keep_freed_memory()
    if "OMP_NUM_THREADS" in os.environ:
        return
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    torch.set_num_threads(max(1, physical // local_processes))


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for the next allocation instead of returning it to the system.

    A training step's largest tensors (a batch's logits over the vocabulary, and with copy attention
    its mixed distribution: 4096 tokens x 8000 pieces is 131 MB) are above glibc's largest mmap
    threshold (32 MB). By default each one is mapped fresh, its pages are faulted in, and it is
    unmapped when freed, at every step; the page faults cost more than the arithmetic on them
    (benchmarks/fast_paths.py, "freed_memory"). With mmap off and no trimming, the heap keeps them.
    The price is memory: the heap keeps what it once held until the process ends, and batches of
    other shapes fit its free blocks imperfectly, so the peak grows (the benchmark records both).
    Returns False, changing nothing, where the C library is not glibc.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_max = -1, -4  # malloc.h
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
