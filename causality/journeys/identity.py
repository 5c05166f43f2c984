"""Identity stitching: map user ids and anonymous ids to one person per event."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from causality._validation import raise_for_rows
from causality.errors import DataWarning


def stitch_identities(
    events: pd.DataFrame, *, user: str, anonymous: str, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give every event a person code.

    A row carrying both a user id and an anonymous id links them: every event of
    that anonymous id then belongs to that user. An anonymous id belongs to the
    first user id it is linked to (by timestamp, ties by row order); two user ids
    are never merged, and a `DataWarning` counts anonymous ids linked to several
    users. Anonymous ids never linked stay persons of their own.

    Returns
    -------
    person : ndarray of int64
        Person code per event. Users come first, in sorted id order, then unlinked
        anonymous ids in sorted order, so codes do not depend on row order.
    labels : ndarray of object
        Person label per code: the user id, or the anonymous id.
    """
    n = len(events)
    user_col = _ids(events, user, n)
    anon_col = _ids(events, anonymous, n)
    has_user = user_col.notna().to_numpy()
    has_anon = anon_col.notna().to_numpy()
    raise_for_rows(
        events,
        ~has_user & ~has_anon,
        column=f"{user}/{anonymous}",
        rule="events with neither a user id nor an anonymous id",
        fix="drop those events or fill an id for them",
        show=[c for c in (user, anonymous) if c in events.columns],
    )
    user_codes, user_names = pd.factorize(user_col, sort=True)
    anon_codes, anon_names = pd.factorize(anon_col, sort=True)
    n_users = len(user_names)

    anon_owner = np.full(len(anon_names), -1, dtype=np.int64)
    linked = np.flatnonzero(has_user & has_anon)
    if len(linked):
        links = linked[np.argsort(times[linked], kind="stable")]
        pairs = pd.DataFrame({"anon": anon_codes[links], "user": user_codes[links]})
        first = pairs.drop_duplicates("anon", keep="first")
        anon_owner[first["anon"].to_numpy()] = first["user"].to_numpy()
        conflicts = int((pairs.groupby("anon")["user"].nunique() > 1).sum())
        if conflicts:
            warnings.warn(
                f"{conflicts:,} anonymous ids are linked to more than one user id; each was "
                "assigned to the first user it was linked to (user ids are never merged).",
                DataWarning,
                stacklevel=5,
            )
    unlinked = anon_owner < 0
    anon_owner[unlinked] = n_users + np.arange(int(unlinked.sum()))

    person = np.asarray(user_codes, dtype=np.int64).copy()
    from_anon = ~has_user
    person[from_anon] = anon_owner[anon_codes[from_anon]]
    labels = np.concatenate(
        [np.asarray(user_names, dtype=object), np.asarray(anon_names, dtype=object)[unlinked]]
    )
    return person.astype(np.int64), labels


def _ids(events: pd.DataFrame, column: str, n: int) -> pd.Series:
    if column not in events.columns:
        return pd.Series(pd.NA, index=events.index, dtype="string")
    col = events[column]
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        col = col.astype("string")
        col = col.mask(col.str.strip() == "")
    return col
