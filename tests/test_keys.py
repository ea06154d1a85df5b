"""The pseudonymisation key: weak keys and system variables refused, a fingerprint that is an
HMAC (never the key, never a plain hash), and a cohort whose key changes unannounced stops."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

import pandas as pd
import pytest
import yaml
from project_helpers import DEMO_CONFIG

from balint_analysis.cli import main
from balint_analysis.config import load_config
from balint_analysis.config_schema import check_schema
from balint_analysis.errors import InputError
from balint_analysis.identifiers import (
    DEMO_KEY,
    KEY_RECIPE,
    MIN_KEY_BYTES,
    key_change,
    key_fingerprint,
    resolve_key,
)

GOOD_KEY = "a-long-test-key-0123456789abcdef"  # 32 bytes: exactly the floor


def _refusal(monkeypatch, value: str | None, key_env: str = "BA_KEY_T", demo: bool = False) -> str:
    if value is not None:
        monkeypatch.setenv(key_env, value)
    with pytest.raises(InputError) as err:
        resolve_key(key_env, allow_demo_key=demo)
    text = str(err.value)
    assert "\n" not in text
    if value and len(value.strip()) > 3:
        assert value.strip() not in text  # the key itself is never printed
    return text


@pytest.mark.parametrize(("value", "why"), [
    ("x", f"is shorter than {MIN_KEY_BYTES} bytes"),
    ("s3cret-but-only-31-bytes-long!!", f"is shorter than {MIN_KEY_BYTES} bytes"),
    (" " * 40, "is blank (only whitespace)"),
    ("\t\n ", "is blank (only whitespace)"),
    (GOOD_KEY + "\n", "begins or ends with whitespace"),
    (" " + GOOD_KEY, "begins or ends with whitespace"),
    ("a" * 64, "has fewer than 8 different characters"),
    ("12" * 32, "has fewer than 8 different characters"),
    ("abcdefgh" * 4, "is a shorter string repeated"),
    ("secrets/pseudonymisation_key.txt", "names a file or folder, not a secret"),
    ("~/keys/balint_pseudonymisation.key", "names a file or folder, not a secret"),
    (DEMO_KEY, "is the public demo key"),
])  # fmt: skip
def test_weak_keys_are_refused_with_the_fix(monkeypatch, value, why):
    text = _refusal(monkeypatch, value)
    assert text.startswith(f"privacy: the key in environment variable BA_KEY_T {why}")
    assert f"`export BA_KEY_T=$({KEY_RECIPE})`" in text


def test_a_key_naming_an_existing_path_is_refused(monkeypatch, tmp_path):
    folder = tmp_path / "a-folder-with-a-long-enough-name-0123456789"
    folder.mkdir()
    text = _refusal(monkeypatch, f"{folder}:{tmp_path}")
    assert "names a file or folder, not a secret" in text
    # A relative path to an existing file is a path too (the key is its content, not its name).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pseudonymisation-key-kept-in-this-project.bin").write_text("x")
    text = _refusal(monkeypatch, "pseudonymisation-key-kept-in-this-project.bin")
    assert "names a file or folder, not a secret" in text
    # A random key that merely starts with "/" (base64 can) is no path and is accepted.
    monkeypatch.setenv("BA_KEY_T", "/" + GOOD_KEY)
    assert resolve_key("BA_KEY_T", allow_demo_key=False) == (("/" + GOOD_KEY).encode(), False)


@pytest.mark.parametrize("key_env", ["PATH", "HOME", "USER", "SHELL", "PWD", "LANG", "TERM",
                                     "LC_ALL", "path", "XDG_RUNTIME_DIR"])  # fmt: skip
def test_a_system_variable_is_refused_as_key_env(monkeypatch, key_env):
    monkeypatch.setenv(key_env, secrets.token_urlsafe(32))  # even a strong-looking value
    for demo in (False, True):  # and even when the demo key is allowed
        text = _refusal(monkeypatch, None, key_env=key_env, demo=demo)
        assert text == (
            f"privacy.key_env: {key_env} is a system environment variable, not a secret. Name a "
            "variable of your own (e.g. BALINT_ID_KEY) and set it to a new key: "
            f"`export BALINT_ID_KEY=$({KEY_RECIPE})`.")


def test_good_keys_and_the_demo_key_are_accepted(monkeypatch):
    token = secrets.token_urlsafe(32)
    monkeypatch.setenv("BA_KEY_T", token)
    assert resolve_key("BA_KEY_T", allow_demo_key=False) == (token.encode(), False)
    monkeypatch.setenv("BA_KEY_T", GOOD_KEY)
    assert resolve_key("BA_KEY_T", allow_demo_key=False) == (GOOD_KEY.encode(), False)
    polish = "zażółćgęśląjaźńĄĘŚŹŻ"  # 20 characters, 34 bytes: the floor counts UTF-8 bytes
    monkeypatch.setenv("BA_KEY_T", polish)
    assert resolve_key("BA_KEY_T", allow_demo_key=False) == (polish.encode(), False)
    # The public demo key meets the floor, and is used (and reported) only when allowed.
    assert len(DEMO_KEY.encode()) >= MIN_KEY_BYTES
    monkeypatch.setenv("BA_KEY_T", DEMO_KEY)
    assert resolve_key("BA_KEY_T", allow_demo_key=True) == (DEMO_KEY.encode(), True)
    monkeypatch.delenv("BA_KEY_T")
    assert resolve_key("BA_KEY_T", allow_demo_key=True) == (DEMO_KEY.encode(), True)
    text = _refusal(monkeypatch, None)
    assert text.startswith("privacy: environment variable BA_KEY_T is not set.")
    assert KEY_RECIPE in text


def test_the_recipe_makes_a_key_that_passes(monkeypatch):
    import subprocess
    import sys

    made = subprocess.run([sys.executable, "-c", KEY_RECIPE.split("-c ", 1)[1].strip("'")],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    monkeypatch.setenv("BA_KEY_T", made)
    assert resolve_key("BA_KEY_T", allow_demo_key=False)[0] == made.encode()


def test_fingerprint_is_an_hmac_of_a_fixed_label_never_a_plain_hash():
    key = GOOD_KEY.encode()
    fingerprint = key_fingerprint(key)
    assert fingerprint == "de1fee5696ff9ae5"  # stable across versions: histories stay valid
    assert fingerprint == key_fingerprint(key)
    label = b"balint-analysis pseudonymisation key fingerprint v1"
    assert fingerprint == hmac.new(key, label, hashlib.sha256).hexdigest()[:16]
    for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.sha512):
        assert digest(key).hexdigest()[:16] != fingerprint
        assert digest(key).hexdigest()[-16:] != fingerprint
    assert key.hex()[:16] != fingerprint and GOOD_KEY not in fingerprint
    assert key_fingerprint(b"another-long-test-key-0123456789abcdef") != fingerprint


def test_key_change_against_the_history():
    args = {"key_env": "MY_KEY", "history_path": "data/interim/c/key_history.json"}
    unchanged = {"previous_key_fingerprint": None, "pseudonyms_changed": False}
    assert key_change([], "bbbb", rotated_to=None, **args) == unchanged
    assert key_change(["aaaa", "bbbb"], "bbbb", rotated_to=None, **args) == unchanged
    assert key_change(["bbbb"], "bbbb", rotated_to="bbbb", **args) == unchanged  # left in: no-op
    with pytest.raises(InputError) as err:
        key_change(["bbbb", "aaaa"], "bbbb", rotated_to=None, **args)  # back to an older key
    assert str(err.value) == (
        "privacy: the key in MY_KEY (fingerprint bbbb) is not the key this cohort was "
        "pseudonymised with (fingerprint aaaa) (recorded in data/interim/c/key_history.json). "
        "Set MY_KEY to that key again; if you replaced the key on purpose, set "
        '`rotated_key_fingerprint: "bbbb"` under `privacy:` in the config (every wave is then '
        "pseudonymised again with the new key).")
    with pytest.raises(InputError, match=r"privacy.rotated_key_fingerprint is cccc, not this "):
        key_change(["aaaa"], "bbbb", rotated_to="cccc", **args)
    assert key_change(["aaaa"], "bbbb", rotated_to="bbbb", **args) == {
        "previous_key_fingerprint": "aaaa", "pseudonyms_changed": True}


def test_schema_accepts_only_a_fingerprint_as_rotated_key_fingerprint():
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["privacy"]["rotated_key_fingerprint"] = "de1fee5696ff9ae5"
    check_schema(config)
    for wrong in ("yes", "DDE09A2C18CDDFA1", "dde09a2c18cddfa", True):
        config["privacy"]["rotated_key_fingerprint"] = wrong
        with pytest.raises(InputError, match="rotated_key_fingerprint"):
            check_schema(config)


def _prepare(cfg, tmp_path: Path, history: Path) -> dict:
    from balint_analysis.pipeline import prepare_stage

    out = {k: str(tmp_path / f"{k}.out") for k in (
        "responses", "participants", "pseudonymisation", "rejected", "careless", "flow")}
    prepare_stage(cfg, {}, out, key_history=str(history))
    return {"pseudo": json.loads(Path(out["pseudonymisation"]).read_text()),
            "ids": set(pd.read_csv(out["participants"])["participant"])}


def test_a_new_key_stops_prepare_unless_its_rotation_is_declared(tiny_cohort, tmp_path,
                                                                  monkeypatch):
    raw = {**tiny_cohort["raw_config"], "privacy": {"key_env": "BA_KEY_T"}}
    history = tmp_path / "key_history.json"
    old, new = GOOD_KEY, "another-long-test-key-0123456789abcdef"
    old_fp, new_fp = key_fingerprint(old.encode()), key_fingerprint(new.encode())
    monkeypatch.setenv("BA_KEY_T", old)
    first = _prepare(load_config(raw), tmp_path, history)
    assert first["pseudo"]["key_fingerprint"] == old_fp
    assert first["pseudo"]["pseudonyms_changed"] is False
    assert json.loads(history.read_text()) == {"fingerprints": [old_fp]}
    monkeypatch.setenv("BA_KEY_T", new)
    with pytest.raises(InputError, match=rf"^privacy: the key in BA_KEY_T \(fingerprint {new_fp}"):
        _prepare(load_config(raw), tmp_path, history)
    assert json.loads(history.read_text()) == {"fingerprints": [old_fp]}  # unchanged
    # Declared: accepted, recorded in pseudonymisation.json and the history.
    raw["privacy"]["rotated_key_fingerprint"] = new_fp
    second = _prepare(load_config(raw), tmp_path, history)
    assert second["pseudo"] == {"method": "HMAC-SHA256", "key_env": "BA_KEY_T",
                                "demo_key_used": False, "key_fingerprint": new_fp,
                                "previous_key_fingerprint": old_fp,
                                "pseudonyms_changed": True}  # fmt: skip
    assert second["ids"].isdisjoint(first["ids"]) and len(second["ids"]) == len(first["ids"])
    assert json.loads(history.read_text()) == {"fingerprints": [old_fp, new_fp]}
    # The declaration left in place is harmless; the old key is now the one that stops.
    assert _prepare(load_config(raw), tmp_path, history)["pseudo"]["pseudonyms_changed"] is False
    monkeypatch.setenv("BA_KEY_T", old)
    with pytest.raises(InputError, match=f"privacy.rotated_key_fingerprint is {new_fp}"):
        _prepare(load_config(raw), tmp_path, history)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BALINT_ID_KEY", raising=False)
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["privacy"] = {"key_env": "BALINT_ID_KEY"}
    Path("config").mkdir()
    Path("config/c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return config


@pytest.mark.parametrize(("key_env", "value", "expected"), [
    ("BALINT_ID_KEY", "x", "privacy: the key in environment variable BALINT_ID_KEY is shorter"),
    ("BALINT_ID_KEY", "    ", "privacy: the key in environment variable BALINT_ID_KEY is blank"),
    ("PATH", None, "privacy.key_env: PATH is a system environment variable, not a secret."),
])  # fmt: skip
def test_run_and_check_refuse_a_weak_key_before_snakemake(project, capsys, monkeypatch,
                                                          key_env, value, expected):
    project["privacy"]["key_env"] = key_env
    Path("config/c.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    if value is not None:
        monkeypatch.setenv(key_env, value)
    assert main(["run", "--config", "config/c.yaml"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"balint-analysis: {expected}") and "\n" not in err
    assert not Path(".snakemake").exists()  # Snakemake never started: no outputs removed
    assert main(["check", "--config", "config/c.yaml"]) == 1
    assert expected in capsys.readouterr().out


def test_run_refuses_a_key_the_cohort_history_does_not_know(project, capsys, monkeypatch):
    history = Path("data/interim") / project["cohort"] / "key_history.json"
    history.parent.mkdir(parents=True)
    history.write_text(json.dumps({"fingerprints": ["0123456789abcdef"]}), encoding="utf-8")
    monkeypatch.setenv("BALINT_ID_KEY", GOOD_KEY)
    assert main(["run", "--config", "config/c.yaml"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "balint-analysis: privacy: the key in BALINT_ID_KEY (fingerprint de1fee5696ff9ae5) is "
        "not the key this cohort was pseudonymised with (fingerprint 0123456789abcdef) "
        f"(recorded in {history}). Set BALINT_ID_KEY to that key again; if you replaced the "
        'key on purpose, set `rotated_key_fingerprint: "de1fee5696ff9ae5"` under `privacy:` '
        "in the config (every wave is then pseudonymised again with the new key).")
    assert not Path(".snakemake").exists()
    assert GOOD_KEY not in err
