"""W3: fitting one model: statsmodels path vs the fast Newton-REML path vs R's lme4.

The model is the random-intercept group x time model with 3 timepoints,
``score ~ group * timepoint + (1 | participant)`` (no Balint-group term), REML. The data are the
simulator's observed MBI-HSS emotional-exhaustion scores (``truth_scores``: every participant x
timepoint that responded) at each size; the same rows go to R as a CSV. Only the fit is timed:
``fit_lmm_statsmodels`` / ``fit_lmm_reml`` on a prepared :class:`ModelData` (one unmeasured
warm-up fit first, so imports are not counted) and ``system.time(lmer(...))`` in R. Each size
runs in its own subprocess (``python w3_models.py worker``) so its peak RSS can be reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script (the worker): make `suite` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.measure import PY, Figure, median, run_cmd

HERE = Path(__file__).resolve().parent
SM_LIMIT_S = 60.0  # skip the statsmodels path when one fit is expected to take longer


def lme4_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "suppressMessages(library(lme4))"],
                           capture_output=True)  # fmt: skip
    return probe.returncode == 0


def _data(participants: int, csv_path: Path):
    from balint_analysis.models.design import model_data
    from balint_analysis.simulate import simulate_cohort
    from suite.cohorts import params_for

    sim = simulate_cohort(params_for(participants), seed=participants)
    t = sim.truth_scores
    t = t[(t["instrument"] == "mbi_hss") & (t["scale"] == "emotional_exhaustion")
          & t["responded"].astype(bool) & t["observed"].notna()]  # fmt: skip
    frame = t.rename(columns={"participant_id": "participant", "observed": "score"})[
        ["participant", "group", "timepoint", "score"]].reset_index(drop=True)  # fmt: skip
    frame["cluster"] = ""
    frame.drop(columns="cluster").to_csv(csv_path, index=False, float_format="%.17g")
    return model_data(frame, levels=("pre", "post", "followup"), intervention="balint",
                      control="control", use_clusters=False)  # fmt: skip


def _fixef(fit) -> list[float]:
    import numpy as np

    est, _, _ = fit.contrast(np.eye(len(fit.data.terms)))
    return [float(x) for x in est]


def worker(argv: list[str]) -> None:
    """Fit at one size and print JSON: times per method, fixed effects, n_obs."""
    import argparse

    import numpy as np

    from balint_analysis.models import fit_lmm_statsmodels
    from balint_analysis.models.fit import fit_lmm_reml
    from suite.measure import timed

    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, required=True)
    ap.add_argument("--csv", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-statsmodels", action="store_true")
    args = ap.parse_args(argv)
    data = _data(args.participants, args.csv)
    warm = _data(60, args.csv.with_suffix(".warm.csv"))
    fit_lmm_statsmodels(warm), fit_lmm_reml(warm)  # warm-up: imports, caches
    out: dict = {"n_obs": len(data.y), "participants": args.participants}
    fast = fit_lmm_reml(data)
    out["fast_certified"] = fast is not None
    out["fast"] = timed(lambda: fit_lmm_reml(data), args.repeat)
    out["fast_fixef"] = _fixef(fast) if fast is not None else None
    if args.skip_statsmodels:
        out["statsmodels"] = None
    else:
        first = timed(lambda: fit_lmm_statsmodels(data), 1)
        more = args.repeat - 1 if first[0] < SM_LIMIT_S else 0
        rest = timed(lambda: fit_lmm_statsmodels(data), more) if more else []
        out["statsmodels"] = first + rest
        ref = _fixef(fit_lmm_statsmodels(data)) if more else None
        if ref is not None and fast is not None:
            out["fast_vs_statsmodels_max_abs_diff"] = float(np.max(np.abs(
                np.subtract(ref, out["fast_fixef"]))))  # fmt: skip
    print(json.dumps(out))


def _lme4(csv_path: Path, repeat: int):
    res = run_cmd(["Rscript", str(HERE / "lme4_fit.R"), str(csv_path), str(repeat)], HERE)
    lines = {ln.split()[0]: ln.split()[1:] for ln in res.stdout.splitlines() if ln.strip()}
    return [float(x) for x in lines["elapsed"]], [float(x) for x in lines["fixef"]], res


def run(opts) -> list[Figure]:
    have_r = lme4_available()
    figs: list[Figure] = []
    if not have_r:
        print("lme4: not installed", flush=True)
        figs.append(Figure("W3", "lme4", "s", [], note="lme4: not installed"))
    sm_prev: tuple[int, float] | None = None
    for n in opts.w3_sizes:
        w = f"W3 ({n:,} participants)"
        tmp = Path(tempfile.mkdtemp(prefix="balint-bench-w3-"))
        try:
            csv_path = tmp / "data.csv"
            # statsmodels cost grows ~linearly in participants: skip when the extrapolation
            # from the previous size exceeds SM_LIMIT_S.
            skip = sm_prev is not None and sm_prev[1] * n / sm_prev[0] > SM_LIMIT_S
            cmd = [PY, str(HERE / "w3_models.py"), "worker", "--participants", str(n),
                   "--csv", str(csv_path), "--repeat", str(opts.repeat)]  # fmt: skip
            res = run_cmd(cmd + (["--skip-statsmodels"] if skip else []), HERE)
            out = json.loads(res.stdout.strip().splitlines()[-1])
            fast = median(out["fast"])
            note = "" if out["fast_certified"] else "fast path not certified (would fall back)"
            figs.append(Figure(w, f"fast path fit ({out['n_obs']:,} obs)", "s", out["fast"],
                               loads=[res.load], note=note))  # fmt: skip
            if out["statsmodels"] is None:
                est = sm_prev[1] * n / sm_prev[0] if sm_prev else float("nan")
                figs.append(Figure(w, "statsmodels path fit", "s", [], note=(
                    f"skipped: extrapolated ~{est:.0f} s > {SM_LIMIT_S:.0f} s")))  # fmt: skip
            else:
                sm = median(out["statsmodels"])
                sm_prev = (n, sm)
                diff = out.get("fast_vs_statsmodels_max_abs_diff")
                note = f"max |fixef diff| vs fast {diff:.1e}" if diff is not None else ""
                figs.append(Figure(w, "statsmodels path fit", "s", out["statsmodels"], note=note))
                figs.append(Figure(w, "statsmodels / fast", "x", [], value=sm / fast))
            figs.append(Figure(w, "fit worker peak RSS (data + fits)", "MB", [res.rss_mb]))
            if have_r:
                times, fixef, rres = _lme4(csv_path, opts.repeat)
                lme4 = median(times)
                note = ""
                if out["fast_fixef"]:
                    d = max(abs(a - b) for a, b in zip(fixef, out["fast_fixef"], strict=True))
                    note = f"max |fixef diff| vs fast {d:.1e}"
                figs.append(Figure(w, "lme4 lmer() fit", "s", times, loads=[rres.load],
                                   note=note))  # fmt: skip
                figs.append(Figure(w, "fast / lme4", "x", [], value=fast / lme4,
                                   note="< 1: fast path quicker than lme4"))  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return figs


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
