"""Path hashes: the table of (channel, position) hashes equals the mixer; sorted factorize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causality.journeys import hashing


def _direct(codes: np.ndarray, offsets: np.ndarray, monkeypatch) -> tuple[np.ndarray, ...]:
    with monkeypatch.context() as patch:
        patch.setattr(hashing, "_TABLE_PAIRS", 0)  # every touch through the mixer
        return hashing.path_hashes(codes, offsets)


@settings(max_examples=60, deadline=None)
@given(
    journeys=st.lists(
        st.lists(st.integers(0, 40), min_size=1, max_size=30), min_size=1, max_size=40
    )
)
def test_table_hashes_equal_the_mixer(journeys):
    codes = np.array([c for journey in journeys for c in journey], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(j) for j in journeys])]).astype(np.int64)
    with pytest.MonkeyPatch.context() as monkeypatch:
        direct = _direct(codes, offsets, monkeypatch)
    tabled = hashing.path_hashes(codes, offsets)
    for mine, ref in zip(tabled, direct, strict=True):
        np.testing.assert_array_equal(mine, ref)


def test_the_table_is_used_for_few_pairs_and_skipped_for_many(monkeypatch):
    calls = []
    mixer = hashing._splitmix64
    monkeypatch.setattr(hashing, "_splitmix64", lambda x: calls.append(np.size(x)) or mixer(x))
    offsets = np.array([0, 3, 5])
    hashing.path_hashes(np.array([0, 1, 2, 1, 0]), offsets)
    assert calls == [3 * 3]  # 3 channels x a longest path of 3: the table, not the touches
    calls.clear()
    monkeypatch.setattr(hashing, "_TABLE_PAIRS", 8)
    hashing.path_hashes(np.array([0, 1, 2, 1, 0]), offsets)
    assert calls == [5]  # over the limit: every touch mixed


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 2**64 - 1), max_size=200))
def test_sorted_factorize_is_numpys_unique_with_inverse(values):
    keys = np.array(values, dtype=np.uint64)
    distinct, ids = hashing.sorted_factorize(keys)
    ref_distinct, ref_ids = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(distinct, ref_distinct)
    np.testing.assert_array_equal(ids, ref_ids.ravel())
    assert ids.dtype == np.int64
