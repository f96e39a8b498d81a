"""Refuse a run whose models cannot fit, before anything is allocated: the models are built
on torch's ``meta`` device (shapes only), their parameters counted, and a lower bound on
the memory a step needs compared with what the device has available."""
from __future__ import annotations

import torch

from .models import build_models

#: float32 bytes per parameter a training step holds at least: the parameter, its
#: gradient and two optimizer buffers (Adam's moments, LEAD's previous iterate, ...).
BYTES_PER_PARAMETER = 4 * 4


def parameter_count(cfg, shape) -> int:
    """Parameters of the generator plus the discriminator of ``cfg`` (nothing allocated)."""
    with torch.device("meta"):
        G, D, _ = build_models(cfg.model, shape, cfg.z_dim, cfg.width)
    return sum(p.numel() for m in (G, D) for p in m.parameters())


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` (CUDA: ``mem_get_info``; CPU: MemAvailable), or None."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    from mechanics.utils.memory import available_memory
    return available_memory()


def check_fits(cfg, shape, device: torch.device) -> int:
    """Raise ``ValueError`` naming the size flags and the estimate when the models cannot
    fit on ``device``; return the parameter count."""
    flags = f"--width {cfg.width}" if cfg.width is not None else f"--model {cfg.model}"
    try:
        n = parameter_count(cfg, shape)
    except (RuntimeError, OverflowError) as err:   # sizes beyond torch's int64 storage
        raise ValueError(f"{flags}: the models are too large for torch to even lay out "
                         f"({' '.join(str(err).split())[:120]}); use a smaller --width") from None
    need, have = n * BYTES_PER_PARAMETER, available_bytes(device)
    if have is not None and need > have:
        raise ValueError(f"{flags}: the models would have {n:.3g} parameters and need at least "
                         f"{need / 2**30:.3g} GiB ({BYTES_PER_PARAMETER} B per parameter: "
                         f"value, gradient, two optimizer buffers) but {device.type} has "
                         f"{have / 2**30:.3g} GiB available; use a smaller --width")
    return n
