"""Identifier columns and the pseudonymisation key: the light half of privacy (no pandas).

Read at every workflow start (the key's fingerprint is a param of ``prepare``) and by the
config checks, so it imports nothing heavy; :mod:`balint_analysis.privacy` re-exports it.
"""

from __future__ import annotations

import hashlib
import os
import re

from balint_analysis.errors import InputError

__all__ = ["DEMO_KEY", "classify_dropped_columns", "env_key_fingerprint", "key_fingerprint",
           "resolve_key"]

#: The documented key used for synthetic demo data only. It is public, so pseudonyms made
#: with it protect nothing; the report says so whenever it was used.
DEMO_KEY = "balint-analysis-demo-key-NOT-SECRET"

_IDENTIFIER = re.compile(
    r"(ip_?address|^ipaddr$|^refurl$|^token$|recipient|location(latitude|longitude|accuracy)"
    r"|latitude|longitude|e-?mail"
    r"|(^|_)(first|last|full|sur)?_?name($|_)|^name$|phone|mobile|address|postcode|zip"
    r"|birth_?date|date_of_birth|dob$|pesel|ssn|survey_identifier)",
    re.IGNORECASE,
)
_FREE_TEXT = re.compile(r"(_text$|comment|remark|note|feedback|free_?text|other$)", re.IGNORECASE)


def resolve_key(key_env: str, *, allow_demo_key: bool) -> tuple[bytes, bool]:
    """Return ``(key, demo_key_used)`` for the pseudonymisation HMAC.

    Raises
    ------
    InputError
        When the environment variable is unset and the demo key is not allowed.
    """
    value = os.environ.get(key_env, "")
    if value:
        return value.encode("utf-8"), value == DEMO_KEY
    if allow_demo_key:
        return DEMO_KEY.encode("utf-8"), True
    raise InputError(
        f"privacy: environment variable {key_env} is not set. Set it to a long secret "
        f"(e.g. `export {key_env}=$(openssl rand -hex 32)`) and keep it: the same key links "
        "later waves to the same pseudonyms."
    )


_FINGERPRINT_SALT = b"balint-analysis pseudonymisation key fingerprint v1"


def key_fingerprint(key: bytes) -> str:
    """A short fingerprint of the pseudonymisation key (16 hex digits), never the key.

    It tells whether two runs used the same key: the workflow re-runs pseudonymisation when it
    changes, and the report says so. PBKDF2 (10,000 rounds, ~5 ms at every workflow start)
    makes guessing a key from its fingerprint slower than guessing it from the pseudonyms
    themselves (one HMAC each), so the fingerprint is never the weakest link.
    """
    return hashlib.pbkdf2_hmac("sha256", key, _FINGERPRINT_SALT, 10_000)[:8].hex()


def env_key_fingerprint(key_env: str, *, allow_demo_key: bool) -> str | None:
    """The fingerprint of the key a run would use now, ``None`` when no key is available."""
    try:
        key, _ = resolve_key(key_env, allow_demo_key=allow_demo_key)
    except InputError:
        return None
    return key_fingerprint(key)


def classify_dropped_columns(columns: list[str]) -> dict[str, list[str]]:
    """Sort columns that are not carried forward into identifier / free_text / unused."""
    out: dict[str, list[str]] = {"identifier": [], "free_text": [], "unused": []}
    for col in columns:
        if _IDENTIFIER.search(col):
            out["identifier"].append(col)
        elif _FREE_TEXT.search(col):
            out["free_text"].append(col)
        else:
            out["unused"].append(col)
    return out
