"""Participant codes across waves: exact matching, or documented tolerant matching for SGICs.

Self-generated identification codes (docs/references.md, "Self-generated identification
codes") are retyped at every wave, so ``an12k``, ``AN 12K`` and ``AN12X`` may all be one
person. ``exact`` (the default) matches the stripped codes as they are. ``tolerant`` does, in order:

1. *Normalise*: strip diacritics (``Ł``→``L``), drop spaces, hyphens, dots and underscores,
   upper-case; with a ``pattern``, zero-pad single digits (``7``→``07``) when that makes the
   code valid. Codes that still do not match the pattern are reported, never guessed.
2. *Anchors*: the roster's ids when there is a roster, else the baseline wave's codes. Every
   code is linked to an anchor, never to another follow-up code, so matches cannot chain.
3. *Exact pass* on normalised codes.
4. *Fuzzy pass* for the rest, per timepoint: an anchor within ``max_distance`` edits (optimal
   string alignment: substitution, insertion, deletion, adjacent transposition), in the same
   block (group and REDCap site, where both sides carry them), not already matched at that
   timepoint. A link is made only when it is unique both ways; ambiguous codes stay unmatched.

Every fuzzy link is reported (source, row, timepoint, distance, kind of edit) — never the codes.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from itertools import combinations

import pandas as pd

__all__ = ["match_codes", "normalise_codes", "osa_distance"]

_SPECIAL = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ø": "O", "ø": "o",
                          "ß": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe"})  # fmt: skip


def normalise_codes(codes: pd.Series, pattern: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Normalised codes and a mask of codes that do not match ``pattern``."""
    text = codes.fillna("").astype("str").map(lambda s: s.translate(_SPECIAL))
    text = text.map(lambda s: unicodedata.normalize("NFKD", s))
    text = text.str.replace(r"[\u0300-\u036f]", "", regex=True)
    text = text.str.replace(r"[\s\-_./]", "", regex=True).str.upper()
    if not pattern:
        return text, pd.Series(False, index=codes.index)
    valid = text.str.fullmatch(pattern)
    padded = text.str.replace(r"(?<!\d)(\d)(?!\d)", r"0\1", regex=True)
    use_pad = ~valid & padded.str.fullmatch(pattern)
    text = text.where(~use_pad, padded)
    return text, ~(valid | use_pad) & (text != "")


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein without repeated edits)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def _edit_kind(a: str, b: str) -> str:
    if len(a) != len(b):
        return "insertion" if len(a) > len(b) else "deletion"
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]:
        return "transposition"
    return "substitution" if len(diff) == 1 else f"{len(diff)} edits"


def _variants(code: str, depth: int) -> set[str]:
    """The code and every string made by deleting up to ``depth`` characters."""
    out = {code}
    for k in range(1, min(depth, len(code)) + 1):
        for drop in combinations(range(len(code)), k):
            out.add("".join(ch for i, ch in enumerate(code) if i not in drop))
    return out


def _blocks(df: pd.DataFrame) -> pd.Series:
    """Per row the blocking key ``(group, site)``; ``None`` where a part is unknown."""

    def part(col: str) -> pd.Series:
        if col not in df:
            return pd.Series(None, index=df.index, dtype=object)
        values = df[col].astype(object)
        return values.where(values.notna() & (values.astype(str).str.strip() != ""), None)

    return pd.Series(list(zip(part("group"), part("site"), strict=True)), index=df.index,
                     dtype=object)  # fmt: skip


def _same_block(a: tuple | None, b: tuple | None) -> bool:
    """Two blocking keys agree where both are known."""
    if a is None or b is None:
        return True
    return all(pd.isna(x) or pd.isna(y) or x == y for x, y in zip(a, b, strict=True))


def match_codes(df: pd.DataFrame, *, anchors: pd.Series | None, anchor_groups: pd.Series | None,
                baseline: str, pattern: str | None, max_distance: int) -> tuple[pd.Series, dict]:
    """Tolerant matching (module docstring). Returns new ids and the report for ``flow.json``.

    ``anchors`` are the roster ids (``None``: the baseline wave's codes are the anchors);
    ``anchor_groups`` their groups, aligned with ``anchors``, for blocking.
    """
    norm, invalid = normalise_codes(df["participant_id"], pattern)
    blocks = _blocks(df)
    if anchors is not None:
        a_norm, _ = normalise_codes(anchors, pattern)
        anchor_of = dict(zip(a_norm, anchors.astype("str"), strict=True))
        block_of = ({a: (g, None) for a, g in zip(a_norm, anchor_groups, strict=True)}
                    if anchor_groups is not None else {})  # fmt: skip
        to_match = pd.Series(True, index=df.index)
    else:
        base = df["timepoint"] == baseline
        anchor_of = {c: c for c in norm[base & (norm != "")]}
        block_of = dict(zip(norm[base], blocks[base], strict=True))
        to_match = ~base
    new_id = norm.map(anchor_of)
    exact = new_id.notna()
    index: dict[str, set[str]] = defaultdict(set)
    for code in anchor_of:
        for v in _variants(code, max_distance):
            index[v].add(code)
    fuzzy: list[dict] = []
    by_tp: dict[str, dict[str, int]] = {}
    for tp, rows in df.groupby("timepoint", sort=False).groups.items():
        rows = pd.Index(rows)
        taken = set(norm[rows][exact[rows]])
        todo = rows[(~exact[rows] & to_match[rows] & ~invalid[rows] & (norm[rows] != "")).values]
        cands: dict[int, list[str]] = {}
        for r in todo:
            code = norm[r]
            near = set().union(*(index.get(v, set()) for v in _variants(code, max_distance)))
            cands[r] = [a for a in near - taken if osa_distance(code, a) <= max_distance
                        and _same_block(blocks[r], block_of.get(a))]  # fmt: skip
        wanted: dict[str, list[int]] = defaultdict(list)
        for r, cs in cands.items():
            for a in cs:
                wanted[a].append(r)
        linked = 0
        for r, cs in cands.items():
            if len(cs) == 1 and wanted[cs[0]] == [r]:
                a = cs[0]
                new_id[r] = anchor_of[a]
                linked += 1
                fuzzy.append({"source": df.at[r, "source"], "row": int(df.at[r, "row"]),
                              "timepoint": str(tp), "distance": osa_distance(norm[r], a),
                              "edit": _edit_kind(norm[r], a)})  # fmt: skip
        changed = exact[rows] & (norm[rows] != df.loc[rows, "participant_id"].fillna(""))
        by_tp[str(tp)] = {
            "exact": int((exact[rows] & ~changed).sum()),
            "after_normalising": int(changed.sum()),
            "fuzzy": linked,
            "unmatched": int(len(todo) - linked),
            "invalid_code": int(invalid[rows].sum()),
        }
    # Unmatched and invalid codes keep their normalised form (so exact equality still works).
    out = new_id.where(new_id.notna(), norm.where(norm != "", df["participant_id"]))
    report = {"method": "tolerant", "pattern": pattern, "max_distance": max_distance,
              "anchors": "roster" if anchors is not None else f"codes at {baseline}",
              "by_timepoint": by_tp, "fuzzy_matches": fuzzy}  # fmt: skip
    return out, report
