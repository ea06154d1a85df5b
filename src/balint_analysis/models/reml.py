"""REML and ML criteria of variance-component mixed models, with exact derivatives.

A linear mixed model with independent scalar random effects has the block-diagonal marginal
covariance

    V(phi) = sum_k phi_k G_k + phi_res I,        G_k = Z_k Z_k',

where ``phi_k`` is the variance of random-effect component ``k`` (a random intercept per
participant: ``Z_k`` = participant indicators; the partially nested Balint-group effect:
``Z_k`` = cluster indicators times ``treated_post``). Everything here is generic in the
components, so the random-intercept and the partially nested model share one code path.

:func:`variance_structure` stacks the independent blocks by size; :func:`reml_state` evaluates,
at given variances, the GLS fixed effects, their covariance ``C = (X' V^-1 X)^-1``, the REML
deviance (= lme4's ``REMLcrit``) with its exact gradient and observed Hessian, and
``dC/dphi``; :func:`ml_state` the ML deviance and its derivatives. The sums over blocks are
matrix products (BLAS) over stacks of equal-sized blocks. Blocks with compound symmetry
(``V = s I + a J``: a participant's observations under a random intercept, the common case)
get their inverse and determinant in closed form; the others (a Balint group's members, whose
post-baseline observations share the group effect) are inverted as dense stacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from balint_analysis.models.block_sums import residual_sums, response_free_sums, response_sums

__all__ = [
    "MlState",
    "RemlState",
    "ResponseFree",
    "VarianceStructure",
    "gls_blocks",
    "gls_solution",
    "ml_state",
    "reml_state",
    "response_free",
    "variance_structure",
]

_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class _Batch:
    """Blocks of one size stacked: X (m, nb, p), y (m, nb) and the covariance patterns
    ``Gall`` (K + n_res, m, nb, nb): one per component, then the residual pattern(s)."""

    X: np.ndarray
    y: np.ndarray
    Gall: np.ndarray
    #: Compound symmetry: pattern k of block m is ``weights[k, m]`` times the all-ones matrix
    #: (components) or the identity (residual patterns), so ``V = s I + a J`` per block and
    #: its inverse and determinant have closed forms. None when some block is not of that form.
    cs_weights: np.ndarray | None = None
    #: Response-independent arrays computed on first use (shared by copies with another
    #: response, :func:`dataclasses.replace`): see :func:`_row_outer_products`.
    derived: dict = field(default_factory=dict, compare=False, repr=False)


def _batches(X, y, G, R, idx) -> list[_Batch]:
    """One batch of equal-sized blocks, split into the compound-symmetric blocks (a random
    intercept per participant, the common case) and the others (Balint-group clusters)."""
    Gall = np.concatenate([G, R], axis=0)
    nb = idx.shape[1]
    first = Gall[:, :, :1, :1]  # the (0, 0) entry of every pattern of every block
    off_diagonal = ~np.eye(nb, dtype=bool)
    constant_components = np.all(np.equal(G, first[: G.shape[0]]), axis=(0, 2, 3))
    scalar_residuals = np.all(np.equal(np.diagonal(R, axis1=2, axis2=3), first[G.shape[0]:, :, 0]),
                              axis=(0, 2)) & np.all(R[:, :, off_diagonal] == 0, axis=(0, 2))
    cs = constant_components & scalar_residuals
    out = []
    for mask, closed in ((cs, True), (~cs, False)):
        if mask.any():
            weights = first[:, mask, 0, 0] if closed else None
            out.append(_Batch(X=X[idx[mask]], y=y[idx[mask]], Gall=Gall[:, mask],
                              cs_weights=weights))  # fmt: skip
    return out


@dataclass(frozen=True)
class VarianceStructure:
    """Fixed-effects design, response and random-effect covariance patterns of one model.

    Attributes
    ----------
    X : numpy.ndarray
        Fixed-effects design (n × p), full column rank.
    y : numpy.ndarray
        Response (n,).
    names : tuple of str
        Random-effect components, in the order of ``phi``; the residual comes last in ``phi``.
    batches : tuple
        Independent blocks grouped by size (internal).
    residual_levels : tuple of str
        Empty: one residual variance (last in ``phi``). Otherwise one residual variance per
        level, in this order, at the end of ``phi`` (heteroscedastic residuals, nlme's
        ``varIdent``).
    """

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]
    batches: tuple[_Batch, ...]
    residual_levels: tuple[str, ...] = ()

    @property
    def n_res(self) -> int:
        """Number of residual variances."""
        return max(1, len(self.residual_levels))

    @property
    def n_par(self) -> int:
        """Number of variance parameters (components + residual variances)."""
        return len(self.names) + self.n_res


def variance_structure(
    X: np.ndarray,
    y: np.ndarray,
    blocks: Sequence,
    components: Mapping[str, tuple[Sequence, Sequence[float]]],
    residual_groups: Sequence | None = None,
    residual_levels: Sequence[str] | None = None,
) -> VarianceStructure:
    """Describe ``V(phi)`` for a model with independent scalar random effects.

    Parameters
    ----------
    X : array_like
        Fixed-effects design (n × p).
    y : array_like
        Response (n,).
    blocks : array_like
        Independent-block label per observation (statsmodels' ``groups``): every level of every
        component must lie inside one block.
    components : mapping
        ``name -> (levels, z)``: observation ``i`` loads ``z[i]`` on the random effect of level
        ``levels[i]`` (a random intercept has ``z = 1``).
    residual_groups, residual_levels : array_like, sequence of str, optional
        Residual-variance group of every observation and the order of the groups: one residual
        variance per group (``Var(e_i) = phi_res[g(i)]``) instead of one common variance.

    Returns
    -------
    VarianceStructure
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    blocks = np.asarray(blocks)
    if X.ndim != 2 or X.shape[0] != y.shape[0] or blocks.shape[0] != y.shape[0]:
        raise ValueError("X, y and blocks must describe the same observations")
    _, block_codes = np.unique(blocks, return_inverse=True)
    comp = {}
    for name, (levels, z) in components.items():
        levels = np.asarray(levels)
        z = np.asarray(z, dtype=float)
        if levels.shape[0] != y.shape[0] or z.shape[0] != y.shape[0]:
            raise ValueError(f"component {name!r} does not match the observations")
        _, level_codes = np.unique(levels, return_inverse=True)
        lowest = np.full(level_codes.max(initial=-1) + 1, block_codes.size)
        highest = np.full(lowest.size, -1)
        np.minimum.at(lowest, level_codes, block_codes)
        np.maximum.at(highest, level_codes, block_codes)
        if np.any(lowest != highest):
            raise ValueError(f"levels of component {name!r} are not nested in the blocks")
        comp[name] = (level_codes, z)  # integer codes: only equality of levels matters
    res_levels: tuple[str, ...] = ()
    if residual_groups is not None:
        res_levels = tuple(str(v) for v in residual_levels)
        res_labels = np.asarray(residual_groups).astype(str)
        if res_labels.shape[0] != y.shape[0] or not set(res_labels) <= set(res_levels):
            raise ValueError("residual_groups must give a listed level for every observation")
    # Observations of each block, blocks grouped by size: (m, size) index arrays, blocks in
    # code order, rows in input order within a block.
    order = np.argsort(block_codes, kind="stable")
    sizes = np.bincount(block_codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    by_size = {int(size): order[starts[sizes == size][:, None] + np.arange(size)[None, :]]
               for size in np.unique(sizes)}  # fmt: skip
    batches = []
    for size in sorted(by_size):
        idx = by_size[size]  # (m, nb)
        G = np.empty((len(comp), idx.shape[0], size, size))
        for k, (levels, z) in enumerate(comp.values()):
            lv, zz = levels[idx], z[idx]
            G[k] = (lv[:, :, None] == lv[:, None, :]) * zz[:, :, None] * zz[:, None, :]
        if res_levels:
            lab = res_labels[idx]
            R = np.stack([np.eye(size)[None] * (lab == lv)[:, :, None] for lv in res_levels])
        else:
            R = np.broadcast_to(np.eye(size), (1, idx.shape[0], size, size))
        batches.extend(_batches(X, y, G, R, idx))
    return VarianceStructure(X=X, y=y, names=tuple(comp), batches=tuple(batches),
                             residual_levels=res_levels)


@dataclass(frozen=True)
class RemlState:
    """REML quantities at one variance vector ``phi`` (components..., residual).

    Attributes
    ----------
    phi : numpy.ndarray
        Variances (their own scale), residual last.
    beta, cov_beta : numpy.ndarray
        GLS fixed effects and ``C = (X' V^-1 X)^-1``.
    deviance : float
        REML deviance ``-2 log L_R`` including constants (lme4's ``REMLcrit``).
    gradient, hessian : numpy.ndarray
        First and second derivatives of the deviance with respect to ``phi``.
    dcov : numpy.ndarray
        ``dC / dphi_k`` stacked (K+1, p, p).
    """

    phi: np.ndarray
    beta: np.ndarray
    cov_beta: np.ndarray
    deviance: float
    gradient: np.ndarray
    hessian: np.ndarray
    dcov: np.ndarray


def gls_blocks(
    struct: VarianceStructure, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """One pass over the blocks at ``phi``: ``X'V^-1 X``, ``X'V^-1 y``, ``log|V|`` and, per
    batch, ``(G_all, V^-1, V^-1 X)`` for the derivatives (shared by REML and ML).

    Raises
    ------
    ValueError
        When ``V`` is not positive definite.
    """
    M, logdet_v, cache = _inverse_blocks(struct, phi)
    return M, _xty(struct, cache), logdet_v, cache


def _inverse_blocks(struct: VarianceStructure, phi: np.ndarray):
    """The response-free part of :func:`gls_blocks`: ``X'V^-1 X``, ``log|V|`` and the cache."""
    p = struct.X.shape[1]
    M = np.zeros((p, p))
    logdet_v = 0.0
    cache = []
    K = len(struct.names)
    for batch in struct.batches:
        Gall = batch.Gall
        patterns = batch.derived.get("patterns")
        if patterns is not None:  # 1 x 1 blocks by covariance pattern (group_scalar_rows)
            codes, first, count, _, xx = patterns
            v, logdet = _compound_symmetric_inverse(batch, phi, K, columns=first)
            logdet_v += float(count @ logdet)
            Vinv = v[codes]
            W = Vinv * batch.X
            M += (v[:, 0, 0] @ xx.reshape(v.shape[0], -1)).reshape(p, p)
            cache.append((Gall, Vinv, W))
            continue
        if batch.cs_weights is not None:
            Vinv, logdet = _compound_symmetric_inverse(batch, phi, K)
        else:
            V = (phi @ Gall.reshape(phi.size, -1)).reshape(Gall.shape[1:])
            sign, logdet = np.linalg.slogdet(V)
            if np.any(sign <= 0):
                raise ValueError("marginal covariance is not positive definite")
            Vinv = np.linalg.inv(V)
        logdet_v += float(logdet.sum())
        # 1 x 1 blocks: elementwise, without a stacked matmul's per-matrix overhead.
        W = Vinv * batch.X if batch.y.shape[1] == 1 else Vinv @ batch.X
        # Contractions over (block, row) as one matrix product each (BLAS, not einsum loops;
        # plain reshape + matmul: np.tensordot's own overhead dominated on small cohorts).
        rows_x, rows_w = batch.X.reshape(-1, p), W.reshape(-1, p)
        M += rows_x.T @ rows_w
        cache.append((Gall, Vinv, W))
    return M, logdet_v, cache


def _xty(struct: VarianceStructure, cache) -> np.ndarray:
    """``X'V^-1 y`` from :func:`_inverse_blocks`' cache."""
    p = struct.X.shape[1]
    Xty = np.zeros(p)
    for batch, (_, _, W) in zip(struct.batches, cache, strict=True):
        Xty += W.reshape(-1, p).T @ batch.y.reshape(-1)
    return Xty


def _compound_symmetric_inverse(batch: _Batch, phi: np.ndarray, K: int,
                                columns: np.ndarray | None = None):
    """``V^-1`` and ``log|V|`` of blocks ``V = s I + a J`` (size n) in closed form:
    ``V^-1 = (I - a / (s + n a) J) / s``, ``log|V| = (n - 1) log s + log(s + n a)``; of the
    blocks ``columns`` only when given."""
    n = batch.y.shape[1]
    weights = batch.cs_weights if columns is None else batch.cs_weights[:, columns]
    a = phi[:K] @ weights[:K]
    s = phi[K:] @ weights[K:]
    lam = s + n * a
    if np.any(s <= 0) or np.any(lam <= 0):
        raise ValueError("marginal covariance is not positive definite")
    Vinv = (np.eye(n)[None] - (a / lam)[:, None, None]) / s[:, None, None]
    return Vinv, (n - 1) * np.log(s) + np.log(lam)


def _check_phi(struct: VarianceStructure, phi) -> np.ndarray:
    phi = np.asarray(phi, dtype=float)
    K1 = struct.n_par
    if phi.shape != (K1,) or np.any(phi[len(struct.names):] <= 0) or np.any(phi < 0):
        raise ValueError(f"phi must hold {K1} non-negative variances with positive residuals")
    return phi


def gls_solution(M: np.ndarray, Xty: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """GLS fixed effects from the normal equations ``M beta = Xty`` (``M = X'V^-1 X``): their
    covariance ``C = M^-1`` (symmetrised), ``beta`` and ``log det M`` (for the REML criterion).
    Shared by the cohort engine and the pooled (programme) engine."""
    sign_m, logdet_m = np.linalg.slogdet(M)
    if sign_m <= 0:
        raise ValueError("X' V^-1 X is singular: the fixed effects are not identified")
    C = np.linalg.inv(M)
    C = (C + C.T) / 2.0
    return C, C @ Xty, float(logdet_m)


@dataclass(frozen=True)
class ResponseFree:
    """What :func:`reml_state` computes at ``phi`` from the design and the covariance patterns
    alone, the same for every response on one structure (:func:`response_free`): ``C``,
    ``dC/dphi``, ``log|V| + log|X'V^-1 X|``, the response-free parts of the gradient
    (``tr(V^-1 G_k) - tr(C X'V^-1 G_k V^-1 X)``) and of the Hessian (``-tr(P G_i P G_j)``),
    and per batch ``(G_all, V^-1, V^-1 X)``."""

    phi: np.ndarray
    cov_beta: np.ndarray
    dcov: np.ndarray
    logdet: float
    gradient: np.ndarray
    hessian: np.ndarray
    cache: list = field(repr=False)


def response_free(struct: VarianceStructure, phi: Sequence[float]) -> ResponseFree:
    """The response-free part of :func:`reml_state` at ``phi`` (most of its cost: the inverse
    blocks and the ``X'V^-1 G V^-1 X`` sums), to be reused for other responses on the same
    structure (multiple imputation: every completed dataset's fit starts at the same
    variances). ``reml_state(struct, phi, free=response_free(struct, phi))`` is bit-identical
    to ``reml_state(struct, phi)``."""
    phi = _check_phi(struct, phi)
    M, logdet_v, cache = _inverse_blocks(struct, phi)
    C, _, logdet_m = gls_solution(M, np.zeros(M.shape[0]))
    tr_vg, tr_hh, A, B = response_free_sums(struct, cache, fixed_derivatives=True)
    CA = C[None] @ A  # (K1, p, p)
    tr_cb = np.einsum("ab,ijba->ij", C, B)
    tr_pgpg = tr_hh - tr_cb - tr_cb.T + np.einsum("iab,jba->ij", CA, CA)
    return ResponseFree(phi=phi, cov_beta=C, dcov=CA @ C[None],
                        logdet=logdet_v + float(logdet_m),
                        gradient=tr_vg - np.einsum("kaa->k", CA), hessian=-tr_pgpg,
                        cache=cache)  # fmt: skip


def reml_state(struct: VarianceStructure, phi: Sequence[float], *,
               free: ResponseFree | None = None) -> RemlState:
    """Evaluate GLS estimates, REML deviance and its exact derivatives at ``phi``.

    Parameters
    ----------
    struct : VarianceStructure
    phi : array_like
        Component variances followed by the residual variance (> 0).
    free : ResponseFree, optional
        :func:`response_free` of a structure with the same design and patterns at the same
        ``phi`` (computed here when not given or at another ``phi``).

    Returns
    -------
    RemlState

    Notes
    -----
    With ``P = V^-1 - V^-1 X C X' V^-1`` and ``V`` linear in ``phi``: gradient
    ``tr(P G_i) - y'P G_i P y``, observed Hessian ``-tr(P G_i P G_j) + 2 y'P G_i P G_j P y``,
    ``dC/dphi_i = C X'V^-1 G_i V^-1 X C``. All sums run block by block. Checked against finite
    differences of the deviance (tests) and against lme4's ``REMLcrit``.
    """
    phi = _check_phi(struct, phi)
    if free is None or not np.array_equal(free.phi, phi):
        free = response_free(struct, phi)
    n, p = struct.X.shape
    C = free.cov_beta
    beta = C @ _xty(struct, free.cache)
    quad, y_pgp_y, q, v_vinv_v = response_sums(struct, beta, free.cache)
    deviance = free.logdet + quad + (n - p) * _LOG2PI
    gradient = free.gradient - y_pgp_y
    y_pgpgp_y = v_vinv_v - np.einsum("ia,ab,jb->ij", q, C, q)
    hessian = free.hessian + 2.0 * y_pgpgp_y
    hessian = (hessian + hessian.T) / 2.0
    return RemlState(
        phi=phi,
        beta=beta,
        cov_beta=C,
        deviance=deviance,
        gradient=gradient,
        hessian=hessian,
        dcov=free.dcov,
    )


@dataclass(frozen=True)
class MlState:
    """ML quantities at one variance vector ``phi``: the deviance ``-2 log L`` with the fixed
    effects profiled out, its exact gradient and Hessian, and the GLS fixed effects."""

    phi: np.ndarray
    beta: np.ndarray
    deviance: float
    gradient: np.ndarray
    hessian: np.ndarray


def ml_state(struct: VarianceStructure, phi: Sequence[float]) -> MlState:
    """Evaluate the ML deviance and its exact derivatives at ``phi``.

    Notes
    -----
    ``D = log|V| + r'V^-1 r + n log(2 pi)`` with ``r = y - X beta_GLS``, ``e = V^-1 r``.
    Because ``beta`` is profiled (``X'e = 0``), ``de/dphi_j = -P G_j e``, so the gradient is
    ``tr(V^-1 G_i) - e'G_i e`` and the Hessian ``-tr(V^-1 G_i V^-1 G_j) + 2 e'G_i P G_j e``,
    with ``e'G_i P G_j e = e'G_i V^-1 G_j e - (X'V^-1 G_i e)' C (X'V^-1 G_j e)``. Checked
    against finite differences and R ``logLik(lmer(..., REML = FALSE))`` (tests).
    """
    phi = _check_phi(struct, phi)
    n = struct.X.shape[0]
    M, Xty, logdet_v, cache = gls_blocks(struct, phi)
    C = np.linalg.inv(M)
    C = (C + C.T) / 2.0
    beta = C @ Xty
    quad, tr_vg, y_pgp_y, q, tr_hh, v_vinv_v, _, _ = residual_sums(
        struct, beta, cache, fixed_derivatives=False)
    hessian = -tr_hh + 2.0 * (v_vinv_v - q @ C @ q.T)
    return MlState(phi=phi, beta=beta, deviance=logdet_v + quad + n * _LOG2PI,
                   gradient=tr_vg - y_pgp_y, hessian=(hessian + hessian.T) / 2.0)
