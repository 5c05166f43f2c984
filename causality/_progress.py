"""Progress bars for long work (bootstrap, MCMC, imports, report rendering).

One switch for the whole library: ``progress=None`` (the default everywhere) shows a bar only
when someone is watching, that is when standard error is a terminal or the code runs in a
Jupyter kernel, and never when ``CAUSALITY_PROGRESS=0``. ``progress=True`` forces a bar and
``progress=False`` silences it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def progress_enabled(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` if given, else whether someone is watching."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CAUSALITY_PROGRESS", "").strip().lower() in {"0", "false", "no", "off"}:
        return False
    return _in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def _tqdm() -> Any:
    """The notebook widget bar where ipywidgets is installed, the text bar otherwise."""
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:  # a text bar beats tqdm's warning about missing widgets
            pass
    from tqdm.std import tqdm

    return tqdm


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


@contextmanager
def progress_bar(total: int | None, desc: str, progress: bool | None = None) -> Iterator[Any]:
    """Context manager yielding an object with ``update(n)``; silent when not enabled.

    Examples
    --------
    >>> with progress_bar(3, "replicates", progress=False) as bar:
    ...     for _ in range(3):
    ...         bar.update(1)
    """
    if not progress_enabled(progress):
        yield _Silent()
        return
    with _tqdm()(total=total, desc=desc, leave=False, dynamic_ncols=True) as bar:
        yield bar


def track(
    iterable: Iterable[T], desc: str, total: int | None = None, progress: bool | None = None
) -> Iterator[T]:
    """Iterate ``iterable`` with a progress bar when enabled.

    Examples
    --------
    >>> list(track(range(3), "chunks", progress=False))
    [0, 1, 2]
    """
    if not progress_enabled(progress):
        yield from iterable
        return
    yield from _tqdm()(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
