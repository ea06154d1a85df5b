"""A small example programme built from simulated cohorts (``balint-analysis simulate-programme``).

Three (or more) synthetic cohorts of the ``small`` preset, one per site, whose true Balint
effects differ by a site factor (so the pooled analysis has real heterogeneity to find):
their exports under ``data/raw/<name>_<site>/``, a cohort config each under
``config/<name>_<site>.yaml`` and the programme config ``config/programme/<name>.yaml``.
Same arguments, same bytes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from balint_analysis.errors import InputError

__all__ = ["EXAMPLE_INSTRUMENTS", "EXAMPLE_SITES", "write_example_programme"]

#: The instruments the example's cohort configs analyse (the primary outcome's).
EXAMPLE_INSTRUMENTS = ("mbi_hss",)

#: (site label, country, year, factor on the true effects of the ``small`` preset).
EXAMPLE_SITES = (
    ("Krakow", "PL", 2024, 1.6),
    ("Leipzig", "DE", 2025, 1.0),
    ("Utrecht", "NL", 2025, 0.3),
    ("Brno", "CZ", 2026, 0.8),
    ("Graz", "AT", 2026, 1.2),
    ("Aarhus", "DK", 2026, 0.5),
)


def write_example_programme(name: str = "example", *, seed: int = 20261201, cohorts: int = 3,
                            root: str | Path = ".", force: bool = False) -> list[Path]:  # fmt: skip
    """Write the example programme's data and configs under ``root``; the paths written.

    Raises
    ------
    InputError
        ``cohorts`` outside 2..6, or a file to write exists with other content (pass
        ``force``).
    """
    from balint_analysis.simulate import PRESETS, simulate_cohort, write_cohort, write_config

    if not 2 <= cohorts <= len(EXAMPLE_SITES):
        raise InputError(f"--cohorts {cohorts}: the example has 2 to {len(EXAMPLE_SITES)} "
                         "cohorts.")  # fmt: skip
    root = Path(root)
    base = PRESETS["small"]
    written: list[Path] = []
    entries = []
    for i, (site, country, year, factor) in enumerate(EXAMPLE_SITES[:cohorts]):
        cohort_name = f"{name}_{site.lower()}"
        scales = tuple(dataclasses.replace(s, effect=tuple(e * factor for e in s.effect))
                       for s in base.scales)  # fmt: skip
        params = dataclasses.replace(base, name=f"small, effects x{factor:g}", scales=scales)
        cohort = simulate_cohort(params, seed=seed + i)
        data_dir = Path("data") / "raw" / cohort_name
        config = Path("config") / f"{cohort_name}.yaml"
        _refuse_overwrite(root, data_dir, cohort.files, force)
        written += write_cohort(cohort, root / data_dir)
        written.append(write_config(cohort, data_dir.as_posix(), root / config,
                                    cohort_name=cohort_name,
                                    title=f"Balint groups at {site} ({year}, synthetic)"))
        _keep_instruments(root / config, EXAMPLE_INSTRUMENTS)
        entries.append({"config": config.as_posix(), "site": site, "year": year,
                        "country": country})  # fmt: skip
    programme = {"programme": {
        "name": name, "title": f"Balint groups across {cohorts} sites (synthetic example)",
        "cohorts": entries, "primary_outcome": "mbi_hss.emotional_exhaustion",
    }}  # fmt: skip
    path = root / "config" / "programme" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# Example programme written by `balint-analysis simulate-programme` (synthetic "
            "cohorts).\n# Keys are documented in docs/programme.md.\n"
            + yaml.safe_dump(programme, sort_keys=False, allow_unicode=True, width=100))
    path.write_text(text, encoding="utf-8")
    written.append(path)
    return written


def _keep_instruments(config: Path, keep: tuple[str, ...]) -> None:
    """Analyse only ``keep`` (the other answers of the exports are left unused): the example
    pools these outcomes, and a cohort run with fewer instruments is quicker."""
    header = "".join(ln for ln in config.read_text(encoding="utf-8").splitlines(True)
                     if ln.startswith("#"))  # fmt: skip
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["instruments"] = {k: v for k, v in raw["instruments"].items() if k in keep}
    for export in raw["exports"]:
        if "instruments" in export:
            export["instruments"] = {k: v for k, v in export["instruments"].items() if k in keep}
    text = header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    config.write_text(text, encoding="utf-8")


def _refuse_overwrite(root: Path, data_dir: Path, files: dict[str, bytes], force: bool) -> None:
    """A file of other content (a real export?) is never overwritten without ``force``."""
    for name, data in files.items():
        target = root / data_dir / name
        if not force and target.is_file() and target.read_bytes() != data:
            raise InputError(f"{data_dir / name} exists with other content (a real export?); "
                             "choose another --name, or pass --force to overwrite it.")
