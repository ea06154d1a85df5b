"""Platform writers: the roster, a Qualtrics data table, a REDCap raw and a LimeSurvey export.

Layouts follow ``reference/export_formats.md`` §1.1 (Qualtrics, current "data table" CSV with
numeric values), §2.1 (REDCap raw longitudinal CSV with survey fields) and §3 (LimeSurvey
response export, CSV, question codes as headings, answer codes as values):

``pre_qualtrics.csv``
    UTF-8 **without BOM** (the current Qualtrics exporter; the qualtRics sample has none), comma,
    ``\\n`` line ends. Three header rows: export tags; human text (``"<question> - MBI item 1"``:
    MBI wording is copyrighted and never written); ``{"ImportId":...}`` JSON per cell (dates
    carry ``timeZone``). Columns: the 17 default metadata columns ``StartDate`` …
    ``UserLanguage``, then ``MBI_1`` … ``MBI_22``, ``PSS_1`` … ``PSS_10``, ``CBI_1`` …
    ``CBI_19``, ``WHO5_1`` … ``WHO5_5``, then the free-text ``Q5_TEXT``. CBI items hold the
    **recode values 0/25/50/75/100** that the survey designer set in Qualtrics ("Recode
    values"), i.e. the CBI's published item scores, not the 1–5 choice positions, so the
    built-in ``cbi`` definition applies as is; WHO-5 items hold 0–5. (The ``survey`` battery
    writes ``MBI``, ``CBI``, ``PROQOL_1`` … ``PROQOL_30`` and ``JSE_1`` … ``JSE_20`` instead:
    the instruments of the parameters, in their order, see :data:`INSTRUMENT_LAYOUT`.) The
    participant id is in ``ExternalReference``. Rows are in ``RecordedDate`` order, as
    Qualtrics lists them.
``post_redcap.csv``
    The post wave. UTF-8 without BOM (as the REDCap API writes), comma, ``\\n``. One header
    row: ``record_id, redcap_event_name, redcap_survey_identifier, burnout_survey_timestamp,
    mbi_1`` … ``mbi_22, pss_01`` … ``pss_10, cbi_01`` … ``cbi_19, who5_1`` … ``who5_5,
    comments, burnout_survey_complete`` (CBI radio-button codes defined as 0, 25, 50, 75, 100
    in the data dictionary). A longitudinal project: the survey is designated to event
    ``post_arm_1`` (the only event mapped to a design timepoint; the injected problems add a
    ``screening_arm_1`` row). Rows sorted by record then event, as REDCap exports them.
``followup_limesurvey.csv``
    The follow-up wave, a LimeSurvey response export ("CSV", headings "question code",
    responses "answer codes"): **UTF-8 with BOM**, every field quoted, **CRLF** line ends
    (line breaks inside a comment stay ``\\n``), an extra empty line at the end. One header
    row: the system columns ``id, submitdate, lastpage, startlanguage, seed, startdate,
    datestamp`` (date stamps on; no ``token``: an open survey without a participant table, so
    no ``ipaddr``/``refurl`` either), then the participant's study code in the short-text
    question ``PCODE`` ("Your study code, from your invitation letter"), then one **array
    question per instrument** with the default subquestion codes: ``MBI[SQ001]`` …
    ``MBI[SQ022]``, ``PSS[SQ001]`` … ``PSS[SQ010]``, ``CBI[SQ001]`` … ``CBI[SQ019]``,
    ``WHO5[SQ001]`` … ``WHO5[SQ005]``, then the long free-text question ``COMMENT``. The
    designer gave the answer options **numeric codes** (MBI 0–6, PSS 0–4, CBI 0/25/50/75/100,
    WHO-5 0–5), so the values are the instrument's codes; LimeSurvey's default ``AO01``-style
    answer codes are not supported by the pipeline yet (export them as numeric codes, or
    recode). One page per question group (code, one per instrument, comment): ``lastpage``
    is the number of pages for submitted responses. ``id`` counts responses in ``startdate``
    order; a submitted response has ``submitdate = datestamp``, an abandoned one an empty
    ``submitdate`` and the answers of the pages it submitted.
``participants.csv``
    The roster: ``participant_id, group, balint_group, sessions_attended, age, gender,
    profession, years_in_practice, email``; empty ``balint_group``/``sessions_attended`` for
    controls.

Adding a platform writer is one function here, shaped like :func:`limesurvey_table`: give every
:data:`INSTRUMENT_LAYOUT` entry a column template under the new platform name
(``columns["<platform>"]``), build the rows with :func:`answer_cells` and the bookkeeping
columns below; the orchestration in :func:`balint_analysis.simulate.simulate_cohort` then routes
the wave's timepoints to it. :func:`item_columns` and the truth (``truth.accepted_items``) work per
platform already.

Tables are built as string DataFrames (empty string = empty cell) that carry hidden bookkeeping
columns (prefixed ``_``: participant index, timepoint index, whether a correct pipeline accepts
the row, a unique row id); :func:`to_csv_bytes` drops them when writing.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.simulate.model import Answers
from balint_analysis.simulate.params import TIMEPOINTS, SimulationParams

__all__ = [
    "INSTRUMENT_LAYOUT",
    "ItemLayout",
    "QUALTRICS_COLUMNS",
    "REDCAP_EVENTS",
    "draw_blanks",
    "draw_identities",
    "item_columns",
    "limesurvey_table",
    "qualtrics_header",
    "qualtrics_table",
    "redcap_table",
    "roster_table",
    "to_csv_bytes",
    "to_limesurvey_bytes",
]

ROSTER_FILE = "participants.csv"
QUALTRICS_FILE = "pre_qualtrics.csv"
REDCAP_FILE = "post_redcap.csv"
LIMESURVEY_FILE = "followup_limesurvey.csv"
TRUTH_FILE = "truth.json"
TRUTH_SCORES_FILE = "truth_scores.csv"

QUALTRICS_META: tuple[tuple[str, str, str, bool], ...] = (
    # (export tag, row-2 text, row-3 ImportId, carries a time zone)
    ("StartDate", "Start Date", "startDate", True),
    ("EndDate", "End Date", "endDate", True),
    ("Status", "Response Type", "status", False),
    ("IPAddress", "IP Address", "ipAddress", False),
    ("Progress", "Progress", "progress", False),
    ("Duration (in seconds)", "Duration (in seconds)", "duration", False),
    ("Finished", "Finished", "finished", False),
    ("RecordedDate", "Recorded Date", "recordedDate", True),
    ("ResponseId", "Response ID", "_recordId", False),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName", False),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName", False),
    ("RecipientEmail", "Recipient Email", "recipientEmail", False),
    ("ExternalReference", "External Data Reference", "externalDataReference", False),
    ("LocationLatitude", "Location Latitude", "locationLatitude", False),
    ("LocationLongitude", "Location Longitude", "locationLongitude", False),
    ("DistributionChannel", "Distribution Channel", "distributionChannel", False),
    ("UserLanguage", "User Language", "userLanguage", False),
)
QUALTRICS_COLUMNS: tuple[str, ...] = tuple(m[0] for m in QUALTRICS_META)
"""The 17 default Qualtrics metadata columns, in export order."""


@dataclass(frozen=True)
class ItemLayout:
    """How one instrument's items appear in the exports.

    Attributes
    ----------
    question
        Qualtrics question text (row 2 of the header: ``"<question> - <statement>"``).
    statement
        Per-item statement label, ``{i}`` = item number (never the copyrighted wording).
    qid
        Qualtrics question id (``ImportId`` ``<qid>_<i>``).
    columns
        Platform → column template (``{i}`` = item number), e.g. ``{"qualtrics": "MBI_{i}",
        "redcap": "mbi_{i}", "limesurvey": "MBI[SQ{i:03d}]"}``.
    """

    question: str
    statement: str
    qid: str
    columns: dict[str, str]


INSTRUMENT_LAYOUT: dict[str, ItemLayout] = {
    "mbi_hss": ItemLayout("Maslach Burnout Inventory (MBI-HSS)", "MBI item {i}", "QID1",
                          {"qualtrics": "MBI_{i}", "redcap": "mbi_{i}",
                           "limesurvey": "MBI[SQ{i:03d}]"}),
    "pss10": ItemLayout("Perceived Stress Scale (PSS-10)", "PSS item {i}", "QID2",
                        {"qualtrics": "PSS_{i}", "redcap": "pss_{i:02d}",
                         "limesurvey": "PSS[SQ{i:03d}]"}),
    "cbi": ItemLayout("Copenhagen Burnout Inventory (CBI)", "CBI item {i}", "QID3",
                      {"qualtrics": "CBI_{i}", "redcap": "cbi_{i:02d}",
                       "limesurvey": "CBI[SQ{i:03d}]"}),
    "who5": ItemLayout("WHO-5 Well-Being Index", "WHO-5 item {i}", "QID4",
                       {"qualtrics": "WHO5_{i}", "redcap": "who5_{i}",
                        "limesurvey": "WHO5[SQ{i:03d}]"}),
    "proqol5": ItemLayout("Professional Quality of Life Scale (ProQOL 5)", "ProQOL item {i}",
                          "QID6", {"qualtrics": "PROQOL_{i}", "redcap": "proqol_{i:02d}",
                                   "limesurvey": "PROQOL[SQ{i:03d}]"}),
    "jse_hp": ItemLayout("Jefferson Scale of Empathy (HP)", "JSE item {i}", "QID7",
                         {"qualtrics": "JSE_{i}", "redcap": "jse_{i:02d}",
                          "limesurvey": "JSE[SQ{i:03d}]"}),
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
    template = layout.columns[platform]
    return [template.format(i=i) for i in range(1, n_items + 1)]


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


def window_times(params: SimulationParams, rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """``n`` submission times in timepoint ``t``'s survey window, between 07:00 and 22:00."""
    day = rng.integers(0, params.survey_days, n)
    second = rng.integers(7 * 3600, 22 * 3600, n)
    start = np.datetime64(params.survey_start[t], "s")
    return start + (day * 86400 + second).astype("timedelta64[s]")


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
    *,
    platform: str,
) -> dict[str, np.ndarray]:
    """Item cells (strings, blank where not answered) of ``rows`` at timepoint ``t``."""
    cells: dict[str, np.ndarray] = {}
    for inst_id, a in answers.items():
        names = item_columns(inst_id, a.instrument.n_items, platform=platform)
        values = a.raw[rows, t, :].astype(str)
        values = np.where(blanks[inst_id][rows, t, :], "", values)
        for j, name in enumerate(names):
            cells[name] = values[:, j]
    return cells


def _comments(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    has = rng.random(n) < share
    pick = np.asarray(COMMENTS)[rng.integers(0, len(COMMENTS), n)]
    return np.where(has, pick, "")


def qualtrics_header(params: SimulationParams, answers: dict[str, Answers]) -> list[list[str]]:
    """The three Qualtrics header rows: export tags, human text, ImportId JSON."""
    tags, texts, ids = [], [], []
    for tag, text, import_id, zoned in QUALTRICS_META:
        obj = {"ImportId": import_id} | ({"timeZone": params.time_zone} if zoned else {})
        tags.append(tag)
        texts.append(text)
        ids.append(json.dumps(obj, separators=(",", ":")))
    for inst_id, a in answers.items():
        layout = INSTRUMENT_LAYOUT[inst_id]
        question, statement, qid = layout.question, layout.statement, layout.qid
        for i, name in enumerate(
            item_columns(inst_id, a.instrument.n_items, platform="qualtrics"), start=1
        ):
            tags.append(name)
            texts.append(f"{question} - {statement.format(i=i)}")
            ids.append(json.dumps({"ImportId": f"{qid}_{i}"}, separators=(",", ":")))
    tags.append(COMMENT_TAG)
    texts.append(COMMENT_TEXT)
    ids.append(json.dumps({"ImportId": COMMENT_QID}, separators=(",", ":")))
    return [tags, texts, ids]


def qualtrics_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    identities: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """One clean Qualtrics row per participant who answered at baseline (before problems)."""
    rows = np.flatnonzero(responded[:, 0])
    m = len(rows)
    start = window_times(params, rng, 0, m)
    duration = np.maximum(120, np.rint(rng.lognormal(np.log(480.0), 0.35, m))).astype(np.int64)
    end = start + duration.astype("timedelta64[s]")
    by_email = rng.random(m) < 0.75
    ip = np.char.add(
        np.char.add(np.asarray(IP_NETS)[rng.integers(0, 3, m)], "."),
        rng.integers(1, 255, m).astype(str),
    )
    located = rng.random(m) < 0.85
    lat = np.char.mod("%.4f", 52.2297 + rng.normal(0.0, 0.6, m))
    lon = np.char.mod("%.4f", 21.0122 + rng.normal(0.0, 1.0, m))
    ids = response_ids(rng, m)
    comments = _comments(rng, m, 0.2)
    who = identities.iloc[rows]
    table = {
        "StartDate": fmt_times(start),
        "EndDate": fmt_times(end),
        "Status": np.full(m, "0"),
        "IPAddress": ip,
        "Progress": np.full(m, "100"),
        "Duration (in seconds)": duration.astype(str),
        "Finished": np.full(m, "1"),
        "RecordedDate": fmt_times(end + np.timedelta64(1, "s")),
        "ResponseId": ids,
        "RecipientLastName": np.where(by_email, who["last"].to_numpy(), ""),
        "RecipientFirstName": np.where(by_email, who["first"].to_numpy(), ""),
        "RecipientEmail": np.where(by_email, who["email"].to_numpy(), ""),
        "ExternalReference": people["participant_id"].to_numpy()[rows],
        "LocationLatitude": np.where(located, lat, ""),
        "LocationLongitude": np.where(located, lon, ""),
        "DistributionChannel": np.where(by_email, "email", "anonymous"),
        "UserLanguage": np.full(m, "EN"),
    }
    table |= answer_cells(answers, blanks, rows, 0, platform="qualtrics")
    table[COMMENT_TAG] = comments
    out = pd.DataFrame(table, dtype=str)
    out["_pid"], out["_t"], out["_accept"] = rows, 0, True
    return out


def redcap_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """Clean REDCap rows: one per participant × post-baseline event answered."""
    parts = []
    for t, event in REDCAP_EVENTS.items():
        rows = np.flatnonzero(responded[:, t])
        m = len(rows)
        stamp = fmt_times(window_times(params, rng, t, m))
        table = {
            "record_id": people["participant_id"].to_numpy()[rows],
            "redcap_event_name": np.full(m, event),
            "redcap_survey_identifier": np.full(m, ""),
            f"{REDCAP_FORM}_timestamp": stamp,
        }
        table |= answer_cells(answers, blanks, rows, t, platform="redcap")
        table["comments"] = _comments(rng, m, 0.15)
        table[f"{REDCAP_FORM}_complete"] = np.full(m, "2")
        part = pd.DataFrame(table, dtype=str)
        part["_pid"], part["_t"], part["_accept"] = rows, t, True
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def limesurvey_pages(n_instruments: int) -> int:
    """Pages of the LimeSurvey follow-up: the code, one per instrument, the comment."""
    return n_instruments + 2


def limesurvey_table(
    params: SimulationParams,
    rng: np.random.Generator,
    people: pd.DataFrame,
    answers: dict[str, Answers],
    blanks: dict[str, np.ndarray],
    responded: np.ndarray,
) -> pd.DataFrame:
    """Clean LimeSurvey rows: one submitted response per participant answering at follow-up.

    ``id`` is left empty here: :func:`balint_analysis.simulate.problems.finalise` numbers the
    responses in ``startdate`` order once the injected rows are in.
    """
    t = LIMESURVEY_TIMEPOINT
    rows = np.flatnonzero(responded[:, t])
    m = len(rows)
    submitted = window_times(params, rng, t, m)
    duration = np.maximum(120, np.rint(rng.lognormal(np.log(540.0), 0.35, m))).astype(np.int64)
    start = submitted - duration.astype("timedelta64[s]")
    stamp = fmt_times(submitted)
    table = {
        "id": np.full(m, ""),
        "submitdate": stamp,
        "lastpage": np.full(m, str(limesurvey_pages(len(answers)))),
        "startlanguage": np.where(rng.random(m) < 0.85, "pl", "en"),
        "seed": rng.integers(1, 2**31 - 1, m).astype(str),
        "startdate": fmt_times(start),
        "datestamp": stamp,
        LIMESURVEY_ID: people["participant_id"].to_numpy()[rows],
    }
    table |= answer_cells(answers, blanks, rows, t, platform="limesurvey")
    table[LIMESURVEY_COMMENT] = _comments(rng, m, 0.15)
    out = pd.DataFrame(table, dtype=str)
    out["_pid"], out["_t"], out["_accept"] = rows, t, True
    return out


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


def to_csv_bytes(table: pd.DataFrame, header_rows: list[list[str]] | None = None) -> bytes:
    """UTF-8 (no BOM), comma, minimal quoting, ``\\n`` line ends; deterministic bytes.

    ``header_rows`` replaces the single header row (Qualtrics writes three).
    """
    data = visible(table)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(header_rows if header_rows is not None else [list(data.columns)])
    writer.writerows(data.itertuples(index=False, name=None))
    return buf.getvalue().encode("utf-8")


def to_limesurvey_bytes(table: pd.DataFrame) -> bytes:
    """LimeSurvey CSV bytes (export_formats §3.1): UTF-8 BOM, every field quoted, CRLF, and an
    extra empty line at the end; line breaks inside a cell stay ``\\n``."""
    data = visible(table)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(list(data.columns))
    writer.writerows(data.itertuples(index=False, name=None))
    return ("\ufeff" + buf.getvalue() + "\r\n").encode("utf-8")


def timepoint_name(t: int) -> str:
    """Design timepoint label of a timepoint index."""
    return TIMEPOINTS[t]
