"""Temporal smoothing of per-frame poses: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012).

A first-order low-pass filter whose cut-off frequency rises with the signal's speed: slow movements are smoothed
strongly (less jitter), fast ones lightly (less lag). Per coordinate:

    dx̂_t = α(f_d) · (x_t − x̂_{t−1}) · rate + (1 − α(f_d)) · dx̂_{t−1}
    f_c  = min_cutoff + beta · |dx̂_t|
    x̂_t  = α(f_c) · x_t + (1 − α(f_c)) · x̂_{t−1},       α(f) = 1 / (1 + rate / (2π f))

with frequencies in Hz and ``rate`` the sampling rate: 1 / the time since the previous sample when samples come
with timestamps (a variable-frame-rate video, a track that missed frames), else the frame rate given. Vectorised
over any array shape, e.g. (J, 3) mm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OneEuroFilter", "smooth_sequence"]


def _alpha(cutoff, rate: float):
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


class OneEuroFilter:
    """One-Euro filter over arrays of a fixed shape.

    ``rate``: frames per second, used for samples given without a timestamp; ``min_cutoff`` (Hz): smoothing at
    rest (lower = smoother); ``beta``: how fast the cut-off rises with speed (in 1/units: for mm, ~0.005–0.05);
    ``d_cutoff`` (Hz): the speed estimate's cut-off. After each sample, :attr:`last_rate` is the rate it was
    filtered at.
    """

    def __init__(self, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0):
        if rate <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f"One-Euro filter: rate, min_cutoff and d_cutoff must be > 0 and beta >= 0, got "
                             f"rate={rate}, min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff}")
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = float(rate), float(min_cutoff), float(beta), float(d_cutoff)
        self.x = None
        self.dx = None
        self.t = None  # the previous sample's timestamp (s), when given
        self.last_rate = None

    def reset(self) -> None:
        self.x = self.dx = self.t = self.last_rate = None

    def __call__(self, x, t: float | None = None) -> np.ndarray:
        """Filter the next sample ``x`` (any fixed shape), taken at time ``t`` (seconds; ``None``: one frame after
        the previous sample, at ``rate``); returns the smoothed sample (float64). With timestamps the filter's
        rate is 1 / (``t`` − the previous sample's time); a timestamp that does not rise falls back to ``rate``."""
        x = np.asarray(x, np.float64)
        if t is not None:
            t = float(t)
            if not np.isfinite(t):
                raise ValueError(f"One-Euro filter: the timestamp must be finite, got {t}")
        if self.x is None:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        if x.shape != self.x.shape:
            raise ValueError(f"One-Euro filter: sample shape {x.shape} differs from the first sample's {self.x.shape}")
        rate = self.rate
        if t is not None and self.t is not None and t > self.t:
            rate = 1.0 / (t - self.t)
        if t is not None:
            self.t = t
        self.last_rate = rate
        a_d = _alpha(self.d_cutoff, rate)
        self.dx = a_d * (x - self.x) * rate + (1 - a_d) * self.dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self.dx), rate)
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()


def smooth_sequence(frames, rate: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.01,
                    times=None) -> np.ndarray:
    """Filter a sequence (T, ...) with a fresh :class:`OneEuroFilter` (``times``: each sample's timestamp in
    seconds, for a variable rate); returns (T, ...) float64."""
    f = OneEuroFilter(rate, min_cutoff, beta)
    frames = np.asarray(frames, np.float64)
    times = [None] * len(frames) if times is None else list(times)
    return np.stack([f(x, t) for x, t in zip(frames, times)])
