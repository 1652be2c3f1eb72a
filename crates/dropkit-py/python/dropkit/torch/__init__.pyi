"""Type stubs of dropkit.torch."""

from typing import Optional, TypeVar

import torch

from . import functional as functional

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "functional",
    "keep_rank_streams",
]

class _Layer(torch.nn.Module):
    inplace: bool
    generator_state: torch.Tensor
    """int64 [mode, seed, draw]: mode 0 a stream of the layer's own, 1 the default generator."""

    @property
    def seed(self) -> Optional[int]: ...
    @property
    def draw(self) -> int: ...
    def forward(self, input: torch.Tensor) -> torch.Tensor: ...

class _WithP(_Layer):
    def __init__(
        self, p: float = 0.5, inplace: bool = False, *, seed: Optional[int] = None
    ) -> None: ...
    @property
    def p(self) -> float: ...

class Dropout(_WithP): ...
class Dropout1d(_WithP): ...
class Dropout2d(_WithP): ...
class Dropout3d(_WithP): ...
class AlphaDropout(_WithP): ...
class FeatureAlphaDropout(_WithP): ...

class GaussianDropout(_Layer):
    def __init__(self, rate: float, *, seed: Optional[int] = None) -> None: ...
    @property
    def rate(self) -> float: ...

class GaussianNoise(_Layer):
    def __init__(self, stddev: float, *, seed: Optional[int] = None) -> None: ...
    @property
    def stddev(self) -> float: ...

_M = TypeVar("_M", bound=torch.nn.Module)

def keep_rank_streams(model: _M) -> _M: ...
