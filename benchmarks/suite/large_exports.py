"""Three exports of a million rows each: the demo layout's cohort, simulated, then tiled.

The simulator draws a cohort of ``--base`` participants (the demo preset's battery and export
layout: Qualtrics, REDCap, LimeSurvey CSVs and a roster); each export and the roster are then
repeated with a copy number added to every participant id (and Balint group), until each
export holds ``--rows`` response rows. Simulating a million participants directly would take
~20 minutes and more memory than the run it prepares; the tiled copies keep the simulator's
answers, problems and file formats (BOM, quoting, line ends, header rows) unchanged.

``python large_exports.py OUT --rows 1000000`` writes ``OUT/data/raw/large`` and
``OUT/config/config.yaml`` (run from ``benchmarks/``; used by W5, never timed).
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import replace
from pathlib import Path

COHORT = "large"
#: Export file -> (header rows, participant id column); the demo layout's exports.
EXPORTS = {"pre_qualtrics.csv": (3, "ExternalReference"), "post_redcap.csv": (1, "record_id"),
           "followup_limesurvey.csv": (1, "PCODE")}  # fmt: skip
ROSTER = "participants.csv"


def _dialect(data: bytes) -> tuple[bool, str, bool]:
    """(byte-order mark, line end, every cell quoted) of a simulated CSV."""
    bom = data.startswith(b"\xef\xbb\xbf")
    first = data[3 if bom else 0 : data.index(b"\n") + 1]
    return bom, "\r\n" if first.endswith(b"\r\n") else "\n", first.startswith(b'"')


def tile(path: Path, header_rows: int, id_columns: dict[str, str], rows: int | None,
         copies: int) -> int:  # fmt: skip
    """Rewrite ``path`` as ``copies`` copies of its body (or the first ``rows`` rows of as many
    as needed), each copy's ``id_columns`` cells suffixed ``-c<copy>``; return the copies
    begun."""
    data = path.read_bytes()
    bom, end, quote_all = _dialect(data)
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    trailer = end if records and not records[-1] else ""
    records = [r for r in records if r]
    head, body = records[:header_rows], records[header_rows:]
    columns = [(head[0].index(col), sep) for col, sep in id_columns.items()]
    needed = rows if rows is not None else copies * len(body)
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    written = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator=end, quoting=quoting)
        writer.writerows(head)
        copy = 0
        while written < needed:
            copy += 1
            for rec in body[: needed - written]:
                out = list(rec)
                for i, sep in columns:
                    if out[i].strip():
                        out[i] = f"{out[i].strip()}{sep}c{copy}"
                writer.writerow(out)
            written += min(len(body), needed - written)
        fh.write(trailer)
    return copy


def write_large(work: Path, rows: int, base: int = 20_000, seed: int = 1) -> Path:
    """Simulate ``base`` participants (demo preset) into ``work`` and tile every export to
    ``rows`` rows; the roster gets as many copies as the most repeated export."""
    from balint_analysis.simulate import PRESETS, simulate_cohort, write_cohort, write_config

    params = replace(PRESETS["demo"], name=COHORT, n_per_arm=base // 2,
                     n_balint_groups=max(base // 20, 1))  # fmt: skip
    sim = simulate_cohort(params, seed=seed)
    raw = Path("data") / "raw" / COHORT
    write_cohort(sim, work / raw)
    write_config(sim, raw, work / "config" / "config.yaml", cohort_name=COHORT)
    for extra in ("truth.json", "truth_scores.csv"):
        (work / raw / extra).unlink(missing_ok=True)
    copies = max(tile(work / raw / name, header_rows, {id_col: "-"}, rows, 0)
                 for name, (header_rows, id_col) in EXPORTS.items())  # fmt: skip
    tile(work / raw / ROSTER, 1, {"participant_id": "-", "balint_group": "-"}, None, copies)
    return work


def main(argv: list[str] | None = None) -> None:
    """``python large_exports.py OUT --rows N [--base PARTICIPANTS]``."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--base", type=int, default=20_000)
    args = ap.parse_args(argv)
    write_large(args.out, args.rows, args.base)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
