"""vLLM's CPU C kernels for RMSNorm, made available to its eager forward pass.

vLLM dispatches ``rms_norm`` and ``fused_add_rms_norm`` through its IR op registry. On the
CPU only the native PyTorch implementation is registered (the C kernels are marked for
GPUs), on the expectation that ``torch.compile`` fuses it; with ``enforce_eager`` (the CPU
default here: compiling costs a minute of every start) it runs as written and converts
every activation to float32 and back, four tensor copies per call. The CPU build ships
``torch.ops._C.rms_norm`` and ``torch.ops._C.fused_add_rms_norm``;
:func:`register_cpu_norm_kernels` registers them under :data:`CPU_NORM_PROVIDER` for
bfloat16 and float16, and :func:`culturalign.engines.vllm_engine.cpu_norm_priority` puts
that provider first. Measured on SmolLM2's shapes (4,096 tokens x 576, 2 cores): 0.77 ms
against 9.1 ms per call in bfloat16. In float32 the native op takes 1.8 ms against the
kernel's 1.1 ms, too little to be worth float32 results (the default run's) moving by
rounding: float32 keeps the native op.

This module imports torch at the top (the op schemas are inferred from the annotations),
so import it only where vLLM is about to run.
"""

import torch
from torch import Tensor

CPU_NORM_PROVIDER = "vllm_cpu_c"
"""The provider name the kernels are registered under in vLLM's IR op registry."""

NORM_OPS = ("rms_norm", "fused_add_rms_norm")
"""The vLLM IR ops given a CPU kernel."""

HALF_PRECISION = (torch.bfloat16, torch.float16)


def _supported(x: Tensor, weight: Tensor | None, variance_size: int | None) -> bool:
    return (
        x.dtype in HALF_PRECISION
        and variance_size is None
        and (weight is None or weight.dtype == x.dtype)
    )


def rms_norm_supported(
    x: Tensor, weight: Tensor | None, epsilon: float, variance_size: int | None = None
) -> bool:
    return _supported(x, weight, variance_size)


def fused_add_rms_norm_supported(
    x: Tensor,
    x_residual: Tensor,
    weight: Tensor | None,
    epsilon: float,
    variance_size: int | None = None,
) -> bool:
    return _supported(x, weight, variance_size)


def rms_norm(
    x: Tensor, weight: Tensor | None, epsilon: float, variance_size: int | None = None
) -> Tensor:
    output = torch.empty_like(x, memory_format=torch.contiguous_format)
    torch.ops._C.rms_norm(output, x.contiguous(), weight, epsilon)
    return output


def fused_add_rms_norm(
    x: Tensor,
    x_residual: Tensor,
    weight: Tensor | None,
    epsilon: float,
    variance_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    # in place, as vLLM's GPU kernel: x becomes the normalised sum, x_residual the sum
    torch.ops._C.fused_add_rms_norm(x, x_residual, weight, epsilon)
    return x, x_residual


def register_cpu_norm_kernels() -> bool:
    """Register the kernels with vLLM's IR ops; False where this vLLM cannot take them.

    Idempotent. False where this vLLM has no IR op registry or its build lacks the kernels.
    """
    try:
        from vllm import ir
        from vllm.platforms import current_platform

        current_platform.import_kernels()
        ops = {name: getattr(ir.ops, name) for name in NORM_OPS}
    except (ImportError, AttributeError, RuntimeError):
        return False
    if not all(hasattr(torch.ops._C, name) for name in NORM_OPS):
        return False
    if all(CPU_NORM_PROVIDER in op.impls for op in ops.values()):
        return True
    ops["rms_norm"].register_impl(CPU_NORM_PROVIDER, supports_args=rms_norm_supported)(rms_norm)
    ops["fused_add_rms_norm"].register_impl(
        CPU_NORM_PROVIDER, supports_args=fused_add_rms_norm_supported, inplace=True
    )(fused_add_rms_norm)
    return True
