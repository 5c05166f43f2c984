"""Choose the Markov chain's order by out-of-sample prediction of conversion."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from causality._validation import check_count, check_seed
from causality.errors import ConfigurationError
from causality.journeys import Journeys
from causality.models.markov.states import chain_structure


class OrderSelection(NamedTuple):
    """What `choose_order` found: the comparison table and the best order."""

    table: pd.DataFrame
    best_order: int


def choose_order(
    journeys: Journeys | pd.DataFrame,
    max_order: int = 4,
    *,
    n_folds: int = 5,
    seed: int | None = 0,
) -> OrderSelection:
    """Compare chain orders by how well they predict which journeys convert.

    Journeys are split at random into ``n_folds`` folds (each journey of a path
    table row goes to a fold on its own). For each fold and order, the chain is
    estimated on the other folds, and each held-out journey's probability of
    converting is its last state's chance of moving to ``(conversion)`` rather
    than ``(null)``, smoothed toward the training conversion rate with the weight
    of one journey (so states never seen in training predict that rate).

    Parameters
    ----------
    journeys : Journeys or DataFrame
    max_order : int, default 4
        Orders 1 to ``max_order`` (at most 4) are compared.
    n_folds : int, default 5
    seed : int or None, default 0

    Returns
    -------
    OrderSelection
        ``table`` indexed by ``order`` with ``log_loss`` (mean per journey, lower is
        better), ``auc`` and ``n_states``; ``best_order`` has the lowest log loss.

    Examples
    --------
    >>> import causality as ca
    >>> from causality.models.markov import choose_order
    >>> journeys = ca.Journeys.from_events(ca.datasets.load_example())
    >>> selection = choose_order(journeys, max_order=2)
    >>> list(selection.table.columns)
    ['log_loss', 'auc', 'n_states']
    """
    from causality.models.base import as_journeys

    check_count("max_order", max_order, minimum=1)
    if max_order > 4:
        raise ConfigurationError(f"max_order must be 1 to 4; got {max_order}")
    check_count("n_folds", n_folds, minimum=2)
    data = as_journeys(journeys).by_path()
    rng = np.random.default_rng(check_seed(seed))
    fold_share = np.full(n_folds, 1.0 / n_folds)
    conv_folds = _split(rng, data.conversions, fold_share)  # (n_folds, n_records)
    null_folds = _split(rng, data.nulls, fold_share)

    rows = []
    for order in range(1, max_order + 1):
        structure = chain_structure(data, order)
        loss, weight, predictions = 0.0, 0.0, []
        for fold in range(n_folds):
            train_conv = conv_folds.sum(0) - conv_folds[fold]
            train_null = null_folds.sum(0) - null_folds[fold]
            prior = train_conv.sum() / max(train_conv.sum() + train_null.sum(), 1e-300)
            state_conv = np.bincount(structure.last_state, train_conv, structure.n_states)
            state_null = np.bincount(structure.last_state, train_null, structure.n_states)
            p = (state_conv + prior) / (state_conv + state_null + 1.0)
            p = np.clip(p[structure.last_state], 1e-12, 1 - 1e-12)
            pos, neg = conv_folds[fold], null_folds[fold]
            loss -= float(pos @ np.log(p) + neg @ np.log1p(-p))
            weight += float(pos.sum() + neg.sum())
            predictions.append((p, pos, neg))
        scores = np.concatenate([p for p, _, _ in predictions])
        positives = np.concatenate([pos for _, pos, _ in predictions])
        negatives = np.concatenate([neg for _, _, neg in predictions])
        rows.append(
            {
                "order": order,
                "log_loss": loss / max(weight, 1e-300),
                "auc": weighted_auc(scores, positives, negatives),
                "n_states": structure.n_states,
            }
        )
    table = pd.DataFrame(rows).set_index("order")
    return OrderSelection(table=table, best_order=int(table["log_loss"].idxmin()))


def _split(rng: np.random.Generator, counts: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Deal each record's journeys into folds at random (integer counts; fractions kept)."""
    whole = np.floor(counts).astype(np.int64)
    folds = rng.multinomial(whole, shares).T.astype(np.float64)
    folds += (counts - whole)[None, :] * shares[:, None]
    return folds


def weighted_auc(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve with case weights: P(score_pos > score_neg), ties half."""
    order = np.argsort(scores, kind="stable")
    scores, positives, negatives = scores[order], positives[order], negatives[order]
    boundaries = np.flatnonzero(np.diff(scores)) + 1
    starts = np.concatenate([[0], boundaries])
    pos = np.add.reduceat(positives, starts)
    neg = np.add.reduceat(negatives, starts)
    negatives_below = np.cumsum(neg) - neg
    total = pos.sum() * neg.sum()
    if total <= 0:
        return float("nan")
    return float((pos @ negatives_below + 0.5 * pos @ neg) / total)
