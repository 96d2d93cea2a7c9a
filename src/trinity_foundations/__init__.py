"""trinity-foundations: the shared kernels and helpers of the lesson scripts.

Importing the package sets two defaults before JAX starts (a value the user
has set wins), so that a lesson prints the same numbers on every backend:

- float32 matmuls are computed in float32. JAX's default lets a GPU round
  their inputs to TF32 (10 bits of mantissa), which moves results by about
  1e-3 and fails every float64 check; `JAX_DEFAULT_MATMUL_PRECISION=tensorfloat32`
  brings the fast path back.
- GPU kernels are deterministic (`--xla_gpu_deterministic_ops`): no atomic
  additions in scatters and reductions, so the same seed gives the same bits.
  The flag changes nothing on a CPU.
"""

import os
import sys

__version__ = "0.1.0"

MATMUL_PRECISION = "highest"
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"

os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", MATMUL_PRECISION)
if "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DETERMINISTIC_FLAG}".strip()
if "jax" in sys.modules:  # imported first: its configuration has read the environment already
    sys.modules["jax"].config.update(
        "jax_default_matmul_precision", os.environ["JAX_DEFAULT_MATMUL_PRECISION"]
    )
