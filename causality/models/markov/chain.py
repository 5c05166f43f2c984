"""Exact absorption probabilities of an absorbing Markov chain, batched over replicates.

For a batch of transition counts (one row per bootstrap replicate) and a set of
removals (states forced into ``(null)``), compute the probability of reaching
``(conversion)`` from ``(start)``. Small chains are solved densely, all replicates
at once. Large chains are inverted (or factorised) once per removal from the observed
counts; each replicate is then solved by GMRES preconditioned with that inverse,
batched over replicates, which converges in a few steps because replicates differ
from the observed chain by sampling noise. Replicates that do not converge are
solved directly, so every answer is exact to a relative residual of 1e-11.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from causality.errors import EstimationError
from causality.models.markov.states import ChainStructure

#: Chains with at most this many transient states are solved as dense batches.
DENSE_STATES = 256
#: Chains with at most this many states keep dense inverses as preconditioners.
DENSE_INVERSE_STATES = 2_000
#: Relative residual at which a replicate's system counts as solved.
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
        The observed chain, whose inverse preconditions the replicates of large
        chains; without it every row is solved directly.

    Returns
    -------
    ndarray, shape (n_batch, n_removals)
    """
    if structure.n_states <= DENSE_STATES:
        return _dense(structure, edge_prob, conversion_prob, removed)
    if observed_edge_prob is None or edge_prob.shape[0] == 1:
        return _direct(structure, edge_prob, conversion_prob, removed)
    return _preconditioned(structure, edge_prob, conversion_prob, removed, observed_edge_prob)


def _direct(structure, edge_prob, conversion_prob, removed) -> np.ndarray:
    out = np.empty((conversion_prob.shape[0], len(removed)))
    for m, gone in enumerate(removed):
        keep = ~gone
        for b in range(edge_prob.shape[0]):
            matrix = _restricted_matrix(structure, edge_prob[b], keep)
            x = spla.spsolve(matrix, np.where(keep, conversion_prob[b], 0.0))
            out[b, m] = x[structure.start]
    return out


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


def _restricted_matrix(structure, probs_row, keep_mask) -> sp.csc_array:
    ok = keep_mask[structure.edge_from] & keep_mask[structure.edge_to]
    n = structure.n_states
    q = sp.csr_array(
        (probs_row[ok], (structure.edge_from[ok], structure.edge_to[ok])), shape=(n, n)
    )
    # Removed states become absorbing rows of the identity: their probability is 0.
    return (sp.identity(n, format="csr") - q).tocsc()


def _inverse_operator(matrix: sp.csc_array) -> Callable[[np.ndarray], np.ndarray]:
    """Apply ``matrix``'s inverse to a batch of rows: dense BLAS when small, sparse LU else."""
    try:
        if matrix.shape[0] <= DENSE_INVERSE_STATES:
            inverse_t = np.ascontiguousarray(np.linalg.inv(matrix.toarray()).T)
            return lambda rhs: rhs @ inverse_t
        lu = spla.splu(matrix)
    except (RuntimeError, np.linalg.LinAlgError) as exc:
        raise EstimationError(f"the Markov chain system is singular: {exc}") from exc
    return lambda rhs: lu.solve(np.ascontiguousarray(rhs.T)).T


def _preconditioned(structure, edge_prob, conversion_prob, removed, observed) -> np.ndarray:
    out = np.empty((conversion_prob.shape[0], len(removed)))
    for m, gone in enumerate(removed):  # one removal at a time bounds memory to one inverse
        keep = ~gone
        edge_ok = keep[structure.edge_from] & keep[structure.edge_to]
        probs = np.where(edge_ok, edge_prob, 0.0)
        rhs = np.where(keep, conversion_prob, 0.0)

        def matvec(x, probs=probs):
            return x - (probs * x[:, structure.edge_to]) @ structure.from_incidence

        preconditioner = _inverse_operator(_restricted_matrix(structure, observed, keep))
        x, converged = batched_gmres(matvec, preconditioner, rhs)
        for b in np.flatnonzero(~converged):  # far from the observed chain: solve directly
            x[b] = spla.spsolve(_restricted_matrix(structure, probs[b], keep), rhs[b])
        out[:, m] = x[:, structure.start]
    return out


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
            basis = np.zeros((restart + 1, *rhs.shape))
            hessenberg = np.zeros((rhs.shape[0], restart + 1, restart))
            basis[0] = residual / np.where(beta > 0, beta, 1.0)[:, None]
            for j in range(restart):  # Arnoldi steps, each batched over all rows
                w = matvec(preconditioner(basis[j]))
                for i in range(j + 1):
                    h = np.einsum("bn,bn->b", w, basis[i])
                    hessenberg[:, i, j] = h
                    w -= h[:, None] * basis[i]
                norm = np.linalg.norm(w, axis=1)
                hessenberg[:, j + 1, j] = norm
                basis[j + 1] = w / np.where(norm > 0, norm, 1.0)[:, None]
            target = np.zeros((rhs.shape[0], restart + 1))
            target[:, 0] = beta
            y = np.einsum("bij,bj->bi", np.linalg.pinv(hessenberg), target)
            y[converged] = 0.0
            x = x + preconditioner(np.einsum("bj,jbn->bn", y, basis[:restart]))
        converged = np.linalg.norm(rhs - matvec(x), axis=1) <= tolerance * scale
        converged &= np.isfinite(x).all(axis=1)
    return x, converged
