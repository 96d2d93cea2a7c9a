"""Practice for Lesson 22 — the hardware: bytes, FLOPs, the roofline, scaling out.

Write matmul_intensity, attainable: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=22
    python -m trinity_foundations.practice 22 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/22_memory_and_compute.py` gives you the stubs back.
"""


def matmul_intensity(m, k, n, itemsize):
    """The arithmetic intensity (FLOPs per byte) of an (m, k) @ (k, n) matmul.

    FLOPs: one multiply and one add per term, 2·m·k·n. Bytes: read both
    inputs and write the output once, (m·k + k·n + m·n)·itemsize.

    Args:
      m, k, n: ints >= 1.
      itemsize: bytes per number (4 for float32).
    Returns:
      a Python float.
    """
    raise NotImplementedError


def attainable(intensity, peak_flops, bandwidth):
    """The most FLOP/s a kernel of this arithmetic intensity can reach.

    Below the ridge point (peak / bandwidth) memory limits it: intensity ×
    bandwidth; above it the compute roof, peak_flops.

    Args:
      intensity: FLOPs per byte.
      peak_flops: FLOP/s of the machine.
      bandwidth: bytes/s of its memory.
    Returns:
      a Python float.
    """
    raise NotImplementedError
