"""Type stubs of dropkit.torch.functional."""

from typing import Optional

import torch

__all__ = [
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_noise",
]

def dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def dropout1d(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def dropout2d(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def dropout3d(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def alpha_dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def feature_alpha_dropout(
    input: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def gaussian_dropout(
    input: torch.Tensor,
    rate: float,
    training: bool = True,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
def gaussian_noise(
    input: torch.Tensor,
    stddev: float,
    training: bool = True,
    *,
    seed: Optional[int] = None,
    draw: Optional[int] = None,
) -> torch.Tensor: ...
