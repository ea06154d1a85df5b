"""Privacy: identifier classification, keyed pseudonyms, spreadsheet-formula neutralisation.

Participant data are health-related personal data. Direct identifiers never leave ingest;
participant ids are replaced by HMAC-SHA256 pseudonyms keyed from the environment; text
cells written to CSV cannot start a spreadsheet formula.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from balint_analysis.identifiers import (
    DEMO_KEY,
    classify_dropped_columns,
    env_key_fingerprint,
    key_fingerprint,
    resolve_key,
)

__all__ = [
    "DEMO_KEY",
    "PSEUDONYMISED_COLUMNS",
    "classify_dropped_columns",
    "env_key_fingerprint",
    "key_fingerprint",
    "neutralise_formulas",
    "pseudonym",
    "pseudonymise_ids",
    "resolve_key",
    "shown_value",
    "WITHHELD",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Tokens that say "no answer" in the languages of the exports; they cannot identify anyone.
_NOT_ANSWERS = {"n/a", "na", "brak", "nie dotyczy", "none", "missing", "unknown"}
#: Codes a platform generates, never a person: LimeSurvey answer codes (``AO07``, ``A3``) and
#: REDCap unique event names (``screening_arm_1``).
_PLATFORM_CODE = re.compile(r"AO?\d{1,3}|[a-z0-9_]{1,40}_arm_\d{1,2}")
_PUNCTUATION = re.compile(r"[-–—?.]{1,3}")
_NUMBER = re.compile(r"[-+]?(\d+)(?:[.,](\d+))?")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?")
#: How every description of a withheld value starts (``rejected.csv`` and messages).
WITHHELD = "(withheld: "
#: At most this many digits in a number that is shown (a phone number or a year is not).
MAX_SHOWN_DIGITS = 3


def shown_value(
    value: object,
    *,
    answer_range: tuple[float, float] | None = None,
    codes: Iterable[object] = (),
) -> str:
    """What a reason or message may show of a raw value: the value, or only a description.

    The one rule for every ``rejected.csv`` value and every message that mentions data. A raw
    value is shown only when it cannot identify a person:

    * a number of at most three digits within the item's answer range or *just outside* it:
      at most the range's width beyond either end (a 0-4 item shows -4 to 8, so a mistyped
      ``5`` or ``44`` is visible; a phone number, a year of birth or ``-99`` is not);
    * a declared code: one of ``codes`` (the config's timepoint, group and arm labels, the
      export's declared answer codes, the item's answer labels from its instrument definition),
      also when it differs from one only in upper/lower case and spacing;
    * a single character (arm ``A``; one letter identifies nobody, two may be initials), a
      code a platform generates (LimeSurvey ``AO07``, REDCap ``screening_arm_1``), a common
      not-an-answer token (``N/A``, ``brak``) or one to three dashes, dots or question marks.

    Anything else (names, initials, e-mails, dates, free text, other numbers, undeclared
    labels) is *described*: ``(withheld: <kind>, <length>)`` with the kind ``e-mail-like
    text``, ``date-like text``, ``number``/``negative number`` or ``text``. Where the value
    sits (file, row, column) and which rule failed are said by the reason, not here.

    Parameters
    ----------
    value
        The raw cell (text or number); blank or missing gives ``""``.
    answer_range
        ``(lowest, highest)`` answer of the item the value was typed into, if any.
    codes
        Labels the configuration or the instrument definition declares for this column.

    Returns
    -------
    str
        The value as typed (stripped), or its description starting with :data:`WITHHELD`.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = str(value).strip()
    if not text:
        return ""
    folded = " ".join(text.split()).casefold()
    if folded in {" ".join(str(c).split()).casefold() for c in codes if c is not None}:
        return text
    if (len(text) == 1 or folded in _NOT_ANSWERS or _PLATFORM_CODE.fullmatch(text)
            or _PUNCTUATION.fullmatch(text)):  # fmt: skip
        return text
    number = _NUMBER.fullmatch(text)
    if number:
        digits = len(number.group(1)) + len(number.group(2) or "")
        if answer_range is not None and digits <= MAX_SHOWN_DIGITS:
            lo, hi = answer_range
            width = max(hi - lo, 1)
            if lo - width <= float(text.replace(",", ".")) <= hi + width:
                return text
        sign = "negative number" if text.startswith("-") else "number"
        return f"{WITHHELD}{sign}, {digits} digit{'s' * (digits != 1)})"
    if "@" in text:
        kind = "e-mail-like text"
    elif _DATE_LIKE.fullmatch(text):
        kind = "date-like text"
    else:
        kind = "text"
    return f"{WITHHELD}{kind}, {len(text)} character{'s' * (len(text) != 1)})"


def pseudonym(raw_id: str, key: bytes, *, length: int = 16) -> str:
    """HMAC-SHA256 pseudonym of one id: ``p`` + the first ``length`` hex digits."""
    return _pseudonyms([raw_id], key, length=length)[0]


def _pseudonyms(raw_ids: Iterable[str], key: bytes, *, length: int = 16) -> list[str]:
    """:func:`pseudonym` of each id: HMAC-SHA256 (RFC 2104) from the two SHA-256 states of
    the key, computed once and copied for each id (a third of ``hmac.digest``'s time, which
    sets the key up again for every id; ``tests/test_privacy.py`` compares the two)."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    out = []
    for raw in raw_ids:
        message = inner.copy()
        message.update(raw.encode("utf-8"))
        mac = outer.copy()
        mac.update(message.digest())
        out.append("p" + mac.hexdigest()[:length])
    return out


def _id_codes(ids: pd.Series, key: bytes, known: dict[str, str]) -> tuple[np.ndarray, list]:
    """``(code of each row, -1 = missing; pseudonym of each distinct id)``; ``known`` (raw id
    -> pseudonym) is extended with the ids not in it.

    Raises
    ------
    ValueError
        If two distinct ids collide after truncation.
    """
    present = ids.notna().to_numpy()
    # Each distinct id hashed once; the rows take theirs by code (no Python call per row).
    codes, distinct = pd.factorize(ids[present].astype(str))
    distinct = distinct.tolist()
    if known:
        new = [raw for raw in distinct if raw not in known]
        known.update(zip(new, _pseudonyms(new, key), strict=True))
        names = [known[raw] for raw in distinct]
    else:  # every id is new (the responses, hashed first)
        names = _pseudonyms(distinct, key)
        known.update(zip(distinct, names, strict=True))
    if len(set(known.values())) != len(known):  # two ids, one pseudonym
        raise ValueError("pseudonym collision: increase the pseudonym length")
    every = np.full(len(ids), -1, dtype=np.intp)
    every[present] = codes
    return every, names


def _ids_column(ids: pd.Series, codes: np.ndarray, names: list) -> pd.Series:
    """The pseudonyms of :func:`_id_codes` as a column like ``ids`` (NaN stays NaN)."""
    table = np.array([*names, np.nan], dtype=object)
    out = pd.Series(table[codes], index=ids.index, name=ids.name)  # code -1: the NaN
    # The dtype ``ids.map`` gives: a text dtype stays that dtype, object is inferred.
    return out.astype(ids.dtype) if isinstance(ids.dtype, pd.StringDtype) else out.infer_objects()


def pseudonymise_ids(ids: pd.Series, key: bytes, *, known: dict[str, str] | None = None
                     ) -> pd.Series:  # fmt: skip
    """Map every distinct id to its pseudonym (NaN stays NaN).

    ``known``: pseudonyms of ids already hashed (raw id -> pseudonym), extended with these;
    the responses and the roster of one cohort share most ids.

    Raises
    ------
    ValueError
        If two distinct ids collide after truncation (astronomically unlikely; checked anyway
        because a collision would silently merge two people).
    """
    codes, names = _id_codes(ids, key, {} if known is None else known)
    return _ids_column(ids, codes, names)


def _name_ranks(codes: np.ndarray, names: list[str]) -> np.ndarray:
    """:func:`_text_ranks` of the pseudonym column that ``codes``/``names`` (:func:`_id_codes`)
    make, from the distinct pseudonyms without factorising the column again: ``p`` and 16
    hex digits each (:func:`_pseudonyms`' default length), which sort as text as the 8-byte
    numbers the digits write sort."""
    numbers = np.frombuffer(bytes.fromhex("".join(name[1:] for name in names)), ">u8")
    rank = np.empty(len(names) + 1, dtype=np.int64)
    rank[np.argsort(numbers, kind="stable")] = np.arange(len(names))
    rank[-1] = len(names)  # missing last
    return rank[codes]


def _any_formula(values: Sequence | np.ndarray | pd.Index) -> bool:
    """Whether any of ``values`` (distinct cells) would start a spreadsheet formula."""
    # As an object array: a million pseudonyms (categories, distinct ids) are not iterated
    # one Python call each.
    values = np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
        # First characters compared as one array: no Python call per value.
        return bool(np.isin(values.astype("U1"), list(_FORMULA_START)).any())
    return any(str(v).startswith(_FORMULA_START) for v in values)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe.

    Only text columns are touched; numbers stay numbers (``-3.5`` in a float column is data).
    A categorical column of texts is neutralised in its categories (each text once).
    """
    out = df.copy(deep=False)  # copy-on-write: the columns replaced below are new arrays
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories
            if not _any_formula(categories):
                continue
            if all(isinstance(c, str) for c in categories):
                renamed = ["'" + c if c.startswith(_FORMULA_START) else c for c in categories]
                if len(set(renamed)) == len(renamed):
                    out[col] = series.cat.rename_categories(renamed)
                    continue
            series = series.astype(object)  # as any text column (two categories would merge)
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            # Each distinct cell is tested once (a column repeats a few texts over a million
            # rows); the column is converted only when one of them is risky.
            _, uniques = pd.factorize(series, use_na_sentinel=True)
            if not _any_formula(uniques):
                continue
            text = series if isinstance(series.dtype, pd.StringDtype) else series.astype("string")
            risky = text.str.startswith(_FORMULA_START).fillna(False).astype(bool)
            if risky.any():
                out[col] = series.where(~risky, "'" + text)
    return out


#: The columns of the accepted responses that :func:`pseudonymise` reads (and the answers).
PSEUDONYMISED_COLUMNS = ("participant_id", "timepoint", "group", "source", "row")


def pseudonymise(
    valid: pd.DataFrame,
    roster: pd.DataFrame | None,
    *,
    key: bytes,
    covariates: tuple[str, ...] | list[str] = (),
    covariate_levels: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace raw participant ids by keyed pseudonyms; split responses and participants.

    Returns
    -------
    responses : DataFrame
        ``participant, timepoint, group, source, row`` then the item columns.
    participants : DataFrame
        ``participant, group, cluster, sessions`` then the covariates. Balint-group labels
        (which may carry a leader's name) become ``G1``, ``G2``… in the order of their keyed
        hash, so the report can name groups without revealing them. A numeric covariate is
        a number; a categorical one (``covariate_levels``: column -> declared levels) is one
        of its declared labels, anything else missing.
    """
    items = [c for c in valid.columns if "__" in c]
    # copy=False: the answers are valid's columns, not a copy of them (bounded memory).
    known: dict[str, str] = {}  # each id hashed once for the responses and the roster
    codes, names = _id_codes(valid["participant_id"], key, known)
    responses = pd.DataFrame(
        {
            "participant": _ids_column(valid["participant_id"], codes, names),
            "timepoint": valid["timepoint"],
            "group": valid["group"],
            "source": valid["source"],
            "row": valid["row"],
            **{c: valid[c] for c in items},
        },
        copy=False,
    )
    if roster is not None:
        people = roster.copy()
    else:
        people = (
            valid[["participant_id", "group"]]
            .drop_duplicates("participant_id")
            .assign(cluster=pd.NA, sessions=pd.NA)
        )
        for cov in covariates:
            people[cov] = pd.NA
    clusters = people["cluster"].replace("", pd.NA).dropna().astype(str).unique()
    names_of = _pseudonyms(clusters, key)  # one loop for every group
    hashed = [clusters[k] for k in sorted(range(len(clusters)), key=names_of.__getitem__)]
    cluster_names = {c: f"G{i}" for i, c in enumerate(hashed, start=1)}
    people_codes, people_names = _id_codes(people["participant_id"], key, known)
    participants = pd.DataFrame(
        {
            "participant": _ids_column(people["participant_id"], people_codes, people_names),
            "group": people["group"],
            "cluster": people["cluster"].map(cluster_names),
            "sessions": _numbers(people["sessions"]),
        }
    )
    levels = covariate_levels or {}
    for cov in covariates:
        # Covariates are numbers or declared level labels (validation set anything else
        # missing): no text a participant typed is ever carried into the processed data.
        if cov in levels:
            declared = people[cov].astype("string").isin(list(levels[cov])).fillna(False)
            participants[cov] = people[cov].astype("string").where(declared.astype(bool), pd.NA)
        else:
            participants[cov] = _numbers(people[cov])
    # Sorted as ``sort_values([...], kind="stable")`` sorts, on ranks of the distinct texts.
    order = np.lexsort([_text_ranks(responses["timepoint"]), _name_ranks(codes, names)])
    responses = responses.take(order)
    participants = participants.take(np.argsort(_name_ranks(people_codes, people_names),
                                                kind="stable"))  # fmt: skip
    return responses.reset_index(drop=True), participants.reset_index(drop=True)


def _numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``, each distinct value converted once (with a
    missing value when the column has one: the type is inferred from the same values)."""
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return pd.to_numeric(values, errors="coerce")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(uniques, dtype=values.dtype)
    if (codes < 0).any():
        distinct = pd.concat([distinct, pd.Series([np.nan], dtype=values.dtype)],
                             ignore_index=True)  # fmt: skip
        codes = np.where(codes < 0, len(distinct) - 1, codes)
    numbers = pd.to_numeric(distinct, errors="coerce")
    return pd.Series(numbers.to_numpy()[codes], index=values.index, name=values.name,
                     dtype=numbers.dtype)  # fmt: skip


def _text_ranks(values: pd.Series) -> np.ndarray:
    """Each cell's rank among the column's distinct values in sorted order, missing last: a
    stable sort by the ranks is a stable sort by the values (one comparison sort of the
    distinct values instead of one of every row)."""
    codes, uniques = pd.factorize(values)
    texts = uniques.tolist()
    if not (all(isinstance(t, str) for t in texts) and "\0" not in "".join(texts)):
        codes, uniques = pd.factorize(values, sort=True)  # pandas' own order of mixed values
        return np.where(codes < 0, len(uniques), codes)
    # Texts sorted as NumPy strings (code point by code point in C, as Python compares str;
    # a NUL, which NumPy drops at the end of a text, takes the path above).
    rank = np.empty(len(texts), dtype=np.int64)
    rank[np.argsort(np.array(texts, dtype=str), kind="stable")] = np.arange(len(texts))
    return np.where(codes < 0, len(texts), rank[codes] if len(texts) else codes)
