"""The sums over the blocks of a variance structure that the REML and ML derivatives are
built from (:mod:`.reml`): traces, quadratic forms and the ``X'V^-1 G V^-1 X`` sums, per batch
of equal-sized blocks as matrix products, and for batches of 1 × 1 blocks (the rotated rows of
Balint groups) as weighted sums over the rows, optionally per covariance pattern
(:func:`group_scalar_rows`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: reml imports this module
    from balint_analysis.models.reml import VarianceStructure, _Batch

__all__ = ["group_scalar_rows", "residual_sums", "response_free_sums", "response_sums"]


def _pair_traces(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``out[i, j] = sum over blocks of tr(P_i Q_j)`` for stacks (K, m, nb, nb)."""
    K = P.shape[0]
    return P.reshape(K, -1) @ np.swapaxes(Q, -1, -2).reshape(K, -1).T


def residual_sums(struct, beta, cache, *, fixed_derivatives: bool):
    """Sums over the blocks of the quantities the REML and ML derivatives are built from.

    ``e = V^-1 (y - X beta)``; returns ``quad = r'V^-1 r``, ``tr(V^-1 G_k)``, ``e'G_k e``,
    ``X'V^-1 G_k e``, ``tr(V^-1 G_i V^-1 G_j)``, ``e'G_i V^-1 G_j e`` and, when
    ``fixed_derivatives``, ``X'V^-1 G_k V^-1 X`` and ``X'V^-1 G_i V^-1 G_j V^-1 X`` (REML only).
    """
    tr_vg, tr_hh, A, B = response_free_sums(struct, cache, fixed_derivatives=fixed_derivatives)
    quad, y_pgp_y, q, v_vinv_v = response_sums(struct, beta, cache)
    return quad, tr_vg, y_pgp_y, q, tr_hh, v_vinv_v, A, B


def response_free_sums(struct, cache, *, fixed_derivatives: bool):
    """The sums of :func:`residual_sums` that do not involve the response: ``tr(V^-1 G_k)``,
    ``tr(V^-1 G_i V^-1 G_j)`` and (``fixed_derivatives``) the ``X'V^-1 G V^-1 X`` sums."""
    K1, p = struct.n_par, struct.X.shape[1]
    tr_vg, tr_hh = np.zeros(K1), np.zeros((K1, K1))
    A = np.zeros((K1, p, p)) if fixed_derivatives else None
    B = np.zeros((K1, K1, p, p)) if fixed_derivatives else None
    for batch, (Gall, Vinv, W) in zip(struct.batches, cache, strict=True):
        if batch.y.shape[1] == 1:
            sums = _scalar_block_free_sums(batch, Gall, Vinv, fixed_derivatives)
            for total, part in zip((tr_vg, tr_hh, A, B), sums, strict=True):
                if part is not None:
                    total += part  # in place
            continue
        H = np.matmul(Vinv[None], Gall)  # (K1, m, nb, nb)
        tr_vg += np.trace(H, axis1=-2, axis2=-1).sum(axis=1)
        tr_hh += _pair_traces(H, H)
        if fixed_derivatives:
            # Patterns that vanish on this whole batch (a group effect no block here loads on)
            # add exact zeros: left out of the costliest sums (p x p per row and pair).
            act = np.flatnonzero(np.any(Gall.reshape(K1, -1) != 0, axis=1))
            Gact = Gall if act.size == K1 else Gall[act]
            GW = np.matmul(Gact, W[None])  # (K, m, nb, p)
            VGW = np.matmul(Vinv[None], GW)
            gw = GW.reshape(act.size, -1, p)
            A[act] += W.reshape(-1, p).T[None] @ gw
            B[np.ix_(act, act)] += (np.swapaxes(gw, 1, 2)[:, None]
                                    @ VGW.reshape(act.size, -1, p)[None])  # fmt: skip
    return tr_vg, tr_hh, A, B


def response_sums(struct, beta, cache):
    """The sums of :func:`residual_sums` that involve the response: ``r'V^-1 r``,
    ``e'G_k e``, ``X'V^-1 G_k e`` and ``e'G_i V^-1 G_j e``."""
    K1, p = struct.n_par, struct.X.shape[1]
    quad = 0.0
    y_pgp_y, q, v_vinv_v = np.zeros(K1), np.zeros((K1, p)), np.zeros((K1, K1))
    for batch, (Gall, Vinv, W) in zip(struct.batches, cache, strict=True):
        if batch.y.shape[1] == 1:
            # 1 x 1 blocks (the rotated rows of Balint groups): elementwise, in closed form.
            v, g = Vinv[:, 0, 0], Gall[:, :, 0, 0]
            r = batch.y[:, 0] - batch.X[:, 0, :] @ beta
            e = v * r
            quad += float(e @ r)
            Ge = g * e
            y_pgp_y += Ge @ e
            q += Ge @ W[:, 0, :]
            v_vinv_v += Ge @ (Ge * v).T
            continue
        r = batch.y - batch.X @ beta
        e = np.matmul(Vinv, r[..., None])[..., 0]
        quad += float(np.vdot(e, r))
        Ge = np.matmul(Gall, e[None, ..., None])[..., 0]  # (K1, m, nb)
        VGe = np.matmul(Vinv[None], Ge[..., None])[..., 0]
        y_pgp_y += (Ge * e[None]).sum(axis=(1, 2))
        q += Ge.reshape(K1, -1) @ W.reshape(-1, p)
        v_vinv_v += Ge.reshape(K1, -1) @ VGe.reshape(K1, -1).T
    return quad, y_pgp_y, q, v_vinv_v


def _scalar_block_free_sums(batch: _Batch, Gall, Vinv, fixed_derivatives: bool):
    """:func:`response_free_sums` over a batch of 1 × 1 blocks (tens of thousands in large
    designs: the rotated rows of Balint groups) in closed form.

    With scalar ``v = V^-1``, ``g_k = G_k`` and ``w = v x`` per block, every product is a
    weighted sum over the rows: ``X'V^-1 G_k V^-1 X = X' diag(g_k v^2) X`` and
    ``X'V^-1 G_i V^-1 G_j V^-1 X = X' diag(g_i g_j v^3) X`` (symmetric in ``i, j``), one
    weighted Gram matrix per pattern and pair instead of an outer product per block."""
    K1 = Gall.shape[0]
    patterns = batch.derived.get("patterns")
    if patterns is None:
        v = Vinv[:, 0, 0]
        g = Gall[:, :, 0, 0]  # (K1, m)
        H = g * v  # V^-1 G_k per block
        sums = [H.sum(axis=1), H @ H.T, None, None]
    else:  # one column per covariance pattern, weighted by its number of rows
        _, first, count, _, _ = patterns
        v, g = Vinv[first, 0, 0], Gall[:, first, 0, 0]
        H = g * v
        sums = [H @ count, (H * count) @ H.T, None, None]
    if fixed_derivatives:
        p = batch.X.shape[2]
        # Patterns that vanish on the whole batch add exact zeros: left out.
        act = np.flatnonzero(np.any(g != 0, axis=1))
        pairs = [(i, j) for a, i in enumerate(act) for j in act[a:]]
        hv = H * v
        weights = np.empty((act.size + len(pairs), v.size))
        weights[: act.size] = hv[act]
        for row, (i, j) in enumerate(pairs, start=act.size):
            np.multiply(H[i], hv[j], out=weights[row])
        upper, outer = _row_outer_products(batch)
        if patterns is not None:
            outer = patterns[3]  # the rows' outer products summed per pattern
        grams = np.zeros((len(weights), p, p))
        grams[:, upper[0], upper[1]] = weights @ outer  # one matrix product for all sums
        grams = grams + np.triu(grams, 1).swapaxes(1, 2)
        A, B = np.zeros((K1, p, p)), np.zeros((K1, K1, p, p))
        A[act] = grams[: act.size]
        for (i, j), gram in zip(pairs, grams[act.size:], strict=True):
            B[i, j] = B[j, i] = gram
        sums[2:] = [A, B]
    return sums


def _row_outer_products(batch: _Batch) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The upper triangle of ``x x'`` of every row of a batch of 1 × 1 blocks (m, p(p+1)/2),
    computed once per design: a weighted Gram matrix ``X' diag(w) X`` is then ``w @ outer``."""
    if "outer" not in batch.derived:
        x = batch.X[:, 0, :]
        upper = np.triu_indices(x.shape[1])
        batch.derived["outer"] = (upper, np.ascontiguousarray(x[:, upper[0]] * x[:, upper[1]]))
    return batch.derived["outer"]


def group_scalar_rows(struct: VarianceStructure) -> None:
    """Let the batches of 1 × 1 blocks of ``struct`` (and of its copies with another response)
    be evaluated per covariance pattern instead of per row.

    Every row of such a batch has ``V^-1 = v`` and ``G_k = g_k`` set by its pattern (its column
    of the patterns' weights), so the weighted sums over the rows (``X'V^-1 X``, the traces,
    ``X'V^-1 G V^-1 X``) are per-pattern weights times per-pattern sums computed here once: the
    rotated rows of a W2-sized completed design (56,250 rows) have 2 patterns. The same
    numbers as the per-row sums up to rounding (they are summed in another order), so the model
    stage does not use it: it keeps its results bit-identical across versions.
    """
    for batch in struct.batches:
        if batch.y.shape[1] != 1 or batch.cs_weights is None or "patterns" in batch.derived:
            continue
        _, first, codes, count = np.unique(batch.Gall[:, :, 0, 0], axis=1,
                                           return_index=True, return_inverse=True,
                                           return_counts=True)  # fmt: skip
        if 2 * len(first) > batch.y.shape[0]:
            continue  # hardly fewer patterns than rows: nothing to gain
        codes = codes.reshape(-1)
        upper, outer = _row_outer_products(batch)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(count)[:-1]])
        sums = np.add.reduceat(outer[order], starts, axis=0)  # (patterns, p(p+1)/2)
        p = batch.X.shape[2]
        xx = np.zeros((len(sums), p, p))
        xx[:, upper[0], upper[1]] = sums
        xx = xx + np.triu(xx, 1).swapaxes(1, 2)
        batch.derived["patterns"] = (codes, first, count.astype(float), sums, xx)
