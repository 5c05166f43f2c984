"""Counter-based keyed uniforms: every random draw is a pure function of what it decides.

A sequential generator hands out numbers in the order they are consumed, so removing one
channel from a simulated world shifts every later draw and the factual and counterfactual
worlds differ everywhere. Here a draw is instead a hash of ``(seed, purpose, channel, user,
day)`` pushed through the splitmix64 finaliser, vectorised in numpy ``uint64`` arithmetic
(which wraps modulo 2**64, as the mixer needs). Two worlds that ask for the same
``(purpose, channel, user, day)`` get the same number, whichever else they ask for: common
random numbers by construction, and chunking users changes nothing.

Keys are folded in a fixed order (channel, user, day) with broadcasting, so a dense grid
``keyed_uniform(s, p, users[:, None], days[None, :])`` and the same cells asked one by one
give identical numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["keyed_normal", "keyed_uniform", "name_key"]

_MASK = (1 << 64) - 1
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# Distinct odd multipliers per key slot, so (user=1, day=2) and (user=2, day=1) differ.
_SLOT = {
    "channel": np.uint64(0x9E3779B97F4A7C15),
    "user": np.uint64(0xD1B54A32D192ED03),
    "day": np.uint64(0x8CB92BA72F3D8DD7),
}


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Splitmix64 finaliser, in place on a fresh array (a bijection with full avalanche)."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def name_key(name: str) -> int:
    """Stable 64-bit key of a string (``hash()`` is salted per process, so not usable).

    Examples
    --------
    >>> name_key("Email") == name_key("Email")
    True
    """
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _fold(h: NDArray[np.uint64], key: ArrayLike, slot: str) -> NDArray[np.uint64]:
    k = np.asarray(key)
    # Negative days (pre-period) wrap to large uint64: still distinct and deterministic.
    k = k.astype(np.int64).astype(np.uint64) if k.dtype.kind in "iu" else k.astype(np.uint64)
    return _mix(h + (k + np.uint64(1)) * _SLOT[slot])


def _hash(
    seed: int, purpose: str, user: ArrayLike, day: ArrayLike | None, channel: str | None
) -> NDArray[np.uint64]:
    base = name_key(f"{int(seed)}/{purpose}")
    h = np.asarray(np.uint64(base & _MASK)).reshape(())
    with np.errstate(over="ignore"):
        if channel is not None:
            h = _fold(h.copy(), name_key(channel), "channel")
        h = _fold(np.array(h, copy=True), user, "user")
        if day is not None:
            h = _fold(np.array(h, copy=True), day, "day")
    return h


def keyed_uniform(
    seed: int,
    purpose: str,
    user: ArrayLike,
    day: ArrayLike | None = None,
    channel: str | None = None,
    *,
    dtype: type = np.float64,
) -> NDArray[np.floating]:
    """Uniform draws keyed by ``(seed, purpose, channel, user, day)``.

    Parameters
    ----------
    seed
        The simulation seed.
    purpose
        What the draw decides (``"expose"``, ``"convert"``, ...); each purpose is its own
        independent stream.
    user, day
        Integer arrays, broadcast against each other (``day`` may be omitted).
    channel
        Channel name, keyed by name so that dropping another channel changes nothing.
    dtype
        ``np.float64`` gives values in the open interval (0, 1) (safe for inverse CDFs);
        ``np.float32`` gives exact multiples of 2**-24 in [0, 1), half the memory.

    Returns
    -------
    numpy.ndarray
        The broadcast shape of ``user`` and ``day``.

    Examples
    --------
    >>> import numpy as np
    >>> u = keyed_uniform(0, "expose", np.arange(3)[:, None], np.arange(4)[None, :], "Email")
    >>> u.shape
    (3, 4)
    >>> bool(u[1, 2] == keyed_uniform(0, "expose", 1, 2, "Email"))
    True
    """
    h = _hash(seed, purpose, user, day, channel)
    if np.dtype(dtype) == np.float32:
        return (h >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def keyed_normal(
    seed: int, purpose: str, user: ArrayLike, day: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Standard normal draws keyed like :func:`keyed_uniform` (inverse CDF of a uniform).

    Examples
    --------
    >>> import numpy as np
    >>> z = keyed_normal(0, "intent", np.arange(100_000))
    >>> bool(abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02)
    True
    """
    from scipy.special import ndtri

    return ndtri(keyed_uniform(seed, purpose, user, day))
