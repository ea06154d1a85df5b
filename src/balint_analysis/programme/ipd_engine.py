"""REML criterion of the one-stage pooled model with the site blocks handled in random-effect space.

In the pooled model every observation of a site shares the site effects, so the independent
blocks of the marginal covariance are whole sites (hundreds of observations). The generic
engine (:func:`balint_analysis.models.reml.reml_state`) inverts every block densely and forms
``V^-1 G_k`` for every component: ``O(n_site^3)`` per component and site, minutes and gigabytes
for a programme of 100 cohorts × 200 participants × 3 timepoints. Here ``V = s (I + Z Λ Λ Z')``
per site (``s`` the residual variance, ``Z`` the site's random-effect columns: its participants,
the site intercept and effect, its Balint groups; ``Λ`` their relative SDs), and by Woodbury

    V^-1 = (I - Z K Z') / s,        K = Λ (I + Λ Z'Z Λ)^-1 Λ,

so every quantity :func:`balint_analysis.models.reml.reml_state` needs (``X'V^-1 X``, the traces
``tr(V^-1 G_i V^-1 G_j)``, ``X'V^-1 G_i V^-1 G_j V^-1 X``, ...) is an expression in the
site's ``Z'Z`` and ``Z'[X y]``, of the size of the random-effects vector (q ≈ participants + a
few) instead of the observations (n ≈ 3 × participants). Sites are stacked (zero-padded to the
largest q of a batch) so the algebra is a few batched matrix products. The result is the same
:class:`~balint_analysis.models.reml.RemlState` (deviance, exact gradient and Hessian, ``dC/dphi``)
as the generic engine, so Newton, the boundary handling and Satterthwaite are shared;
tests/test_programme_ipd.py checks the two engines agree and both agree with lme4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.models.reml import RemlState

__all__ = ["SiteStructure", "site_reml_state", "site_structure"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: Sites per stacked batch: padding to a batch's largest site wastes little when sites are sorted
#: by size first, and a batch of (16, q, q) arrays stays small in memory.
_BATCH = 16


@dataclass(frozen=True)
class _SiteBatch:
    """Sites stacked: ``S = Z'Z`` (m, q, q), ``P = Z'[X y]`` (m, q, p+1), ``gram = [X y]'[X y]``
    (m, p+1, p+1), ``n`` observations per site and ``onehot`` (m, q, K): the component of every
    random-effect column (all zero for padding)."""

    S: np.ndarray
    P: np.ndarray
    gram: np.ndarray
    n: np.ndarray
    onehot: np.ndarray


@dataclass(frozen=True)
class SiteStructure:
    """Sufficient statistics of the pooled model, site by site (see :func:`site_structure`)."""

    names: tuple[str, ...]
    n_obs: int
    p: int
    batches: tuple[_SiteBatch, ...]

    @property
    def n_par(self) -> int:
        return len(self.names) + 1


def site_structure(
    X: np.ndarray,
    y: np.ndarray,
    sites: Sequence,
    components: Mapping[str, tuple[Sequence, Sequence[float]]],
) -> SiteStructure:
    """Site-wise ``Z'Z``, ``Z'[X y]`` and ``[X y]'[X y]`` of a variance-components model.

    Parameters
    ----------
    X, y : array_like
        Fixed-effects design (n × p, full column rank) and response.
    sites : array_like
        Site of every observation: every level of every component lies inside one site.
    components : mapping
        ``name -> (levels, z)`` as for :func:`balint_analysis.models.reml.variance_structure`.

    Returns
    -------
    SiteStructure

    Raises
    ------
    ValueError
        When a component's level spans two sites.
    """
    X = np.asarray(X, dtype=float)
    Xy = np.column_stack([X, np.asarray(y, dtype=float)])
    site_codes, _ = pd.factorize(pd.Series(np.asarray(sites)), sort=True)
    K = len(components)
    per_site = []
    order = np.argsort(site_codes, kind="stable")
    bounds = np.flatnonzero(np.diff(site_codes[order])) + 1
    for rows in np.split(order, bounds):
        cols, kinds = [], []
        for k, (levels, z) in enumerate(components.values()):
            lv = pd.Series(np.asarray(levels)[rows])
            codes, uniques = pd.factorize(lv)
            Zk = np.zeros((rows.size, len(uniques)))
            Zk[np.arange(rows.size), codes] = np.asarray(z, dtype=float)[rows]
            cols.append(Zk)
            kinds.append(np.full(len(uniques), k))
        Z = np.column_stack(cols)
        per_site.append((Z.T @ Z, Z.T @ Xy[rows], Xy[rows].T @ Xy[rows], rows.size,
                         np.concatenate(kinds)))  # fmt: skip
    all_levels = [pd.Series(np.asarray(levels)).astype(str) for levels, _ in components.values()]
    site_of = pd.Series(site_codes)
    for name, lv in zip(components, all_levels, strict=True):
        if (site_of.groupby(lv.to_numpy()).nunique() > 1).any():
            raise ValueError(f"levels of component {name!r} are not nested in the sites")
    per_site.sort(key=lambda site: site[0].shape[0])
    batches = []
    for start in range(0, len(per_site), _BATCH):
        chunk = per_site[start:start + _BATCH]
        q = max(site[0].shape[0] for site in chunk)
        m, p1 = len(chunk), Xy.shape[1]
        S, P = np.zeros((m, q, q)), np.zeros((m, q, p1))
        onehot = np.zeros((m, q, K))
        for i, (s, pz, _, _, kinds) in enumerate(chunk):
            size = s.shape[0]
            S[i, :size, :size], P[i, :size] = s, pz
            onehot[i, np.arange(size), kinds] = 1.0
        batches.append(_SiteBatch(S=S, P=P, gram=np.stack([site[2] for site in chunk]),
                                  n=np.array([site[3] for site in chunk], dtype=float),
                                  onehot=onehot))  # fmt: skip
    return SiteStructure(names=tuple(components), n_obs=int(X.shape[0]), p=int(X.shape[1]),
                         batches=tuple(batches))  # fmt: skip


def _quad(a: np.ndarray, M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a' M b`` for stacks: a (m, q, r), M (m, q, q), b (m, q, t) -> (m, r, t)."""
    return np.swapaxes(a, 1, 2) @ (M @ b)


def _site_pass(batch: _SiteBatch, phi: np.ndarray) -> dict:
    """Woodbury algebra of one batch at ``phi`` (everything not depending on beta)."""
    K = batch.onehot.shape[2]
    s = phi[K]
    lam = np.sqrt(batch.onehot @ (phi[:K] / s))  # (m, q): relative SD of every column
    q = lam.shape[1]
    eye = np.eye(q)
    L = eye + lam[:, :, None] * batch.S * lam[:, None, :]
    chol = np.linalg.cholesky(L)
    logdet_l = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    Linv = np.linalg.inv(L)
    Kq = lam[:, :, None] * Linv * lam[:, None, :]
    SK = batch.S @ Kq
    Tt = (eye - SK) / s  # Z'V^-1 = T' Z'
    TP = Tt @ batch.P  # Z'V^-1 [X y]
    TTP = Tt @ TP  # Z'V^-2 [X y]
    ZWZ = Tt @ batch.S  # Z'V^-1 Z
    ZWZ = (ZWZ + np.swapaxes(ZWZ, 1, 2)) / 2.0
    diag_zw2z = np.einsum("mij,mji->mi", Tt, ZWZ)  # diag of Z'V^-2 Z
    KP = Kq @ batch.P
    PKP = np.swapaxes(batch.P, 1, 2) @ KP
    Q1 = (batch.gram - PKP) / s  # [X y]'V^-1[X y]
    Q2 = (batch.gram - 2.0 * PKP + _quad(KP, batch.S, KP)) / s**2  # V^-2
    Q3 = (Q2 - _quad(TP, Kq, TP)) / s  # V^-3
    tr_ks = np.einsum("mij,mji->m", Kq, batch.S)
    tr_ksks = np.einsum("mij,mji->m", SK, SK)
    return {"Q1": Q1, "Q2": Q2, "Q3": Q3, "TP": TP, "TTP": TTP, "ZWZ": ZWZ,
            "diag_zw2z": diag_zw2z,
            "tr_w": (batch.n - tr_ks) / s, "tr_w2": (batch.n - 2 * tr_ks + tr_ksks) / s**2,
            "logdet": float((batch.n * np.log(s) + logdet_l).sum())}  # fmt: skip


def site_reml_state(struct: SiteStructure, phi: Sequence[float]) -> RemlState:
    """REML deviance, exact gradient and Hessian, GLS fixed effects and ``dC/dphi`` at ``phi``.

    Same quantities and conventions as :func:`balint_analysis.models.reml.reml_state`
    (``phi`` = component variances then the residual variance).

    Raises
    ------
    ValueError
        When ``phi`` is not valid or ``X'V^-1 X`` is singular.
    """
    phi = np.asarray(phi, dtype=float)
    K, p = len(struct.names), struct.p
    K1 = K + 1
    if phi.shape != (K1,) or phi[K] <= 0 or np.any(phi < 0):
        raise ValueError(f"phi must hold {K1} non-negative variances with a positive residual")
    passes = [_site_pass(batch, phi) for batch in struct.batches]
    Q1 = sum(ps["Q1"].sum(axis=0) for ps in passes)
    M, Xty = Q1[:p, :p], Q1[:p, p]
    sign_m, logdet_m = np.linalg.slogdet(M)
    if sign_m <= 0:
        raise ValueError("X' V^-1 X is singular: the fixed effects are not identified")
    C = np.linalg.inv(M)
    C = (C + C.T) / 2.0
    beta = C @ Xty
    c = np.append(-beta, 1.0)  # r = [X y] c
    quad = float(c @ Q1 @ c)
    tr_vg, y_pgp_y, q = np.zeros(K1), np.zeros(K1), np.zeros((K1, p))
    tr_hh, v_vinv_v = np.zeros((K1, K1)), np.zeros((K1, K1))
    A, B = np.zeros((K1, p, p)), np.zeros((K1, K1, p, p))
    for batch, ps in zip(struct.batches, passes, strict=True):
        E, ZWZ = batch.onehot, ps["ZWZ"]
        ze = ps["TP"] @ c  # Z'e, e = V^-1 r
        zwe = ps["TTP"] @ c  # Z'V^-1 e
        zwx, zw2x = ps["TP"][..., :p], ps["TTP"][..., :p]
        Q2, Q3 = ps["Q2"].sum(axis=0), ps["Q3"].sum(axis=0)
        tr_vg[:K] += np.einsum("mii,mik->k", ZWZ, E)
        tr_vg[K] += ps["tr_w"].sum()
        y_pgp_y[:K] += np.einsum("mi,mik->k", ze**2, E)
        y_pgp_y[K] += c @ Q2 @ c
        q[:K] += np.einsum("mik,mi,mia->ka", E, ze, zwx)
        q[K] += (Q2 @ c)[:p]
        tr_hh[:K, :K] += np.einsum("mik,mij,mjl->kl", E, ZWZ**2, E)
        res_comp = np.einsum("mi,mik->k", ps["diag_zw2z"], E)
        tr_hh[K, :K] += res_comp
        tr_hh[:K, K] += res_comp
        tr_hh[K, K] += ps["tr_w2"].sum()
        Eze = E * ze[:, :, None]  # (m, q, K)
        v_vinv_v[:K, :K] += np.einsum("mik,mij,mjl->kl", Eze, ZWZ, Eze)
        res_comp = np.einsum("mi,mik->k", zwe, Eze)
        v_vinv_v[K, :K] += res_comp
        v_vinv_v[:K, K] += res_comp
        v_vinv_v[K, K] += c @ Q3 @ c
        A[:K] += np.einsum("mik,mia,mib->kab", E, zwx, zwx)
        A[K] += Q2[:p, :p]
        U = E[:, :, :, None] * zwx[:, :, None, :]  # (m, q, K, p): column i's part of Z_k'V^-1X
        m, qq = U.shape[:2]
        ZU = (ZWZ @ U.reshape(m, qq, K * p)).reshape(m, qq, K, p)
        B[:K, :K] += np.einsum("mika,milb->klab", U, ZU)
        res_comp = np.einsum("mik,mia,mib->kab", E, zw2x, zwx)  # X'V^-2 G_k V^-1 X
        B[K, :K] += res_comp
        B[:K, K] += np.swapaxes(res_comp, 1, 2)
        B[K, K] += Q3[:p, :p]
    logdet_v = sum(ps["logdet"] for ps in passes)
    deviance = logdet_v + float(logdet_m) + quad + (struct.n_obs - p) * _LOG2PI
    CA = C[None] @ A
    gradient = tr_vg - np.einsum("kaa->k", CA) - y_pgp_y
    tr_cb = np.einsum("ab,ijba->ij", C, B)
    tr_pgpg = tr_hh - tr_cb - tr_cb.T + np.einsum("iab,jba->ij", CA, CA)
    y_pgpgp_y = v_vinv_v - np.einsum("ia,ab,jb->ij", q, C, q)
    hessian = -tr_pgpg + 2.0 * y_pgpgp_y
    hessian = (hessian + hessian.T) / 2.0
    return RemlState(phi=phi, beta=beta, cov_beta=C, deviance=deviance, gradient=gradient,
                     hessian=hessian, dcov=CA @ C[None])  # fmt: skip
