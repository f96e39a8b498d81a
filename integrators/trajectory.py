"""The result of a simulation: a :class:`Trajectory`."""
from __future__ import annotations

import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch


@dataclass
class Trajectory:
    """Saved states of one or a batch of simulations.

    Attributes
    ----------
    ts: ``(T,)`` save times.
    zs: ``(T, *batch, dim)`` states, laid out as the dynamics documents
        (``[x, y, vx, vy]`` for a :class:`~mechanics.Particle`, ``[x, y]`` for a
        :class:`~mechanics.GradientFlow`).
    n, m: the players' dimensions; ``has_velocity`` tells which layout ``zs`` uses.
    diverged: ``(*batch,)`` bool, True where the state's norm passed the divergence
        threshold (or became non-finite); ``diverged_at`` holds the first save time
        at which that was seen (NaN where it was not). After divergence a state is
        frozen at its last value, never NaN.
    stats: backend, method, number of vector-field evaluations (``nfev``), wall time.
    dense: for the scipy backend with ``dense_output=True``, a list (one per initial
        condition) of ``scipy.integrate.OdeSolution`` callables.
    """

    ts: torch.Tensor
    zs: torch.Tensor
    n: int
    m: int
    has_velocity: bool
    diverged: torch.Tensor
    diverged_at: torch.Tensor
    stats: Dict[str, Any] = field(default_factory=dict)
    success: bool = True
    message: str = ""
    dense: Optional[list] = None

    # ----------------------------------------------------------------- access
    def _part(self, i: int) -> torch.Tensor:
        n, m = self.n, self.m
        bounds = [0, n, n + m, 2 * n + m, 2 * n + 2 * m]
        if i >= 2 and not self.has_velocity:
            raise AttributeError("a gradient-flow trajectory has no velocities")
        return self.zs[..., bounds[i]:bounds[i + 1]]

    @property
    def x(self) -> torch.Tensor:
        return self._part(0)

    @property
    def y(self) -> torch.Tensor:
        return self._part(1)

    @property
    def vx(self) -> torch.Tensor:
        return self._part(2)

    @property
    def vy(self) -> torch.Tensor:
        return self._part(3)

    @property
    def final(self) -> torch.Tensor:
        return self.zs[-1]

    @property
    def batch_shape(self):
        return tuple(self.zs.shape[1:-1])

    def distance(self, equilibrium) -> torch.Tensor:
        """``(T, *batch)`` Euclidean distance of the positions ``(x, y)`` to ``(x*, y*)``."""
        xs, ys = (torch.as_tensor(e, dtype=self.zs.dtype, device=self.zs.device)
                  for e in equilibrium)
        return torch.sqrt(((self.x - xs) ** 2).sum(-1) + ((self.y - ys) ** 2).sum(-1))

    def numpy(self) -> Dict[str, np.ndarray]:
        """Plain numpy arrays: ``ts``, ``x``, ``y`` (and ``vx``, ``vy``), ``diverged``."""
        out = {"ts": self.ts.detach().cpu().numpy(), "x": self.x.detach().cpu().numpy(),
               "y": self.y.detach().cpu().numpy(),
               "diverged": self.diverged.cpu().numpy(),
               "diverged_at": self.diverged_at.cpu().numpy()}
        if self.has_velocity:
            out["vx"] = self.vx.detach().cpu().numpy()
            out["vy"] = self.vy.detach().cpu().numpy()
        return out

    # ------------------------------------------------------------------- files
    def save(self, path) -> Path:
        """Write a ``.npz`` file (written to a temporary name, then renamed)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, ts=self.ts.detach().cpu().numpy(), zs=self.zs.detach().cpu().numpy(),
                 diverged=self.diverged.cpu().numpy(), diverged_at=self.diverged_at.cpu().numpy(),
                 meta=np.array(json.dumps({"n": self.n, "m": self.m,
                                           "has_velocity": self.has_velocity,
                                           "success": self.success, "message": self.message,
                                           "stats": {k: v for k, v in self.stats.items()
                                                     if isinstance(v, (int, float, str, bool))}})))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "Trajectory":
        """Read a file written by :meth:`save` (no pickled objects are loaded).

        A missing, truncated or malformed file, or one whose arrays do not fit together
        (shapes, dtypes, dimensions), raises ``ValueError`` naming the file."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("ts", "zs", "diverged", "diverged_at", "meta")}
            meta = json.loads(str(_scalar_text(arrays.pop("meta"))))
            return cls(**_checked_fields(arrays, meta))
        except (OSError, EOFError, KeyError, ValueError, TypeError, RuntimeError, MemoryError,
                zipfile.BadZipFile, zlib.error, struct.error) as err:
            # RuntimeError: zipfile's "encrypted" / NotImplementedError for corrupt headers
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ValueError(f"{path} is not a trajectory file written by Trajectory.save: "
                             f"{msg}") from None


def _scalar_text(a: np.ndarray) -> str:
    if a.shape != () or a.dtype.kind != "U":
        raise ValueError("its 'meta' entry is not a JSON string")
    return str(a)


def _checked_fields(arrays: Dict[str, np.ndarray], meta) -> Dict[str, Any]:
    """Validate what :meth:`Trajectory.load` read; return the constructor's arguments."""
    if not isinstance(meta, dict):
        raise ValueError("its meta data is not a JSON object")

    def count(key):
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"meta {key!r} must be a positive integer, got {v!r}")
        return v

    n, m = count("n"), count("m")
    flags = {k: meta.get(k) for k in ("has_velocity", "success")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise ValueError(f"meta has_velocity and success must be true/false, got {flags}")
    stats, message = meta.get("stats", {}), meta.get("message", "")
    if not isinstance(stats, dict) or not isinstance(message, str):
        raise ValueError("meta stats must be an object and message a string")
    ts, zs, div, div_at = (arrays[k] for k in ("ts", "zs", "diverged", "diverged_at"))
    dim = (2 if flags["has_velocity"] else 1) * (n + m)
    if ts.ndim != 1 or ts.dtype.kind != "f" or not np.isfinite(ts).all():
        raise ValueError(f"ts must be a finite 1-D float array, got shape {ts.shape} {ts.dtype}")
    if zs.dtype.kind != "f" or zs.ndim < 2 or zs.shape[0] != ts.shape[0] or zs.shape[-1] != dim:
        raise ValueError(f"zs must be a float array of shape ({ts.shape[0]}, ..., {dim}), "
                         f"got {zs.shape} {zs.dtype}")
    batch = zs.shape[1:-1]
    if div.dtype != np.bool_ or div.shape != batch:
        raise ValueError(f"diverged must be a bool array of shape {batch}, got {div.shape} {div.dtype}")
    if div_at.dtype.kind != "f" or div_at.shape != batch:
        raise ValueError(f"diverged_at must be a float array of shape {batch}, got {div_at.shape}")
    return dict(ts=torch.from_numpy(ts), zs=torch.from_numpy(zs), n=n, m=m,
                has_velocity=flags["has_velocity"], diverged=torch.from_numpy(div),
                diverged_at=torch.from_numpy(div_at), stats=dict(stats),
                success=flags["success"], message=message)
