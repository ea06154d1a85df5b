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
few) instead of the observations (n ≈ 3 × participants). Two structures keep that cheap:
``Z'Z`` is an arrow matrix (the participants' block is diagonal: each observation belongs to
one participant; only the r site and Balint-group columns are full), and the Schur complement
on those r columns makes ``K`` a diagonal plus a rank-r matrix, so every product costs
O(q r) per column and nothing of size q × q is formed. Sites are stacked (zero-padded within
a batch of similar sizes) so the algebra is a few batched matrix products. Measured on 100
cohorts × 200 participants × 3 timepoints (benchmarks/programme_scale.py): 0.1-0.3 s per REML
evaluation (value, gradient and Hessian), the whole fit a few seconds. The result is the same
:class:`~balint_analysis.models.reml.RemlState` (deviance, exact gradient and Hessian, ``dC/dphi``)
as the generic engine, so Newton, the boundary handling and Satterthwaite are shared;
tests/test_programme_ipd.py checks the two engines agree and both agree with lme4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.models.reml import RemlState, gls_solution

__all__ = ["SiteStructure", "site_reml_state", "site_structure"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: Sites per stacked batch: padding to a batch's largest site wastes little when sites are sorted
#: by size first, and a batch of (16, q, q) arrays stays small in memory.
_BATCH = 16


@dataclass(frozen=True)
class _SiteBatch:
    """Sites stacked, random-effect columns split into the first component's (``a``: one per
    participant, so ``Z_a'Z_a`` is diagonal) and the others' (``b``: site, site effect, Balint
    groups; few). ``sa`` (m, qa) diagonal of ``Z_a'Z_a``, ``Sab`` (m, qa, rb), ``Sbb``
    (m, rb, rb), ``Pa``/``Pb``: ``Z'[X y]``, ``gram = [X y]'[X y]``, ``n`` observations per site,
    ``Ea``/``Eb``: component of every column (one-hot; all zero for padding)."""

    sa: np.ndarray
    Sab: np.ndarray
    Sbb: np.ndarray
    Pa: np.ndarray
    Pb: np.ndarray
    gram: np.ndarray
    n: np.ndarray
    Ea: np.ndarray
    Eb: np.ndarray


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
        ``name -> (levels, z)`` as for :func:`balint_analysis.models.reml.variance_structure`;
        the first is the many-levelled one (participants: one level per observation, so its
        ``Z'Z`` is diagonal); the others should have few levels per site.

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
    for name, (levels, _) in components.items():
        lv = pd.Series(np.asarray(levels)).astype(str).to_numpy()
        if (pd.Series(site_codes).groupby(lv).nunique() > 1).any():
            raise ValueError(f"levels of component {name!r} are not nested in the sites")
    K = len(components)
    per_site = []
    order = np.argsort(site_codes, kind="stable")
    bounds = np.flatnonzero(np.diff(site_codes[order])) + 1
    for rows in np.split(order, bounds):
        cols, kinds = [], []
        for k, (levels, z) in enumerate(components.values()):
            codes, uniques = pd.factorize(pd.Series(np.asarray(levels)[rows]))
            Zk = np.zeros((rows.size, len(uniques)))
            Zk[np.arange(rows.size), codes] = np.asarray(z, dtype=float)[rows]
            # Levels that load on no observation (a control's singleton Balint group under
            # treated_post) are zero columns: they change nothing and only cost time.
            used = np.any(Zk != 0, axis=0)
            cols.append(Zk[:, used])
            kinds.append(np.full(int(used.sum()), k))
        Za, Zb = cols[0], np.column_stack([np.zeros((rows.size, 0)), *cols[1:]])
        per_site.append({"sa": (Za**2).sum(axis=0), "Sab": Za.T @ Zb, "Sbb": Zb.T @ Zb,
                         "Pa": Za.T @ Xy[rows], "Pb": Zb.T @ Xy[rows],
                         "gram": Xy[rows].T @ Xy[rows], "n": rows.size,
                         "kb": np.concatenate([np.zeros(0, int), *kinds[1:]])})  # fmt: skip
    per_site.sort(key=lambda site: (site["sa"].size, site["kb"].size))
    batches = []
    for start in range(0, len(per_site), _BATCH):
        chunk = per_site[start:start + _BATCH]
        qa = max(site["sa"].size for site in chunk)
        rb = max(site["kb"].size for site in chunk)
        m, p1 = len(chunk), Xy.shape[1]
        b = {"sa": np.zeros((m, qa)), "Sab": np.zeros((m, qa, rb)), "Sbb": np.zeros((m, rb, rb)),
             "Pa": np.zeros((m, qa, p1)), "Pb": np.zeros((m, rb, p1)),
             "Ea": np.zeros((m, qa, K)), "Eb": np.zeros((m, rb, K))}  # fmt: skip
        for i, site in enumerate(chunk):
            na, nb = site["sa"].size, site["kb"].size
            b["sa"][i, :na], b["Sab"][i, :na, :nb], b["Sbb"][i, :nb, :nb] = (
                site["sa"], site["Sab"], site["Sbb"])
            b["Pa"][i, :na], b["Pb"][i, :nb] = site["Pa"], site["Pb"]
            b["Ea"][i, :na, 0] = 1.0
            b["Eb"][i, np.arange(nb), site["kb"]] = 1.0
        batches.append(_SiteBatch(**b, gram=np.stack([site["gram"] for site in chunk]),
                                  n=np.array([site["n"] for site in chunk], dtype=float)))
    return SiteStructure(names=tuple(components), n_obs=int(X.shape[0]), p=int(X.shape[1]),
                         batches=tuple(batches))  # fmt: skip


def _t(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class _Site:
    """Woodbury algebra of one batch at ``phi``: ``V^-1 = (I - Z K Z') / s`` with
    ``K = D_k + W C W'`` (``D_k`` diagonal on the participant columns, ``W`` q × rb), and
    ``Z'Z = S`` an arrow matrix (diagonal participant block plus rb full rows/columns), so
    every product costs O(q rb) per column instead of O(q^2)."""

    def __init__(self, batch: _SiteBatch, phi: np.ndarray):
        K = batch.Ea.shape[2]
        self.b, self.s = batch, phi[K]
        lam_a = np.sqrt(batch.Ea @ (phi[:K] / self.s))  # (m, qa) relative SDs
        lam_b = np.sqrt(batch.Eb @ (phi[:K] / self.s))  # (m, rb)
        d = 1.0 + lam_a**2 * batch.sa
        L_ab = lam_a[:, :, None] * batch.Sab * lam_b[:, None, :]
        L_bb = np.eye(lam_b.shape[1]) + lam_b[:, :, None] * batch.Sbb * lam_b[:, None, :]
        schur = L_bb - _t(L_ab) @ (L_ab / d[:, :, None])
        chol = np.linalg.cholesky(schur)
        self.logdet_l = np.log(d).sum(axis=1) + 2.0 * np.log(
            np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        self.C = np.linalg.inv(schur)
        self.C = (self.C + _t(self.C)) / 2.0
        self.ka = lam_a**2 / d
        self.Wa = lam_a[:, :, None] * L_ab / d[:, :, None]  # W = [Wa; -diag(lam_b)]
        self.lam_b = lam_b
        self.qa = lam_a.shape[1]

    def split(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return M[:, : self.qa], M[:, self.qa:]

    def times_s(self, M: np.ndarray) -> np.ndarray:
        """``Z'Z @ M`` for M (m, q, t)."""
        Ma, Mb = self.split(M)
        b = self.b
        return np.concatenate([b.sa[:, :, None] * Ma + b.Sab @ Mb, _t(b.Sab) @ Ma + b.Sbb @ Mb],
                              axis=1)

    def times_wt(self, M: np.ndarray) -> np.ndarray:
        """``W' @ M`` (m, rb, t)."""
        Ma, Mb = self.split(M)
        return _t(self.Wa) @ Ma - self.lam_b[:, :, None] * Mb

    def times_w(self, N: np.ndarray) -> np.ndarray:
        """``W @ N`` for N (m, rb, t) -> (m, q, t)."""
        return np.concatenate([self.Wa @ N, -self.lam_b[:, :, None] * N], axis=1)

    def times_k(self, M: np.ndarray) -> np.ndarray:
        """``K @ M``."""
        Ma, Mb = self.split(M)
        diag = np.concatenate([self.ka[:, :, None] * Ma, np.zeros_like(Mb)], axis=1)
        return diag + self.times_w(self.C @ self.times_wt(M))

    def zvz(self, M: np.ndarray) -> np.ndarray:
        """``Z'V^-1 Z @ M = (S - S K S) M / s``."""
        SM = self.times_s(M)
        return (SM - self.times_s(self.times_k(SM))) / self.s

    def tt(self, M: np.ndarray) -> np.ndarray:
        """``(I - S K) M / s``: ``Z'V^-1 [X y] = tt(Z'[X y])``."""
        return (M - self.times_s(self.times_k(M))) / self.s


def _site_pass(batch: _SiteBatch, phi: np.ndarray) -> dict:
    """Everything of one batch at ``phi`` that does not depend on beta."""
    st = _Site(batch, phi)
    s, E = st.s, np.concatenate([batch.Ea, batch.Eb], axis=1)
    P = np.concatenate([batch.Pa, batch.Pb], axis=1)
    KP = st.times_k(P)
    PKP = _t(P) @ KP
    TP = st.tt(P)  # Z'V^-1 [X y]
    TTP = st.tt(TP)  # Z'V^-2 [X y]
    Q1 = (batch.gram - PKP) / s  # [X y]'V^-1[X y]
    Q2 = (batch.gram - 2.0 * PKP + _t(KP) @ st.times_s(KP)) / s**2  # V^-2
    Q3 = (Q2 - _t(TP) @ st.times_k(TP)) / s  # V^-3
    # Traces: tr(K S) and tr(K S K S) with K = D_k + W C W', R = S W.
    sa, ka = batch.sa, st.ka
    R = st.times_s(st.times_w(np.broadcast_to(np.eye(st.C.shape[1]), st.C.shape)))
    Ra, Rb = st.split(R)
    WR = st.times_wt(R)  # W'S W
    CWR = st.C @ WR
    tr_ks = (ka * sa).sum(axis=1) + np.trace(CWR, axis1=1, axis2=2)
    tr_ksks = ((ka * sa) ** 2).sum(axis=1) + 2.0 * np.einsum(
        "mij,mji->m", st.C, _t(Ra) @ (ka[:, :, None] * Ra)) + np.einsum("mij,mji->m", CWR, CWR)
    # Z'V^-1 Z: its participant block is diag(delta)/s - Ra C Ra'/s; its b columns explicitly.
    RaC = Ra @ st.C
    diag_rcr_a = (RaC * Ra).sum(axis=2)
    delta = sa - sa**2 * ka
    Sb = np.concatenate([batch.Sab, batch.Sbb], axis=1)  # S[:, b]
    SDkS_b = np.concatenate([(sa * ka)[:, :, None] * batch.Sab,
                             _t(batch.Sab) @ (ka[:, :, None] * batch.Sab)], axis=1)
    Zb = (Sb - SDkS_b - R @ (st.C @ _t(Rb))) / s  # Z'V^-1 Z[:, b]
    diag_zwz = np.concatenate([(delta - diag_rcr_a) / s, np.diagonal(Zb[:, st.qa:], axis1=1,
                                                                      axis2=2)], axis=1)
    # Sums of squares of Z'V^-1 Z over component blocks.
    RaRa = _t(Ra) @ Ra
    CRR = st.C @ RaRa
    aa = ((delta**2).sum(axis=1) - 2.0 * (delta * diag_rcr_a).sum(axis=1)
          + np.einsum("mij,mji->m", CRR, CRR)) / s**2
    K = E.shape[2]
    tr_hh = np.zeros((K, K))
    tr_hh[0, 0] = aa.sum()
    sq = Zb**2  # (m, q, rb)
    from_a = np.einsum("mir,mrk->k", sq[:, : st.qa], batch.Eb)  # participant x b components
    tr_hh[0] += from_a
    tr_hh[:, 0] += from_a
    tr_hh += np.einsum("mrk,mrt,mtl->kl", batch.Eb, sq[:, st.qa:], batch.Eb)
    # diag of Z'V^-2 Z = (diag(Z'V^-1 Z) - diag(S K Z'V^-1 Z)) / s, S K = S D_k + R C W'.
    zwz_w = st.zvz(st.times_w(np.broadcast_to(np.eye(st.C.shape[1]), st.C.shape)))
    sdk_a = sa * ka * diag_zwz[:, : st.qa]
    sdk_b = np.einsum("mab,ma,mab->mb", batch.Sab, ka, Zb[:, : st.qa])
    diag_skz = np.concatenate([sdk_a, sdk_b], axis=1) + ((R @ st.C) * zwz_w).sum(axis=2)
    diag_zw2z = (diag_zwz - diag_skz) / s
    return {"Q1": Q1, "Q2": Q2, "Q3": Q3, "TP": TP, "TTP": TTP, "site": st, "E": E,
            "tr_vg": np.einsum("mi,mik->k", diag_zwz, E), "tr_hh": tr_hh,
            "tr_res": np.einsum("mi,mik->k", diag_zw2z, E),
            "tr_w": (batch.n - tr_ks) / s, "tr_w2": (batch.n - 2 * tr_ks + tr_ksks) / s**2,
            "logdet": float((batch.n * np.log(s) + st.logdet_l).sum())}  # fmt: skip


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
    C, beta, logdet_m = gls_solution(Q1[:p, :p], Q1[:p, p])
    c = np.append(-beta, 1.0)  # r = [X y] c
    quad = float(c @ Q1 @ c)
    tr_vg, y_pgp_y, q = np.zeros(K1), np.zeros(K1), np.zeros((K1, p))
    tr_hh, v_vinv_v = np.zeros((K1, K1)), np.zeros((K1, K1))
    A, B = np.zeros((K1, p, p)), np.zeros((K1, K1, p, p))
    for ps in passes:
        E, st = ps["E"], ps["site"]
        ze = ps["TP"] @ c  # Z'e, e = V^-1 r
        zwe = ps["TTP"] @ c  # Z'V^-1 e
        zwx, zw2x = ps["TP"][..., :p], ps["TTP"][..., :p]
        Q2, Q3 = ps["Q2"].sum(axis=0), ps["Q3"].sum(axis=0)
        tr_vg[:K] += ps["tr_vg"]
        tr_vg[K] += ps["tr_w"].sum()
        y_pgp_y[:K] += np.einsum("mi,mik->k", ze**2, E)
        y_pgp_y[K] += c @ Q2 @ c
        Eze = E * ze[:, :, None]  # (m, q, K)
        q[:K] += (_t(Eze) @ zwx).sum(axis=0)
        q[K] += (Q2 @ c)[:p]
        tr_hh[:K, :K] += ps["tr_hh"]
        tr_hh[K, :K] += ps["tr_res"]
        tr_hh[:K, K] += ps["tr_res"]
        tr_hh[K, K] += ps["tr_w2"].sum()
        v_vinv_v[:K, :K] += (_t(Eze) @ st.zvz(Eze)).sum(axis=0)
        res_comp = np.einsum("mi,mik->k", zwe, Eze)
        v_vinv_v[K, :K] += res_comp
        v_vinv_v[:K, K] += res_comp
        v_vinv_v[K, K] += c @ Q3 @ c
        m, qq = E.shape[:2]
        # U: column i's part of Z_k'V^-1 X, laid out (m, q, K*p).
        U = (E[:, :, :, None] * zwx[:, :, None, :]).reshape(m, qq, K * p)
        A[:K] += (_t(U) @ zwx).sum(axis=0).reshape(K, p, p)
        A[K] += Q2[:p, :p]
        UZU = (_t(U) @ st.zvz(U)).sum(axis=0).reshape(K, p, K, p)
        B[:K, :K] += UZU.transpose(0, 2, 1, 3)
        # X'V^-2 G_k V^-1 X
        res_comp = (_t((E[:, :, :, None] * zw2x[:, :, None, :]).reshape(m, qq, K * p)) @ zwx
                    ).sum(axis=0).reshape(K, p, p)  # fmt: skip
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
