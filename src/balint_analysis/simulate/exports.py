"""What every export writer shares: file names, item column names, identities, cells, CSV bytes.

The platform writers live in :mod:`balint_analysis.simulate.platforms` (one module per
platform; the demo layout's Qualtrics, REDCap and LimeSurvey files are described in
:mod:`~balint_analysis.simulate.platforms.demo`, the other layouts in their modules). This
module holds what they share: :data:`INSTRUMENT_LAYOUT` (per instrument: the question text, the
per-item statement label, never the copyrighted wording, and one column template per platform),
:func:`item_columns`, synthetic identities, IP addresses, durations and free-text comments,
survey-window times, :func:`answer_cells`, the roster and :func:`to_csv_bytes`.

``participants.csv``
    The roster: ``participant_id, group, balint_group, sessions_attended, age, gender,
    profession, years_in_practice, email``; empty ``balint_group``/``sessions_attended`` for
    controls.

Adding a platform writer is one module under ``platforms/``: give every
:data:`INSTRUMENT_LAYOUT` entry a column template under the new platform name
(``columns["<platform>"]``) when the names are fixed per instrument, build the rows with
:func:`answer_cells` (any :class:`~balint_analysis.simulate.coding.Coding`) and the
bookkeeping columns below, and return
:class:`~balint_analysis.simulate.platforms.common.ExportFile` objects from a layout builder
registered in :mod:`balint_analysis.simulate.layouts`.

Tables are built as string DataFrames (empty string = empty cell) that carry hidden bookkeeping
columns (prefixed ``_``: participant index, timepoint index, whether a correct pipeline accepts
the row, a unique row id); :func:`to_csv_bytes` drops them when writing.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.simulate.coding import CODES, Coding
from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import SimulationParams

__all__ = [
    "INSTRUMENT_LAYOUT",
    "ItemLayout",
    "REDCAP_EVENTS",
    "answer_cells",
    "draw_blanks",
    "draw_comments",
    "draw_durations",
    "draw_identities",
    "draw_ips",
    "item_columns",
    "platform_columns",
    "roster_table",
    "to_csv_bytes",
]

ROSTER_FILE = "participants.csv"
QUALTRICS_FILE = "pre_qualtrics.csv"
REDCAP_FILE = "post_redcap.csv"
LIMESURVEY_FILE = "followup_limesurvey.csv"
TRUTH_FILE = "truth.json"
TRUTH_SCORES_FILE = "truth_scores.csv"


@dataclass(frozen=True)
class ItemLayout:
    """How one instrument's items appear in the exports.

    Attributes
    ----------
    question
        Question text (Qualtrics header row 2: ``"<question> - <statement>"``; SurveyMonkey
        header row 1 above the matrix; SoSci variable labels).
    statement
        Per-item statement label, ``{i}`` = item number (never the copyrighted wording).
    qid
        Qualtrics question id (``ImportId`` ``<qid>_<i>``).
    columns
        Platform → column template (``{i}`` = item number): ``qualtrics`` ``MBI_{i}``,
        ``redcap`` ``mbi_{i}``, ``limesurvey`` ``MBI[SQ{i:03d}]``, ``sheet`` (the tutorial's
        hand-made workbook) ``MBI{i}``, ``csv`` (the tutorial's own CSV) ``mbi_{i:02d}``,
        ``sosci`` ``MB01_{i:02d}`` (question id + two-digit item). SurveyMonkey names columns
        by question position, so its names come from the battery (``platforms.surveymonkey``).
    """

    question: str
    statement: str
    qid: str
    columns: dict[str, str]


INSTRUMENT_LAYOUT: dict[str, ItemLayout] = {
    "mbi_hss": ItemLayout("Maslach Burnout Inventory (MBI-HSS)", "MBI item {i}", "QID1",
                          {"qualtrics": "MBI_{i}", "redcap": "mbi_{i}",
                           "limesurvey": "MBI[SQ{i:03d}]", "sheet": "MBI{i}",
                           "csv": "mbi_{i:02d}", "sosci": "MB01_{i:02d}"}),
    "pss10": ItemLayout("Perceived Stress Scale (PSS-10)", "PSS item {i}", "QID2",
                        {"qualtrics": "PSS_{i}", "redcap": "pss_{i:02d}",
                         "limesurvey": "PSS[SQ{i:03d}]", "sheet": "PSS{i}",
                         "csv": "pss_{i:02d}", "sosci": "PS01_{i:02d}"}),
    "cbi": ItemLayout("Copenhagen Burnout Inventory (CBI)", "CBI item {i}", "QID3",
                      {"qualtrics": "CBI_{i}", "redcap": "cbi_{i:02d}",
                       "limesurvey": "CBI[SQ{i:03d}]", "sheet": "CBI{i}",
                       "csv": "cbi_{i:02d}", "sosci": "CB01_{i:02d}"}),
    "who5": ItemLayout("WHO-5 Well-Being Index", "WHO-5 item {i}", "QID4",
                       {"qualtrics": "WHO5_{i}", "redcap": "who5_{i}",
                        "limesurvey": "WHO5[SQ{i:03d}]", "sheet": "WHO5_{i}",
                        "csv": "who5_{i:02d}", "sosci": "WH01_{i:02d}"}),
    "proqol5": ItemLayout("Professional Quality of Life Scale (ProQOL 5)", "ProQOL item {i}",
                          "QID6", {"qualtrics": "PROQOL_{i}", "redcap": "proqol_{i:02d}",
                                   "limesurvey": "PROQOL[SQ{i:03d}]", "sheet": "PROQOL{i}",
                                   "csv": "proqol_{i:02d}", "sosci": "PQ01_{i:02d}"}),
    "jse_hp": ItemLayout("Jefferson Scale of Empathy (HP)", "JSE item {i}", "QID7",
                         {"qualtrics": "JSE_{i}", "redcap": "jse_{i:02d}",
                          "limesurvey": "JSE[SQ{i:03d}]", "sheet": "JSE{i}",
                          "csv": "jse_{i:02d}", "sosci": "JS01_{i:02d}"}),
    "olbi": ItemLayout("Oldenburg Burnout Inventory (OLBI)", "OLBI item {i}", "QID8",
                       {"qualtrics": "OLBI_{i}", "redcap": "olbi_{i:02d}",
                        "limesurvey": "OLBI[SQ{i:03d}]", "sheet": "OLBI{i}",
                        "csv": "olbi_{i:02d}", "sosci": "OL01_{i:02d}"}),
}  # fmt: skip
"""Export layout of every instrument the generator can administer."""
COMMENT_TAG = "Q5_TEXT"
COMMENT_TEXT = "Anything else you would like to tell us?"
COMMENT_QID = "QID5_TEXT"
REDCAP_EVENTS: dict[int, str] = {1: "post_arm_1"}
"""REDCap unique event name of each timepoint index the REDCap export holds (post only)."""
REDCAP_FORM = "burnout_survey"
LIMESURVEY_TIMEPOINT = 2
"""Timepoint index of the LimeSurvey export (follow-up)."""
LIMESURVEY_SYSTEM = ("id", "submitdate", "lastpage", "startlanguage", "seed", "startdate",
                     "datestamp")  # fmt: skip
"""LimeSurvey system columns of the follow-up survey, in export order."""
LIMESURVEY_ID = "PCODE"
"""LimeSurvey short-text question holding the participant's study code."""
LIMESURVEY_COMMENT = "COMMENT"
"""LimeSurvey long free-text question (the closing comment)."""

FIRST_NAMES = (
    "Anna", "Katarzyna", "Łukasz", "Marta", "Piotr", "Jürgen", "Sophie", "Tomasz", "Zofia",
    "Agnieszka", "Jan", "Ewa", "Michał", "Julia", "Paweł", "Maria", "Thomas", "Laura",
    "Małgorzata", "Krzysztof", "Helena", "Oliver", "Irena", "Adam",
)  # fmt: skip
LAST_NAMES = (
    "Nowak", "Wójcik", "Müller", "Schmidt", "Kaczmarek", "Zieliński", "Lewandowska",
    "Dąbrowski", "Becker", "Wagner", "Kowalczyk", "Szymańska", "Hoffmann", "Krause", "Mazur",
    "Król", "Jankowska", "Fischer", "Górecki", "Walter",
)  # fmt: skip
COMMENTS = (
    "The group helped me a lot.",
    "Too many questions, sorry.",
    "Sessions were too short, 90 minutes is not enough",
    'Our leader said "there is no wrong answer", which helped.',
    "I changed wards in January, so some answers refer to the old team.",
    "Hard to answer during night shifts,\nI filled this in after work.",
    "- nothing to add",
    "Grupa była bardzo pomocna – dziękuję!",
    "Bitte mehr Termine am Abend.",
    "Dr. Nowak's group felt safe; I would recommend it.",
    "n/a",
    "Stress mostly from staffing, not from patients.",
)
IP_NETS = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737 documentation ranges
ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))


def item_columns(inst_id: str, n_items: int, *, platform: str) -> list[str]:
    """Export column names of one instrument's items (qualtrics, redcap or limesurvey)."""
    layout = INSTRUMENT_LAYOUT.get(inst_id)
    if layout is None or platform not in layout.columns:
        raise ValueError(f"no {platform} export layout for instrument '{inst_id}'.")
    return template_columns(layout.columns[platform], n_items)


def template_columns(template: str, n_items: int) -> list[str]:
    """Item column names of a column template (``{i}`` = item number 1…n)."""
    return [template.format(i=i) for i in range(1, n_items + 1)]


def platform_columns(answers: dict[str, Answers], platform: str) -> dict[str, list[str]]:
    """Instrument id → item column names under the platform's template."""
    return {k: item_columns(k, a.instrument.n_items, platform=platform) for k, a in answers.items()}


def draw_identities(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic names and e-mail addresses (``@example.org``) for every participant."""
    n = len(people)
    first = np.asarray(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.asarray(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    number = people["participant_id"].str.slice(1).to_numpy()
    emails = [
        f"{_ascii(f)}.{_ascii(s)}{k}@example.org".lower()
        for f, s, k in zip(first, last, number, strict=True)
    ]
    return pd.DataFrame({"first": first, "last": last, "email": emails})


def _ascii(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def draw_blanks(
    params: SimulationParams, rng: np.random.Generator, answers: dict[str, Answers]
) -> dict[str, np.ndarray]:
    """Item non-response: ``(participants, timepoints, items)`` True where left blank."""
    return {k: rng.random(a.raw.shape) < params.item_missing_rate for k, a in answers.items()}


def window_start(params: SimulationParams, t: int) -> int:
    """Seconds since the epoch of the opening of timepoint ``t``'s survey window."""
    return int(np.datetime64(params.survey_start[t], "s").astype(np.int64))


def window_times(params: SimulationParams, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """``n`` submission times in timepoint ``t``'s survey window, between 07:00 and 22:00."""
    day = rng.integers(0, params.survey_days, n)
    second = rng.integers(7 * 3600, 22 * 3600, n)
    start = np.datetime64(params.survey_start[t], "s")
    return start + (day * 86400 + second).astype("timedelta64[s]")


def draw_durations(rng: np.random.Generator, m: int, median: float) -> np.ndarray:
    """``m`` survey durations in whole seconds: log-normal around ``median``, at least 120."""
    return np.maximum(120, np.rint(rng.lognormal(np.log(median), 0.35, m))).astype(np.int64)


def draw_ips(rng: np.random.Generator, m: int) -> np.ndarray:
    """``m`` IPv4 addresses in the documentation ranges :data:`IP_NETS`."""
    nets = np.asarray(IP_NETS)[rng.integers(0, 3, m)]
    return np.char.add(np.char.add(nets, "."), rng.integers(1, 255, m).astype(str))


def fmt_times(times: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD HH:MM:SS`` strings."""
    return np.char.replace(np.datetime_as_string(times, unit="s"), "T", " ")


def response_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Qualtrics response ids: ``R_`` + 15 alphanumerics."""
    chars = np.ascontiguousarray(ALNUM[rng.integers(0, len(ALNUM), (n, 15))])
    return np.char.add("R_", chars.view("U15").ravel())


def answer_cells(
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    rows: np.ndarray,
    t: int,
    columns: dict[str, list[str]],
    coding: Coding = CODES,
    *,
    blank: str = "",
) -> dict[str, np.ndarray]:
    """Item cells of ``rows`` at timepoint ``t`` under ``coding``; ``blank`` where unanswered.

    ``columns``: instrument id → its item columns (e.g. :func:`platform_columns`).
    """
    cells: dict[str, np.ndarray] = {}
    for inst_id, a in answers.items():
        values = coding.encode(a.instrument, a.raw[rows, t, :])
        values = np.where(blanks[inst_id][rows, t, :], blank, values)
        for j, name in enumerate(columns[inst_id]):
            cells[name] = values[:, j]
    return cells


def draw_comments(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    has = rng.random(n) < share
    pick = np.asarray(COMMENTS)[rng.integers(0, len(COMMENTS), n)]
    return np.where(has, pick, "")


def roster_table(people: pd.DataFrame, identities: pd.DataFrame) -> pd.DataFrame:
    """The roster as written (strings; empty cells for controls' group and attendance)."""
    sessions = people["sessions_attended"].to_numpy()
    return pd.DataFrame(
        {
            "participant_id": people["participant_id"],
            "group": people["group"],
            "balint_group": people["balint_group"],
            "sessions_attended": np.where(sessions >= 0, sessions.astype(str), ""),
            "age": people["age"].astype(str),
            "gender": people["gender"],
            "profession": people["profession"],
            "years_in_practice": people["years_in_practice"].astype(str),
            "email": identities["email"],
        },
        dtype=str,
    )


def visible(table: pd.DataFrame) -> pd.DataFrame:
    """The exported columns only (bookkeeping columns starting with ``_`` dropped)."""
    return table[[c for c in table.columns if not str(c).startswith("_")]]


def to_csv_bytes(
    table: pd.DataFrame,
    header_rows: list[list[str]] | None = None,
    *,
    delimiter: str = ",",
    lineterminator: str = "\n",
    quoting: int = csv.QUOTE_MINIMAL,
    encoding: str = "utf-8",
    bom: bool = False,
    trailer: str = "",
) -> bytes:
    """CSV bytes of the visible columns; deterministic. Default: UTF-8 without BOM, comma,
    minimal quoting, ``\\n`` line ends.

    ``header_rows`` replaces the single header row (Qualtrics writes three); ``bom`` prefixes
    U+FEFF before encoding; ``trailer`` is appended after the last record (LimeSurvey's extra
    empty line).
    """
    data = visible(table)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator, quoting=quoting)
    writer.writerows(header_rows if header_rows is not None else [list(data.columns)])
    writer.writerows(data.itertuples(index=False, name=None))
    return (("\ufeff" if bom else "") + buf.getvalue() + trailer).encode(encoding)
