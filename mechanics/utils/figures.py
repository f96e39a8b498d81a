"""Saving matplotlib figures: the format from the file's suffix, written atomically
(:mod:`.atomic`), the figure closed afterwards. matplotlib is imported only when used."""
from __future__ import annotations

import io
from pathlib import Path

from .atomic import WriteError, atomic_write_bytes


def save_figure(fig, path, dpi: int = 120) -> None:
    """Save ``fig`` to ``path`` atomically (format from the suffix) and close it. An
    unknown format or an unwritable path raises :class:`~.atomic.WriteError`."""
    import matplotlib.pyplot as plt
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    except ValueError as err:
        raise WriteError(f"cannot write plot {path}: {err}") from None
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue(), what="plot")
