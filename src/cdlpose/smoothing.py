"""Temporal smoothing of per-frame poses: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012).

A first-order low-pass filter whose cut-off frequency rises with the signal's speed: slow movements are smoothed
strongly (less jitter), fast ones lightly (less lag). Per coordinate:

    dx̂_t = α(f_d) · (x_t − x̂_{t−1}) · rate + (1 − α(f_d)) · dx̂_{t−1}
    f_c  = min_cutoff + beta · |dx̂_t|
    x̂_t  = α(f_c) · x_t + (1 − α(f_c)) · x̂_{t−1},       α(f) = 1 / (1 + rate / (2π f))

with frequencies in Hz and ``rate`` the frame rate. Vectorised over any array shape, e.g. (J, 3) mm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OneEuroFilter", "smooth_sequence"]


def _alpha(cutoff, rate: float):
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


class OneEuroFilter:
    """One-Euro filter over arrays of a fixed shape.

    ``rate``: frames per second; ``min_cutoff`` (Hz): smoothing at rest (lower = smoother); ``beta``: how fast the
    cut-off rises with speed (in 1/units: for mm, ~0.005–0.05); ``d_cutoff`` (Hz): the speed estimate's cut-off.
    """

    def __init__(self, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0):
        if rate <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro filter: rate, min_cutoff and d_cutoff must be > 0 and beta >= 0, got "
                             f"rate={rate}, min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff}")
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = float(rate), float(min_cutoff), float(beta), float(d_cutoff)
        self.x = None
        self.dx = None

    def reset(self) -> None:
        self.x = self.dx = None

    def __call__(self, x) -> np.ndarray:
        """Filter the next sample ``x`` (any fixed shape); returns the smoothed sample (float64)."""
        x = np.asarray(x, np.float64)
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x.copy()
        if x.shape != self.x.shape:
            raise ValueError(f"One-Euro filter: sample shape {x.shape} differs from the first sample's {self.x.shape}")
        a_d = _alpha(self.d_cutoff, self.rate)
        self.dx = a_d * (x - self.x) * self.rate + (1 - a_d) * self.dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self.dx), self.rate)
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()


def smooth_sequence(frames, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.01) -> np.ndarray:
    """Filter a sequence (T, ...) with a fresh :class:`OneEuroFilter`; returns (T, ...) float64."""
    f = OneEuroFilter(rate, min_cutoff, beta)
    return np.stack([f(x) for x in np.asarray(frames, np.float64)])
