"""Identifier columns and the pseudonymisation key: the light half of privacy (no pandas).

Read at every workflow start (the key's fingerprint is a param of ``prepare``) and by the
config checks, so it imports nothing heavy; :mod:`balint_analysis.privacy` re-exports it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re

from balint_analysis.errors import InputError

__all__ = ["DEMO_KEY", "KEY_RECIPE", "MIN_KEY_BYTES", "checked_key_fingerprint",
           "classify_dropped_columns",
           "env_key_fingerprint", "key_change", "key_fingerprint", "read_key_history",
           "resolve_key"]

#: The documented key used for synthetic demo data only. It is public, so pseudonyms made
#: with it protect nothing; the report says so whenever it was used. It meets the length
#: floor (35 bytes) but is exempt from being secret: accepted only with ``allow_demo_key``.
DEMO_KEY = "balint-analysis-demo-key-NOT-SECRET"

_IDENTIFIER = re.compile(
    r"(ip_?address|^ipaddr$|^refurl$|^token$|recipient|location(latitude|longitude|accuracy)"
    r"|latitude|longitude|e-?mail"
    r"|(^|_)(first|last|full|sur)?_?name($|_)|^name$|phone|mobile|address|postcode|zip"
    r"|birth_?date|date_of_birth|dob$|pesel|ssn|survey_identifier)",
    re.IGNORECASE,
)
_FREE_TEXT = re.compile(r"(_text$|comment|remark|note|feedback|free_?text|other$)", re.IGNORECASE)


#: The command every key message suggests: 32 random bytes, URL-safe (43 characters).
KEY_RECIPE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
#: Shortest key accepted, in UTF-8 bytes: 256 bits when the key is random bytes, and with any
#: typed key long enough that guessing it from the pseudonyms is hopeless.
MIN_KEY_BYTES = 32
#: Fewest distinct characters a key may have: catches ``aaaa…`` and ``1212…``, which pass the
#: length floor but not any guess (a random key of 32+ characters has many more).
MIN_DISTINCT_CHARACTERS = 8
#: Environment variables that hold something else than a secret (their values are known to
#: every process and user of the machine), and prefixes of whole families of them.
NOT_SECRET_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "USERNAME", "SHELL", "PWD", "OLDPWD", "LANG",
    "LANGUAGE", "TERM", "TZ", "TMPDIR", "TEMP", "TMP", "HOSTNAME", "HOST", "DISPLAY", "EDITOR",
    "VISUAL", "PAGER", "MAIL", "SHLVL", "PS1", "COLUMNS", "LINES", "PYTHONPATH", "PYTHONHOME",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "LD_LIBRARY_PATH", "MANPATH",
    "SSH_AUTH_SOCK", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "DBUS_SESSION_BUS_ADDRESS",
})  # fmt: skip
NOT_SECRET_PREFIXES = ("LC_", "XDG_", "SLURM_", "SNAKEMAKE", "CONDA_", "PYTHON", "GIT_")


_KEY_FILE = re.compile(r"\.(key|txt|pem|asc|secret)\Z", re.IGNORECASE)


def _key_problem(value: str, *, allow_demo_key: bool) -> str | None:
    """Why ``value`` cannot be a pseudonymisation key, or ``None``.

    Never quotes the value: only its kind of problem.
    """
    if not value.strip():
        return "is blank (only whitespace)"
    if value != value.strip():
        return "begins or ends with whitespace (a pasted newline or space?)"
    if value == DEMO_KEY and not allow_demo_key:
        return "is the public demo key, which protects nothing"
    if _names_a_path(value):
        return "names a file or folder, not a secret"
    if len(value.encode("utf-8")) < MIN_KEY_BYTES:
        return f"is shorter than {MIN_KEY_BYTES} bytes"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    if value in (value + value)[1:-1]:  # true exactly when value is a shorter string repeated
        return "is a shorter string repeated"
    return None


def _names_a_path(value: str) -> bool:
    """Whether ``value`` is a path rather than a secret: an existing file or folder (absolute,
    relative or ``~``), or a path-like value ending in a key-file suffix."""
    for part in value.split(os.pathsep):
        if part and os.path.exists(os.path.expanduser(part)):
            return True
    return bool(re.search(r"[/\\]", value)) and bool(_KEY_FILE.search(value))


def resolve_key(key_env: str, *, allow_demo_key: bool) -> tuple[bytes, bool]:
    """Return ``(key, demo_key_used)`` for the pseudonymisation HMAC.

    The key is the value of the environment variable ``key_env``. It must be at least
    :data:`MIN_KEY_BYTES` UTF-8 bytes of at least :data:`MIN_DISTINCT_CHARACTERS` different
    characters, without surrounding whitespace, not the path of an existing file, and
    ``key_env`` must not be a variable meant for something else (:data:`NOT_SECRET_VARIABLES`,
    :data:`NOT_SECRET_PREFIXES`). The public :data:`DEMO_KEY` (35 bytes: it meets the floor,
    but is known to everyone) is accepted only with ``allow_demo_key``.

    Raises
    ------
    InputError
        One line naming the setting and the fix, never the key: when ``key_env`` is not meant
        for secrets, when the key is unset (and the demo key not allowed) or too weak.
    """
    name = key_env.upper()
    if name in NOT_SECRET_VARIABLES or name.startswith(NOT_SECRET_PREFIXES):
        raise InputError(
            f"privacy.key_env: {key_env} is a system environment variable, not a secret. Name "
            "a variable of your own (e.g. BALINT_ID_KEY) and set it to a new key: "
            f"`export BALINT_ID_KEY=$({KEY_RECIPE})`."
        )
    value = os.environ.get(key_env, "")
    if not value:
        if allow_demo_key:
            return DEMO_KEY.encode("utf-8"), True
        raise InputError(
            f"privacy: environment variable {key_env} is not set. Set it to a new key "
            f"(`export {key_env}=$({KEY_RECIPE})`) and keep it: the same key links later "
            "waves to the same pseudonyms."
        )
    problem = _key_problem(value, allow_demo_key=allow_demo_key)
    if problem:
        raise InputError(
            f"privacy: the key in environment variable {key_env} {problem}; a key must be at "
            f"least {MIN_KEY_BYTES} random bytes. Create one with `export {key_env}=$("
            f"{KEY_RECIPE})` and keep it (a new key changes every pseudonym)."
        )
    return value.encode("utf-8"), value == DEMO_KEY


#: The fixed message the fingerprint authenticates (a new label would change every fingerprint).
_FINGERPRINT_LABEL = b"balint-analysis pseudonymisation key fingerprint v1"


def key_fingerprint(key: bytes) -> str:
    """A short fingerprint of the pseudonymisation key (16 hex digits), never the key.

    HMAC-SHA256 of a fixed label keyed with the key, cut to 64 bits: it tells whether two
    runs used the same key (the workflow stops when a cohort's key changes unannounced, see
    :func:`key_change`) and reveals no more about the key than one pseudonym does (an HMAC
    with the same key of a known participant code). Not a plain hash of the key, so a
    list of candidate keys cannot be checked against it without the HMAC construction's
    cost per guess, exactly as for the pseudonyms.
    """
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def env_key_fingerprint(key_env: str, *, allow_demo_key: bool) -> str | None:
    """The fingerprint of the key a run would use now, ``None`` when no usable key is set."""
    try:
        key, _ = resolve_key(key_env, allow_demo_key=allow_demo_key)
    except InputError:
        return None
    return key_fingerprint(key)


def read_key_history(history_path: str | os.PathLike | None) -> list[str]:
    """The fingerprints of the keys a cohort was pseudonymised with, oldest first (none
    before the first run).

    Raises
    ------
    InputError
        When the file exists but cannot be read as a key history: it is never overwritten
        silently, or a changed key would go unnoticed.
    """
    if not history_path:
        return []
    try:
        with open(history_path, encoding="utf-8") as handle:
            history = json.load(handle)["fingerprints"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        history = None
    if not isinstance(history, list):
        raise InputError(
            f"{history_path}: the cohort's key history cannot be read (not a JSON file with a "
            "'fingerprints' list). Delete it to start a new history (this run's key becomes "
            "its first entry)."
        )
    return [str(f) for f in history]


def key_change(
    history: list[str],
    fingerprint: str,
    *,
    rotated_to: str | None,
    key_env: str,
    history_path: str | os.PathLike | None = None,
) -> dict:
    """Whether this run's key differs from the cohort's last one, and whether it may.

    A different key is accepted only when ``rotated_to`` (``privacy.rotated_key_fingerprint``)
    is exactly this key's fingerprint: a yes/no switch left on would let any later mistyped or
    swapped key through, whereas a fingerprint acknowledges one key and is harmless once that
    key is the cohort's.

    Returns
    -------
    dict
        ``previous_key_fingerprint`` (``None`` unless the key changed) and
        ``pseudonyms_changed`` for ``pseudonymisation.json``.

    Raises
    ------
    InputError
        When the key changed and the change was not declared.
    """
    previous = history[-1] if history else None
    if previous is None or previous == fingerprint:
        return {"previous_key_fingerprint": None, "pseudonyms_changed": False}
    if rotated_to == fingerprint:
        return {"previous_key_fingerprint": previous, "pseudonyms_changed": True}
    where = f" (recorded in {history_path})" if history_path else ""
    declared = (f" privacy.rotated_key_fingerprint is {rotated_to}, not this key's." if rotated_to
                else "")  # fmt: skip
    raise InputError(
        f"privacy: the key in {key_env} (fingerprint {fingerprint}) is not the key this cohort "
        f"was pseudonymised with (fingerprint {previous}){where}.{declared} Set {key_env} to "
        "that key again; if you replaced the key on purpose, set "
        f"`rotated_key_fingerprint: \"{fingerprint}\"` under `privacy:` in the config (every "
        "wave is then pseudonymised again with the new key)."
    )


def checked_key_fingerprint(cfg, history_path: str | os.PathLike | None) -> tuple[str, bool]:
    """``(fingerprint, demo_key_used)`` of the key a run of ``cfg`` (a
    :class:`~balint_analysis.config.StudyConfig`) would use, checked before any job starts:
    the key itself (:func:`resolve_key`) and against the cohort's key history
    (:func:`key_change`).

    Raises
    ------
    InputError
        As :func:`resolve_key`, :func:`read_key_history` and :func:`key_change`.
    """
    key, demo = resolve_key(cfg.key_env, allow_demo_key=cfg.allow_demo_key)
    fingerprint = key_fingerprint(key)
    key_change(read_key_history(history_path), fingerprint,
               rotated_to=cfg.rotated_key_fingerprint, key_env=cfg.key_env,
               history_path=history_path)  # fmt: skip
    return fingerprint, demo


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
