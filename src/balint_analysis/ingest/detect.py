"""Sniff encoding, delimiter, decimal mark and export platform from a file's bytes.

Detection prefers language-independent signatures (magic bytes, BOMs, Qualtrics' ImportId row,
REDCap's ``*_complete`` columns, LimeSurvey's system columns) and records what it found so the
flow report can show it. Every guess can be overridden per export in the config.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field

from balint_analysis.errors import InputError
from balint_analysis.ingest.records import ColumnRecords, read_records

__all__ = [
    "TextTable",
    "decode",
    "detect_container",
    "detect_decimal",
    "detect_format",
    "read_table",
    "sniff_delimiter",
]

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_DELIMITERS = (",", ";", "\t")
# Letters that only a Central European (cp1250) reading produces from bytes 0x80-0xFF, and
# symbols that a wrong code page typically produces instead (docs/references.md, "Text
# encodings").
_CP1250_LETTERS = set("ąćęłńśźżĄĆĘŁŃŚŹŻčďěňřšťůžČĎĚŇŘŠŤŮŽľĺŕĽĹŔőűŐŰ")
_UNLIKELY = set("¹³£¿¥ª¼½¾ºŸ¤¦¨©«¬®¯°±²´µ¶·¸»Œœ")
# UTF-8 read as cp1252/cp1250: a lead byte (Ã Å Ä Â / Ĺ Ă) followed by a continuation byte.
_CONTINUATION = "".join(
    bytes([b]).decode(cp, errors="ignore") for cp in ("cp1252", "cp1250") for b in range(0x80, 0xC0)
)
_MOJIBAKE = re.compile(f"[ÃÅÄÂĹĂ][{re.escape(_CONTINUATION)}]")


@dataclass(frozen=True)
class TextTable:
    """A table as records of strings (header first), plus what was detected about the file."""

    path: str
    encoding: str
    delimiter: str
    records: list[list[str]] | ColumnRecords
    decimal: str = "."
    #: Spreadsheet row number of each record (blank lines skipped but counted), or ``None``
    #: when records are consecutive rows 1, 2, ...
    positions: list[int] | None = None
    container: str = "text"
    notes: dict = field(default_factory=dict)


def detect_container(data: bytes) -> str:
    """``sav`` (SPSS), ``xlsx`` (zip), ``xls`` (old OLE2 Excel) or ``text``, from magic bytes."""
    if data[:4] in (b"$FL2", b"$FL3"):
        return "sav"
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    return "text"


def decode(data: bytes, path: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes to text; return ``(text, encoding_used)``.

    Without a configured encoding: BOM (UTF-8, UTF-16) → strict UTF-8 → Windows-1250 or -1252,
    chosen by which reading yields plausible letters rather than stray symbols.

    Raises
    ------
    InputError
        When the bytes are not text in the configured (or any detectable) encoding.
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding).name  # utf_8, UTF8, u8 … → utf-8
        except LookupError:
            codec = None  # an unknown name: refused below, as a file not readable in it
        if data.startswith(b"\xef\xbb\xbf") and codec not in (None, "utf-8", "utf-8-sig"):
            raise InputError(
                f"{path}: starts with a UTF-8 byte-order mark, so it is UTF-8, but the config "
                f"says `encoding: {encoding}`. Remove the `encoding:` key for this file."
            )
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"{path}: cannot be read as {encoding} ({_reason(exc)}). Fix the `encoding:` "
                "of this file in the config, or re-save the file as UTF-8."
            ) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: damaged {name} text ({_reason(exc)}). Export the file again."
                ) from None
    if b"\x00" in data[:4096]:
        raise InputError(
            f"{path}: binary data, not a text export (NUL bytes and no UTF-16 byte-order mark). "
            "Export the survey as CSV, .xlsx or .sav, or set `encoding:` (e.g. utf-16-le)."
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for name in ("cp1250", "cp1252"):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        high = [ch for ch in text if ord(ch) > 127]
        score = sum(ch in _CP1250_LETTERS for ch in high) * (name == "cp1250")
        score -= 2 * sum(ch in _UNLIKELY for ch in high)
        candidates.append((score, name == "cp1252", name, text))
    if not candidates:
        raise InputError(
            f"{path}: not readable as UTF-8, Windows-1250 or Windows-1252 text. Set `encoding:` "
            "for this file in the config, or re-save it as 'CSV UTF-8'."
        )
    _, _, name, text = max(candidates)
    return text, name


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid byte at position {exc.start}"
    return str(exc)


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter occurring most often outside quotes in the header line."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


_COMMA_NUMBER = re.compile(r"^-?\d+,\d+$")
_DOT_NUMBER = re.compile(r"^-?\d+\.\d+$")


def detect_decimal(records: list[list[str]], delimiter: str) -> str:
    """``,`` when the data hold comma-decimal numbers (``7,5``) and no dot-decimal ones."""
    if delimiter == ",":
        return "."
    comma = dot = 0
    for rec in records[1:200]:
        for cell in rec:
            comma += bool(_COMMA_NUMBER.match(cell))
            dot += bool(_DOT_NUMBER.match(cell))
    return "," if comma and not dot else "."


def _has_content(text: str) -> bool:
    """Whether ``text`` holds anything but byte-order marks and white space (the whole text
    is copied only when its first characters hold nothing)."""
    return bool(text[:4096].replace("\ufeff", "").strip() or text.replace("\ufeff", "").strip())


def _utf8_body(data: bytes, text: str, used: str) -> tuple[bytes, int] | None:
    """``(data, offset)`` when ``text`` is ``data`` decoded strictly as UTF-8, ``offset`` the
    byte where ``text``'s first character starts; else None (another encoding)."""
    try:
        codec = codecs.lookup(used).name
    except LookupError:
        return None
    if codec == "utf-8":
        return data, 0
    if codec == "utf-8-sig":  # the decoder dropped one leading byte-order mark, if any
        return data, 3 if data.startswith(b"\xef\xbb\xbf") else 0
    return None


def read_table(
    data: bytes,
    path: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
) -> TextTable:
    """Parse delimited text into records (all cells as strings, nothing type-guessed).

    Raises
    ------
    InputError
        Empty file, header without data rows, or a record with a different number of fields
        than the header (a broken or truncated file).
    """
    text, used = decode(data, path, encoding)
    if not _has_content(text):
        raise InputError(f"{path}: the file is empty. Export the data again.")
    first_line = text[:100_000].lstrip("\ufeff").split("\n", 1)[0]
    if len(first_line) == 100_000:
        first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delim = delimiter or sniff_delimiter(first_line)
    if delim == "tab":
        delim = "\t"
    notes = {"mojibake_suspected": True} if _MOJIBAKE.search(text[:100_000]) else {}
    # The records are parsed from the file's bytes when they are UTF-8, else from the text
    # encoded once; the decoded text is let go first (a large export was held three times).
    utf8 = _utf8_body(data, text, used)
    body, start = utf8 if utf8 else (text.encode("utf-8", errors="surrogatepass"), 0)
    del text, utf8
    try:
        records, positions = read_records(body, start, delim)
    except csv.Error as exc:
        raise InputError(
            f"{path}: not a well-formed delimited file ({exc}); it may be truncated inside a "
            "quoted field. Export it again."
        ) from None
    del body
    if not records:
        raise InputError(f"{path}: the file is empty. Export the data again.")
    width = len(records[0])
    columnar = isinstance(records, ColumnRecords)  # every record as wide as the header
    if width and records[0][-1] == "" and (columnar or all(len(r) == width for r in records)):
        # Legacy Qualtrics and some Excel exports end every line with a delimiter.
        records = ColumnRecords(records.columns[:-1]) if columnar else [r[:-1] for r in records]
        width -= 1
    for i, rec in enumerate([] if columnar else records[1:], start=1):
        n = positions[i]
        if len(rec) == width:
            continue
        if i == len(records) - 1 and len(rec) < width:
            raise InputError(
                f"{path}: the last row ({n}) stops after {len(rec)} of {width} fields; the file "
                "looks truncated. Export it again."
            )
        raise InputError(
            f"{path}: row {n} has {len(rec)} fields but the header has {width}. The file is "
            "damaged (a stray delimiter or quote); export it again or fix that row."
        )
    dec = decimal or detect_decimal(records, delim)
    return TextTable(path=path, encoding=used, delimiter=delim, records=records, decimal=dec,
                     positions=positions, notes=notes)  # fmt: skip


def _lower(header: list[str]) -> list[str]:
    return [h.strip().lstrip("\ufeff").lower() for h in header]


_LIMESURVEY_FULL = {"response id", "date submitted", "last page", "start language"}
_LIMESURVEY_OLD = {"completed", "last page seen", "start language"}
#: SoSci Survey system columns that identify a download (``SERIAL`` and ``REF`` not required).
_SOSCI = {"case", "questnnr", "mode", "started"}


def detect_format(table: TextTable) -> str:
    """The export platform from language-independent header signatures.

    Checked in this order: Qualtrics (row-3 ImportId cells, JSON or the 2016–17 Python-dict
    style; legacy ``V1,V2,V3``), SurveyMonkey (``Respondent ID, Collector ID``), SoSci Survey
    (``CASE, QUESTNNR, MODE, STARTED``), REDCap (``*_complete``,
    ``redcap_event_name``, ``redcap_repeat_instrument``, ``redcap_data_access_group``),
    LimeSurvey (system columns under their codes, full labels or older labels), Microsoft
    Forms (``ID, Start time, Completion time``), Google Forms (``Timestamp`` first), a
    Qualtrics ``.sav`` (``Status, Finished, ResponseId``); else ``generic``.
    """
    header = table.records[0]
    third = table.records[2] if len(table.records) > 2 else []
    cells = [c.lstrip() for c in third if c.strip()]
    if cells and all(c.startswith(('{"ImportId"', "{'ImportId'")) for c in cells):
        return "qualtrics"
    if header[:3] == ["V1", "V2", "V3"]:
        return "qualtrics"
    names = _lower(header)
    found = set(names)
    if names[:2] == ["respondent id", "collector id"]:
        return "surveymonkey"
    if found >= _SOSCI:
        return "sosci"
    if any(n.endswith("_complete") for n in names) or found & {
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_data_access_group",
    }:
        return "redcap"
    codes = {n.split(". ", 1)[0] for n in names}
    if (names[:2] == ["id", "submitdate"] or {"submitdate", "lastpage", "startlanguage"} <= codes
            or found >= _LIMESURVEY_FULL or found >= _LIMESURVEY_OLD):  # fmt: skip
        return "limesurvey"
    if names[:3] == ["id", "start time", "completion time"]:
        return "microsoft_forms"
    if names and names[0] == "timestamp":
        return "google_forms"
    if {"status", "finished", "responseid"} <= found:
        return "qualtrics"  # e.g. a Qualtrics .sav: one header row, Qualtrics metadata
    return "generic"
