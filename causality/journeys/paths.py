"""Aggregated path tables: parse them into `Journeys`, and write them back out."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from causality._validation import raise_for_rows
from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys.core import DEFAULT_SEP, Journeys, _adopting

# Tokens whose distinct values seed the lookup set (see _lookup); in practice they hold
# every channel, and later newcomers cost only a second, smaller pass.
_SAMPLE_TOKENS = 1 << 16
# Rows per piece of the path column (a chunk of pandas' Arrow strings is split further
# only past this). Pieces are parsed in threads: at 5M journeys / 10 channels (988k
# paths, read by pandas 3 in 30 chunks) the parse took 0.45-0.67 s whole and
# 0.14-0.18 s piece by piece on 2 threads.
_PIECE_ROWS = 1 << 17


def journeys_from_paths(
    df: pd.DataFrame,
    *,
    path: str = "path",
    conversions: str = "conversions",
    value: str | None = "value",
    nulls: str | None = "nulls",
    sep: str = DEFAULT_SEP,
) -> Journeys:
    """Build journeys from a path table; see `Journeys.from_paths` for the contract."""
    if not isinstance(df, pd.DataFrame):
        raise JourneyValidationError(
            f"the path table must be a pandas DataFrame; got {type(df).__name__}. Fix: read it "
            "with pandas.read_csv (note sep=';' for ChannelAttribution's Data.csv)."
        )
    if not isinstance(sep, str) or not sep.strip():
        raise ConfigurationError(f"sep must be a non-blank string such as ' > '; got {sep!r}")
    available = list(map(str, df.columns))
    for role, column in (("path", path), ("conversions", conversions)):
        if column not in df.columns:
            hint = " (ChannelAttribution's Data.csv calls it 'total_conversions')" * (
                role == "conversions"
            )
            raise JourneyValidationError(
                f"missing column {column!r} (the {role} of each path){hint}. Fix: pass "
                f"{role}='your_column'. Available: {available}"
            )
    if len(df) == 0:
        raise JourneyValidationError(
            "the path table is empty: there is nothing to attribute. Fix: pass a table with at "
            "least one path row."
        )

    for role, column, default in (("value", value, "value"), ("nulls", nulls, "nulls")):
        # The default names are optional; a name the caller chose must exist.
        if column is not None and column != default and column not in df.columns:
            raise JourneyValidationError(
                f"missing column {column!r} ({role}). Fix: pass {role}='your_column', or "
                f"{role}=None if the table has none. Available: {available}"
            )
    conv = _counts(df, conversions, "conversions")
    if value is not None and value in df.columns:
        val = _counts(df, value, "value")
    else:
        val = conv.copy()  # no value column: every conversion is worth 1
    if nulls is not None and nulls in df.columns:
        null = _counts(df, nulls, "nulls")
    else:
        null = np.zeros(len(df))

    touches_per_row, codes, names = _split_paths(df[path], sep)
    empty_row = touches_per_row == 0
    raise_for_rows(
        df,
        empty_row & (null > 0) & (conv == 0),
        column=path,
        rule="rows with an empty path but non-converting journeys",
        fix="drop those rows: a journey without touches cannot be attributed",
        show=[path, nulls],
    )
    keep = ~empty_row
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(touches_per_row[keep], out=offsets[1:])
    with _adopting():  # every array below was made here for these journeys
        return Journeys(
            channels=names,
            codes=codes,
            offsets=offsets,
            conversions=conv[keep],
            value=val[keep],
            nulls=null[keep],
            unattributed_conversions=float(conv[empty_row].sum()),
            unattributed_value=float(val[empty_row].sum()),
        )


def _split_paths(paths: pd.Series, sep: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Touch count of every row, channel code of every touch, and the channel names.

    Names are trimmed and blank ones dropped. Arrow splits the strings and hashes the
    tokens, piece by piece in threads (its kernels release the GIL); trimming and
    sorting work on the distinct raw tokens (a few dozen), and per touch only one
    gather runs (three when some token is blank), so no per-touch row index is built.
    """
    pool = _memory_pool()
    pieces = _pieces(_arrow_strings(paths, pool))
    first = pc.split_pattern(pieces[0], pattern=sep, memory_pool=pool)
    dictionary = pc.unique(first.flatten()[:_SAMPLE_TOKENS], memory_pool=pool)

    def parse(k: int) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
        lists = first if k == 0 else pc.split_pattern(pieces[k], pattern=sep, memory_pool=pool)
        return (np.diff(lists.offsets.to_numpy()), *_lookup(lists.flatten(), dictionary, pool))

    workers = min(pa.cpu_count(), len(pieces))
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="causality-paths") as executor:
            parsed = list(executor.map(parse, range(len(pieces))))
    else:
        parsed = [parse(k) for k in range(len(pieces))]
    # an empty string splits into [""]: one touch
    touches_per_row = np.concatenate([touches for touches, _, _ in parsed])
    piece_codes = [codes for _, codes, _ in parsed]
    late = [tokens for _, _, tokens in parsed if tokens is not None]
    if late:  # tokens missing from the seed set: looked up again among themselves
        late_tokens = pa.concat_arrays(late)
        late_dictionary = pc.unique(late_tokens)
        late_codes = pc.index_in(late_tokens, value_set=late_dictionary).to_numpy()
        taken = 0
        for codes, (_, _, tokens) in zip(piece_codes, parsed, strict=True):
            if tokens is not None:  # late tokens are in piece order, as `late` joined them
                unseen = codes < 0
                codes[unseen] = len(dictionary) + late_codes[taken : taken + len(tokens)]
                taken += len(tokens)
        dictionary = pa.concat_arrays([dictionary, late_dictionary])

    raw_names = np.asarray(pc.utf8_trim_whitespace(dictionary).to_pylist(), dtype=object)
    names, name_code = np.unique(raw_names, return_inverse=True)
    name_code = name_code.astype(np.int32)
    if names[0] == "":  # the blank name sorts first: drop its touches, shift the rest down
        raw_code = np.concatenate(piece_codes)
        list_offsets = np.concatenate([[0], np.cumsum(touches_per_row)])
        blank = (raw_names == "")[raw_code]
        blank_before = np.concatenate([[0], np.cumsum(blank)])[list_offsets]
        touches_per_row = touches_per_row - np.diff(blank_before)
        return touches_per_row, name_code[raw_code[~blank]] - 1, [str(n) for n in names[1:]]
    # One gather per piece, into the result: no touch-sized temporaries, whose fresh
    # pages cost as much as the gather itself.
    codes = np.empty(sum(map(len, piece_codes)), dtype=np.int32)
    end = 0
    for piece in piece_codes:
        end += len(piece)
        np.take(name_code, piece, out=codes[end - len(piece) : end])
    return touches_per_row, codes, [str(n) for n in names]


def _pieces(text: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """Zero-copy slices of at most `_PIECE_ROWS` rows, in row order."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    return [
        chunk.slice(start, _PIECE_ROWS)
        for chunk in chunks
        for start in range(0, len(chunk), _PIECE_ROWS)
    ]


def _lookup(
    tokens: pa.Array, dictionary: pa.Array, pool: pa.MemoryPool | None
) -> tuple[np.ndarray, pa.Array | None]:
    """Position of every token in ``dictionary`` (-1 where absent), and the absent tokens.

    Positions are writable where some token is absent, for the caller to fill in.
    Looking tokens up in a known set (``index_in``) is about 1.5x faster than building the
    set while hashing (``dictionary_encode``), so the set comes from the first tokens;
    the rare tokens first seen later are returned for a second, smaller pass.
    """
    index = pc.index_in(tokens, value_set=dictionary, memory_pool=pool)
    if index.null_count == 0:
        return index.to_numpy(), None
    unseen = pc.is_null(index)
    codes = index.fill_null(-1).to_numpy(zero_copy_only=False, writable=True)
    return codes, tokens.filter(unseen)


def _arrow_strings(paths: pd.Series, pool: pa.MemoryPool | None) -> pa.Array | pa.ChunkedArray:
    """The path column as Arrow strings, nulls read as empty paths."""
    text = pa.array(paths, from_pandas=True, memory_pool=pool)
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = pa.array(paths.astype("string"), from_pandas=True, memory_pool=pool)
    # pandas' Arrow-backed strings come chunked: kept so, the pieces are views of them
    return pc.coalesce(text, "", memory_pool=pool) if text.null_count else text


@functools.cache
def _memory_pool() -> pa.MemoryPool | None:
    """Arrow's jemalloc pool where this pyarrow build has one, else the default pool.

    The parse allocates a few hundred MB for a few million rows and frees it at once.
    In fresh processes on a 5M-journey table (medians of 5, alternating), the default
    mimalloc pool took 1.18 s to parse and left the Markov fit that followed at 0.66 s
    (mimalloc holds the freed memory); jemalloc took 0.81 s and 0.20 s. The price: a
    second parse in the same process is ~1.2x slower than with mimalloc (0.74 s vs 0.59 s).
    A pool the user picked with ARROW_DEFAULT_MEMORY_POOL is left alone.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # builds without jemalloc (e.g. Windows wheels)
        return None


def _counts(df: pd.DataFrame, column: str, role: str) -> np.ndarray:
    numeric = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    raise_for_rows(
        df,
        ~np.isfinite(numeric),
        column=column,
        rule=f"{role} that are missing or not numbers",
        fix=f"fill {role} with 0 or drop those rows",
        show=[column],
    )
    raise_for_rows(
        df,
        numeric < 0,
        column=column,
        rule=f"negative {role}",
        fix=f"{role} must be counts (or revenue) >= 0",
        show=[column],
    )
    return numeric


def join_paths(journeys: Journeys, *, sep: str = DEFAULT_SEP) -> np.ndarray:
    """Join each record's channel names with ``sep`` into one string per record."""
    bad = [c for c in journeys.channels if sep in c]
    if bad:
        raise JourneyValidationError(
            f"channel names contain the separator {sep!r}: {bad[:5]}. Fix: pass another sep= "
            "(e.g. sep=' | ') or rename those channels."
        )
    names = np.asarray(journeys.channels, dtype=object)
    touch_names = pd.Series(names[journeys.codes], dtype=object)
    joined = touch_names.groupby(journeys.record_of_touch(), sort=True).agg(sep.join)
    return joined.to_numpy(dtype=object)
