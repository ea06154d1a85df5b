"""Writers for small survey exports in each platform's on-disk layout (fixtures/exports/README).

The test corpus is generated from these inside ``tmp_path``: no hand-kept binaries. Every
cohort uses the PSS-10 (items 0-4, reverse-keyed items) so files stay small.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from balint_analysis.config import load_config
from balint_analysis.ingest import ingest
from balint_analysis.validate import validate

PSS = [f"PSS_{i}" for i in range(1, 11)]
QUALTRICS_META = ["StartDate", "EndDate", "Status", "IPAddress", "Progress",
                  "Duration (in seconds)", "Finished", "RecordedDate", "ResponseId",
                  "RecipientLastName", "RecipientFirstName", "RecipientEmail", "ExternalReference",
                  "LocationLatitude", "LocationLongitude", "DistributionChannel",
                  "UserLanguage"]  # fmt: skip


def items(value: int | list[int | str], template: str = "PSS_{i}") -> dict[str, str]:
    """Answers to the ten PSS items: one value for all, or a list of ten."""
    values = value if isinstance(value, list) else [value] * 10
    return {template.format(i=i): str(v) for i, v in enumerate(values, start=1)}


def cell(value: Any, delimiter: str = ",", quote_all: bool = False) -> str:
    text = "" if value is None else str(value)
    if quote_all or any(ch in text for ch in f'{delimiter}"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def table(header: list[str], rows: list[dict], *, delimiter: str = ",", quote_all: bool = False,
          line_end: str = "\n", trailing: str = "") -> str:  # fmt: skip
    """Delimited text: header then one line per row (missing keys blank)."""
    lines = [delimiter.join(cell(h, delimiter, quote_all) for h in header) + trailing]
    for row in rows:
        lines.append(delimiter.join(cell(row.get(h, ""), delimiter, quote_all) for h in header)
                     + trailing)  # fmt: skip
    return line_end.join(lines) + line_end


def qualtrics(rows: list[dict], *, legacy: bool = False, extra: tuple[str, ...] = ("Q5_TEXT",),
              delimiter: str = ",") -> str:  # fmt: skip
    """Qualtrics data table: 3 header rows (current) or the legacy ``V1,V2,...`` 2-row form."""
    defaults = {"Status": "0", "Finished": "1", "Progress": "100",
                "DistributionChannel": "anonymous"}  # fmt: skip
    rows = [{**defaults, **r} for r in rows]
    names = QUALTRICS_META + PSS + list(extra)
    if legacy:
        legacy_meta = ["ResponseID", "ResponseSet", "Name", "ExternalDataReference",
                       "EmailAddress", "IPAddress", "Status", "StartDate", "EndDate", "Finished"]
        names = legacy_meta + PSS + list(extra)
        first = [f"V{i}" for i in range(1, 11)] + PSS + list(extra)
        rows = [{**r, "ExternalDataReference": r.get("ExternalReference", "")} for r in rows]
        body = table(names, rows, delimiter=delimiter, trailing=delimiter)
        return delimiter.join(first) + delimiter + "\n" + body
    texts = [f"Text of {n}" for n in names]
    ids = [cell(json.dumps({"ImportId": n}, separators=(",", ":")), delimiter) for n in names]
    body = table(names, rows, delimiter=delimiter)
    head, rest = body.split("\n", 1)
    return "\n".join([head, delimiter.join(texts), delimiter.join(ids), rest])


def redcap(rows: list[dict], *, dag: bool = False, forms: tuple[str, ...] = ("pss",)) -> str:
    """REDCap raw export: record_id, event, (DAG), survey timestamp, items, form status."""
    names = ["record_id", "redcap_event_name"] + (["redcap_data_access_group"] if dag else [])
    names += ["redcap_survey_identifier", "pss_timestamp"]
    names += [f"pss_{i:02d}" for i in range(1, 11)] + ["comments"]
    names += [f"{f}_complete" for f in forms]
    return table(names, rows)


def limesurvey(rows: list[dict], *, delimiter: str = ",") -> bytes:
    """LimeSurvey CSV: UTF-8 BOM, every field quoted, CRLF, an empty line at the end."""
    names = ["id", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp",
             "ipaddr", "SGIC"] + [f"PSS[SQ{i:03d}]" for i in range(1, 11)] + ["PSS_comment"]
    text = table(names, rows, delimiter=delimiter, quote_all=True, line_end="\r\n") + "\r\n"
    return text.encode("utf-8-sig")


def google_forms(rows: list[dict]) -> str:
    names = ["Timestamp", "Email Address", "Your personal code"]
    names += [f"In the last month, how often... [Statement {i}]" for i in range(1, 11)]
    names += ["Any comments?"]
    return table(names, rows)


def xlsx(path: Path, header: list[str], rows: list[list[Any]], *, sheet: str = "Sheet1",
         leading_blank_rows: int = 0) -> Path:  # fmt: skip
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for _ in range(leading_blank_rows):
        ws.append([])
    ws.append(header)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def microsoft_forms(path: Path, rows: list[dict]) -> Path:
    header = ["ID", "Start time", "Completion time", "Email", "Name", "Your personal code"]
    header += [f"Statement {i}" for i in range(1, 11)] + ["Comments"]
    return xlsx(path, header, [[r.get(h) for h in header] for r in rows])


def sav(path: Path, columns: dict[str, list], **meta: Any) -> Path:
    import pandas as pd
    import pyreadstat

    pyreadstat.write_sav(pd.DataFrame(columns), str(path), **meta)
    return path


ROSTER = [("P1", "balint"), ("P2", "balint"), ("P3", "balint"), ("P4", "control"),
          ("P5", "control"), ("P6", "control")]  # fmt: skip


def cohort(tmp_path: Path, exports: list[tuple[str, str | bytes | Callable[[Path], Any], dict]],
           *, roster: list[tuple[str, str]] | None = ROSTER, timepoints=("pre", "post"),
           **overrides: Any) -> dict:  # fmt: skip
    """Write files under ``tmp_path/raw`` and return a raw config mapping for them.

    ``exports``: ``(file name, content or writer(path), export spec without path)``.
    """
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir(exist_ok=True)
    specs = []
    for name, content, spec in exports:
        path = raw_dir / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        specs.append({"path": str(path), **spec})
    config: dict[str, Any] = {
        "cohort": "corpus",
        "title": "Test corpus",
        "design": {"timepoints": list(timepoints), "intervention": "balint",
                   "control": "control"},
        "exports": specs,
        "instruments": {"pss10": "PSS_{i}"},
        "analysis": {"primary": "pss10.total", "min_cell_size": 1},
        "privacy": {"key_env": "BALINT_TEST_KEY_UNSET", "allow_demo_key": True},
    }  # fmt: skip
    if roster is not None:
        (raw_dir / "participants.csv").write_text(
            table(["participant_id", "group"], [{"participant_id": p, "group": g}
                                                for p, g in roster]), encoding="utf-8")  # fmt: skip
        config["participants"] = {"path": str(raw_dir / "participants.csv"),
                                  "id": "participant_id", "group": "group"}  # fmt: skip
    for key, value in overrides.items():
        config[key] = value
    return config


def run(config: dict):
    """Ingest and validate a raw config; return the validation result (accounting checked)."""
    cfg = load_config(copy.deepcopy(config))
    result = ingest(cfg)
    out = validate(result.responses, result.roster, cfg, result.info)
    for f in out.flow["files"]:
        assert f["rows_in"] == f["rows_accepted"] + f["rows_rejected"], f["source"]
    return out


def reasons(result, name: str | None = None) -> dict[int, set[str]]:
    """Row number → set of reasons (of row-excluding problems) for one file."""
    rej = result.rejected
    if name:
        rej = rej[rej["source"].str.endswith(name)]
    rej = rej[rej["action"] == "row excluded"]
    out: dict[int, set[str]] = {}
    for row, reason in zip(rej["row"], rej["reason"], strict=True):
        out.setdefault(int(row), set()).add(reason.split(" (kept")[0])
    return out


def counts(result, name: str) -> tuple[int, int, int]:
    f = next(f for f in result.flow["files"] if f["source"].endswith(name))
    return f["rows_in"], f["rows_accepted"], f["rows_rejected"]
