"""Exact absorption probabilities of an absorbing Markov chain, batched over replicates.

For a batch of transition probabilities (one row per bootstrap replicate) and a
set of removals (states forced into ``(null)``), compute the probability of
reaching ``(conversion)`` from ``(start)``.

- Small chains (up to `DENSE_STATES` states) are solved densely, all replicates
  and removals in batched LAPACK calls.
- Larger chains are solved iteratively, batched with array operations. Bootstrap
  replicates of chains up to `DENSE_INVERSE_STATES` states: each removal's
  replicates together, by GMRES preconditioned with the observed chain's inverse
  (replicates differ from it only by sampling noise, so they converge in a few
  steps). Otherwise (the point estimate, and bootstrap of larger chains): every
  replicate and removal together, by fixed-point iteration with removals applied
  as masks on one block-diagonal matrix of the replicates' chains.
  Sparse LU is avoided: a state (a, b, c) leads to every (b, c, d), and these
  systems fill in badly.

A system that does not converge is solved directly, so every answer is exact to
`GMRES_TOLERANCE`; no path is ever simulated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from causality.errors import EstimationError
from causality.models.markov.states import ChainStructure

#: Chains with at most this many transient states are solved as dense batches (batched
#: LAPACK on many small matrices loses to preconditioned GMRES beyond a few dozen).
DENSE_STATES = 32
#: Chains with at most this many states keep dense inverses as preconditioners.
DENSE_INVERSE_STATES = 2_000
#: Relative residual at which a system counts as solved.
GMRES_TOLERANCE = 1e-11


def transition_probabilities(
    structure: ChainStructure,
    edges: np.ndarray,
    to_conversion: np.ndarray,
    to_null: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate: probability of each edge, and of converting from each state.

    A state no journey of a replicate visits has no exits; its probabilities stay 0,
    which is harmless because nothing reaches it.
    """
    out = to_conversion + to_null + edges @ structure.from_incidence
    safe = np.where(out > 0, out, 1.0)
    return edges / safe[:, structure.edge_from], to_conversion / safe


def conversion_probabilities(
    structure: ChainStructure,
    edge_prob: np.ndarray,
    conversion_prob: np.ndarray,
    removed: np.ndarray,
    observed_edge_prob: np.ndarray | None = None,
) -> np.ndarray:
    """P(conversion | start) per replicate and removal.

    Parameters
    ----------
    structure : ChainStructure
    edge_prob : ndarray, shape (n_batch, n_edges)
    conversion_prob : ndarray, shape (n_batch, n_states)
    removed : ndarray of bool, shape (n_removals, n_states)
        States redirected to ``(null)`` in each removal scenario.
    observed_edge_prob : ndarray, shape (n_edges,), optional
        The observed chain, whose inverse preconditions bootstrap replicates.

    Returns
    -------
    ndarray, shape (n_batch, n_removals)
    """
    if structure.n_states <= DENSE_STATES:
        return _dense(structure, edge_prob, conversion_prob, removed)
    if (
        observed_edge_prob is None
        or edge_prob.shape[0] == 1
        or structure.n_states > DENSE_INVERSE_STATES
    ):
        return _over_removals(structure, edge_prob, conversion_prob, removed)
    return _over_replicates(structure, edge_prob, conversion_prob, removed, observed_edge_prob)


def _dense(structure, edge_prob, conversion_prob, removed) -> np.ndarray:
    n_batch, n_states = conversion_prob.shape
    q = np.zeros((n_batch, n_states, n_states))
    q[:, structure.edge_from, structure.edge_to] = edge_prob
    out = np.empty((n_batch, len(removed)))
    for m, gone in enumerate(removed):  # one batched solve per removal scenario
        keep = np.flatnonzero(~gone)
        start = np.searchsorted(keep, structure.start)
        a = np.eye(len(keep)) - q[:, keep][:, :, keep]
        x = np.linalg.solve(a, conversion_prob[:, keep, None])[:, :, 0]
        out[:, m] = x[:, start]
    return out


def _transition_block(structure: ChainStructure, probs: np.ndarray) -> sp.csr_array:
    """The batch's transient matrices Q as one block-diagonal sparse matrix.

    A product with it is a single compiled sparse matrix-vector call for the batch.
    """
    n_batch, n_states = probs.shape[0], structure.n_states
    shift = (np.arange(n_batch) * n_states)[:, None]
    return sp.csr_array(
        (
            probs.ravel(),
            ((shift + structure.edge_from).ravel(), (shift + structure.edge_to).ravel()),
        ),
        shape=(n_batch * n_states, n_batch * n_states),
    )


def absorption_by_iteration(
    apply_q: Callable[[np.ndarray], np.ndarray],
    rhs: np.ndarray,
    *,
    batch_axis: int = 0,
    max_steps: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``x = rhs + Q x`` for a batch of systems by fixed-point iteration.

    ``Q`` is substochastic and every path ends, so the iteration converges
    monotonically from ``x = rhs``. It stops when the remaining error, estimated
    from the contraction of successive steps, is below `GMRES_TOLERANCE` (an
    absorption probability is at most 1, so the tolerance is absolute).

    Parameters
    ----------
    apply_q : callable
        ``apply_q(x)`` returns ``Q x`` for every system of the batch at once.
    rhs : ndarray, shape (n_batch, n_states) or, with ``batch_axis=1``, its transpose
    batch_axis : int
        The axis of ``rhs`` that runs over systems.

    Returns
    -------
    x : ndarray, shape like ``rhs``
    converged : ndarray of bool, per system
    """
    state_axis = 1 - batch_axis
    x = rhs.copy()
    n_batch = rhs.shape[batch_axis]
    previous = np.full(n_batch, np.inf)
    converged = np.zeros(n_batch, dtype=bool)
    for _ in range(max_steps):
        new = rhs + apply_q(x)
        step = np.max(np.abs(new - x), axis=state_axis)
        x = new
        # Contraction estimated from successive steps; unknown at first, so assume slow.
        ratio = np.where(
            np.isfinite(previous) & (previous > 0),
            step / np.where(previous > 0, previous, 1.0),
            1.0,
        )
        ratio = np.clip(ratio, 0.0, 0.999999)
        converged = step * ratio / (1.0 - ratio) <= GMRES_TOLERANCE
        converged |= step == 0.0
        previous = step
        if converged.all():
            break
    return x, converged


#: Replicates x states x removals solved together by the masked iteration, at most (bounds
#: its memory to a few arrays of this many float64 cells).
MASKED_BATCH_CELLS = 8_000_000


def _over_removals(structure, edge_prob, conversion_prob, removed) -> np.ndarray:
    """Every replicate and every removal solved together by one masked iteration.

    Removing states zeroes their rows and columns of Q and their right-hand side, so
    every removal shares its replicate's Q: with ``x`` held at 0 on removed states,
    ``Q_removed x = keep * (Q x)``. Each step is one sparse product of the replicates'
    block-diagonal Q with a dense (replicates x states, removals) block; no
    per-removal matrix is ever built.
    """
    n, n_batch = structure.n_states, edge_prob.shape[0]
    out = np.empty((n_batch, len(removed)))
    chunk = max(1, MASKED_BATCH_CELLS // (n * len(removed)))
    for lo in range(0, n_batch, chunk):
        hi = min(n_batch, lo + chunk)
        size = hi - lo
        keep = np.tile(np.ascontiguousarray((~removed).T), (size, 1)).astype(np.float64)
        rhs = keep * conversion_prob[lo:hi].reshape(-1, 1)  # rows: replicate-major states
        block = _transition_block(structure, edge_prob[lo:hi])
        x, converged = absorption_by_iteration(
            lambda v, block=block, keep=keep: keep * (block @ v), rhs, batch_axis=1
        )
        x = x.reshape(size, n, len(removed))
        for m in np.flatnonzero(~converged):  # fall back to direct solves, exact
            for b in range(size):
                x[b, :, m] = spla.spsolve(
                    _restricted_matrix(structure, edge_prob[lo + b], ~removed[m]),
                    np.where(removed[m], 0.0, conversion_prob[lo + b]),
                )
        out[lo:hi] = x[:, structure.start, :]
    return out


def _over_replicates(structure, edge_prob, conversion_prob, removed, observed) -> np.ndarray:
    """Bootstrap batches: for each removal, its replicates as one GMRES batch.

    Preconditioned by the observed chain's dense inverse, replicates converge in a
    few steps; used while that inverse is small (up to `DENSE_INVERSE_STATES`).
    """
    out = np.empty((conversion_prob.shape[0], len(removed)))
    for m, gone in enumerate(removed):  # one removal at a time bounds memory to one inverse
        kept_edges = ~(gone[structure.edge_from] | gone[structure.edge_to])
        probs = np.where(kept_edges, edge_prob, 0.0)
        rhs = np.where(gone, 0.0, conversion_prob)
        block = _transition_block(structure, probs)
        preconditioner = _inverse_operator(_restricted_matrix(structure, observed, ~gone))
        x, converged = batched_gmres(
            lambda v, block=block: v - (block @ v.ravel()).reshape(v.shape),
            preconditioner,
            rhs,
        )
        for b in np.flatnonzero(~converged):  # far from the observed chain: solve directly
            x[b] = spla.spsolve(_restricted_matrix(structure, probs[b], ~gone), rhs[b])
        out[:, m] = x[:, structure.start]
    return out


def _restricted_matrix(structure, probs_row, keep_mask) -> sp.csc_array:
    ok = keep_mask[structure.edge_from] & keep_mask[structure.edge_to]
    n = structure.n_states
    q = sp.csr_array(
        (probs_row[ok], (structure.edge_from[ok], structure.edge_to[ok])), shape=(n, n)
    )
    # Removed states become absorbing rows of the identity: their probability is 0.
    return (sp.identity(n, format="csr") - q).tocsc()


def _inverse_operator(matrix: sp.csc_array) -> Callable[[np.ndarray], np.ndarray]:
    """Apply ``matrix``'s inverse to a batch of rows with one dense BLAS product."""
    try:
        inverse_t = np.ascontiguousarray(np.linalg.inv(matrix.toarray()).T)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(f"the Markov chain system is singular: {exc}") from exc
    return lambda rows: rows @ inverse_t


def batched_gmres(
    matvec: Callable[[np.ndarray], np.ndarray],
    preconditioner: Callable[[np.ndarray], np.ndarray],
    rhs: np.ndarray,
    *,
    tolerance: float = GMRES_TOLERANCE,
    restart: int = 20,
    max_restarts: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve a batch of independent linear systems with right-preconditioned GMRES.

    Row ``b`` of ``rhs`` is solved against the operator ``matvec`` applies to row
    ``b``; all rows advance together, so each step is one batched product and one
    batched preconditioner application. With the observed chain's inverse as the
    preconditioner, replicates converge in a few steps.

    Returns
    -------
    x : ndarray, the solutions
    converged : ndarray of bool, whether each row reached ``tolerance`` (relative residual)
    """
    x = preconditioner(rhs)
    scale = np.maximum(np.linalg.norm(rhs, axis=1), 1e-300)
    with np.errstate(all="ignore"):  # breakdowns are guarded; a failing row is reported
        for _ in range(max_restarts):
            residual = rhs - matvec(x)
            beta = np.linalg.norm(residual, axis=1)
            converged = beta <= tolerance * scale
            if converged.all():
                break
            basis = np.zeros((rhs.shape[0], restart + 1, rhs.shape[1]))
            hessenberg = np.zeros((rhs.shape[0], restart + 1, restart))
            basis[:, 0] = residual / np.where(beta > 0, beta, 1.0)[:, None]
            for j in range(restart):  # Arnoldi steps, each batched over all rows
                w = matvec(preconditioner(basis[:, j]))
                done = basis[:, : j + 1]
                # Classical Gram-Schmidt applied twice: as stable as the modified one,
                # in batched BLAS products instead of j vector operations.
                h = np.matmul(done, w[:, :, None])[:, :, 0]
                w -= np.matmul(h[:, None, :], done)[:, 0]
                again = np.matmul(done, w[:, :, None])[:, :, 0]
                w -= np.matmul(again[:, None, :], done)[:, 0]
                hessenberg[:, : j + 1, j] = h + again
                norm = np.linalg.norm(w, axis=1)
                hessenberg[:, j + 1, j] = norm
                basis[:, j + 1] = w / np.where(norm > 0, norm, 1.0)[:, None]
            target = np.zeros((rhs.shape[0], restart + 1))
            target[:, 0] = beta
            y = np.matmul(np.linalg.pinv(hessenberg), target[:, :, None])[:, :, 0]
            y[converged] = 0.0
            x = x + preconditioner(np.matmul(y[:, None, :], basis[:, :restart])[:, 0])
        converged = np.linalg.norm(rhs - matvec(x), axis=1) <= tolerance * scale
        converged &= np.isfinite(x).all(axis=1)
    return x, converged
