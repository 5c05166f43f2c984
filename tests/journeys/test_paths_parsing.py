"""The vectorised path-table parser against a plain Python reading of the contract.

`Journeys.from_paths` splits with Arrow kernels, piece by piece in threads, and looks
tokens up in a set seeded by the first tokens (`causality.journeys.paths._SAMPLE_TOKENS`);
these tests shrink that seed and the pieces (`_PIECE_ROWS`), and feed Arrow strings in
several chunks, so tokens first seen later (in any piece), blank tokens, null paths and
separators that overlap channel names all take their own branches, and check every
output array.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import causality as ca
from causality.errors import JourneyValidationError
from causality.journeys import paths as paths_module

# Letters that also make up the separators, spaces and tabs (trimmed), and non-ASCII.
ALPHABET = "ab >\t-é"
SEPARATORS = (" > ", ">", "aa", "-")

rows = st.lists(
    st.tuples(
        st.none() | st.text(alphabet=ALPHABET, max_size=12),
        st.integers(0, 3),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=12,
)


def reference_parse(table: pd.DataFrame, sep: str) -> dict[str, object]:
    """Split, trim and drop blanks row by row in Python; sort the names."""
    texts = ["" if pd.isna(p) else p for p in table["path"]]  # a missing path is empty
    tokens = [[t.strip(" \t") for t in p.split(sep) if t.strip(" \t")] for p in texts]
    names = sorted({t for row in tokens for t in row})
    code = {name: k for k, name in enumerate(names)}
    kept = [k for k, row in enumerate(tokens) if row]
    empty = [k for k, row in enumerate(tokens) if not row]
    conversions = table["conversions"].to_numpy(dtype=float)
    return {
        "channels": tuple(names),
        "codes": [code[t] for k in kept for t in tokens[k]],
        "offsets": np.cumsum([0] + [len(tokens[k]) for k in kept]).tolist(),
        "conversions": conversions[kept].tolist(),
        "nulls": table["nulls"].to_numpy(dtype=float)[kept].tolist(),
        "unattributed": float(conversions[empty].sum()),
        "invalid": any(table["nulls"].iloc[k] > 0 and conversions[k] == 0 for k in empty),
    }


def check_against_reference(table: pd.DataFrame, sep: str) -> None:
    expected = reference_parse(table, sep)
    if expected["invalid"]:
        with pytest.raises(JourneyValidationError, match="empty path"):
            ca.Journeys.from_paths(table, sep=sep)
        return
    journeys = ca.Journeys.from_paths(table, sep=sep)
    assert journeys.channels == expected["channels"]
    assert journeys.codes.tolist() == expected["codes"]
    assert journeys.offsets.tolist() == expected["offsets"]
    assert journeys.conversions.tolist() == expected["conversions"]
    assert journeys.value.tolist() == expected["conversions"]  # no value column: 1 each
    assert journeys.nulls.tolist() == expected["nulls"]
    assert journeys.unattributed_conversions == expected["unattributed"]


@settings(max_examples=150, deadline=None)
@given(
    rows=rows,
    sep=st.sampled_from(SEPARATORS),
    sample=st.sampled_from([1, 2, 5, 1 << 16]),
    piece_rows=st.sampled_from([1, 2, 3, 1 << 17]),
    strings=st.sampled_from(["object", "arrow", "arrow chunks"]),
)
def test_parse_matches_a_python_reading_of_the_contract(rows, sep, sample, piece_rows, strings):
    table = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    if strings == "object":
        table["path"] = table["path"].astype(object)
    elif strings == "arrow":
        table["path"] = table["path"].astype(pd.ArrowDtype(pa.string()))
    else:  # what pandas' read_csv gives: Arrow strings in several chunks
        paths = [None if pd.isna(p) else p for p in table["path"]]
        chunks = [paths[:1], [], paths[1:4], paths[4:]]
        table["path"] = pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks, pa.large_string()))
    with (
        patch.object(paths_module, "_SAMPLE_TOKENS", sample),
        patch.object(paths_module, "_PIECE_ROWS", piece_rows),
    ):
        check_against_reference(table, sep)


def test_channel_first_seen_after_the_seed_tokens_gets_its_sorted_code():
    # 40 rows of common channels, then a channel that sorts first and one that sorts
    # between them; a seed of 8 tokens sees neither.
    table = pd.DataFrame(
        {
            "path": ["Search > Email"] * 40 + ["Affiliate > Search", "Display", "  > Email > "],
            "conversions": [1] * 43,
            "nulls": [0] * 43,
        }
    )
    with (
        patch.object(paths_module, "_SAMPLE_TOKENS", 8),
        patch.object(paths_module, "_PIECE_ROWS", 7),  # the newcomers sit in two pieces
    ):
        journeys = ca.Journeys.from_paths(table)
        check_against_reference(table, " > ")
    assert journeys.channels == ("Affiliate", "Display", "Email", "Search")
    assert journeys.codes[-4:].tolist() == [0, 3, 1, 2]
    assert journeys.offsets[-4:].tolist() == [80, 82, 83, 84]


@pytest.mark.parametrize("threads", [1, 3])
def test_parse_is_the_same_on_any_number_of_threads(threads):
    rng = np.random.default_rng(4)
    names = np.array(["Email", "Search", "Display", " Social ", ""], dtype=object)
    paths = [" > ".join(rng.choice(names, size=int(rng.integers(1, 6)))) for _ in range(300)]
    table = pd.DataFrame({"path": paths, "conversions": 1, "nulls": 0})
    with patch.object(paths_module, "_PIECE_ROWS", 7):
        expected = ca.Journeys.from_paths(table)
        with patch.object(pa, "cpu_count", lambda: threads):
            journeys = ca.Journeys.from_paths(table)
    assert journeys.channels == expected.channels == ("Display", "Email", "Search", "Social")
    np.testing.assert_array_equal(journeys.codes, expected.codes)
    np.testing.assert_array_equal(journeys.offsets, expected.offsets)
    check_against_reference(table, " > ")
