"""Instrument definitions: keys against the reference, schema errors, custom files, docs."""

from importlib import resources
from pathlib import Path

import pytest
import yaml

from balint_analysis.cli import main
from balint_analysis.config import load_config
from balint_analysis.errors import InputError
from balint_analysis.instruments import builtin_ids, docs, load_file, load_instrument

REPO = Path(__file__).resolve().parents[1]
BUILTIN = {"mbi_hss", "mbi_hss_mp", "mbi_gs", "cbi", "olbi", "proqol5", "pss10", "pss4",
           "bat12", "who5", "single_item_burnout", "single_item_burnout_v2", "jse_hp", "phq9",
           "gad7"}  # fmt: skip


def test_builtins_load_and_keys_match_the_manuals():
    assert set(builtin_ids()) == BUILTIN
    mbi = load_instrument("mbi_hss")
    assert mbi.n_items == 22 and (mbi.response_min, mbi.response_max) == (0, 6)
    assert mbi.scales["emotional_exhaustion"].items == (1, 2, 3, 6, 8, 13, 14, 16, 20)
    assert mbi.scales["depersonalization"].items == (5, 10, 11, 15, 22)
    assert mbi.scales["personal_accomplishment"].items == (4, 7, 9, 12, 17, 18, 19, 21)
    assert not any(s.reverse for s in mbi.scales.values())
    assert mbi.item_texts_shippable is False
    assert mbi.scale_range("emotional_exhaustion") == (0, 54)
    pss = load_instrument("pss10")
    assert pss.scales["total"].reverse == (4, 5, 7, 8)
    assert pss.scale_range("total") == (0, 40)
    # Every item belongs to exactly one MBI subscale.
    items = sorted(i for s in mbi.scales.values() for i in s.items)
    assert items == list(range(1, 23))


def test_every_builtin_is_complete_and_consistent():
    for inst_id in builtin_ids():
        inst = load_instrument(inst_id)
        assert inst.id == inst_id and inst.version and inst.citation and inst.licence
        assert inst.missing_rule_source
        covered = {i for s in inst.scales.values() for i in s.items}
        assert covered == set(inst.items), inst_id  # every item is scored somewhere
        for sid, scale in inst.scales.items():
            assert sid == sid.lower() and " " not in sid
            assert 1 <= scale.min_answered <= len(scale.items)
            lo, hi = inst.scale_range(sid)
            for band in scale.categories[1:]:
                assert lo <= band.lower <= hi, (inst_id, sid, band)
        if len(inst.scales) == 1:
            assert list(inst.scales) == ["total"], inst_id  # docs/contract.md: single score = total


@pytest.mark.parametrize(
    ("inst_id", "scale", "items", "reverse", "method", "score_range"),
    [
        ("mbi_hss_mp", "depersonalization", (5, 10, 11, 15, 22), (), "sum", (0, 30)),
        ("mbi_gs", "exhaustion", (1, 2, 3, 4, 6), (), "mean", (0, 6)),
        ("mbi_gs", "cynicism", (8, 9, 13, 14, 15), (), "mean", (0, 6)),
        ("mbi_gs", "professional_efficacy", (5, 7, 10, 11, 12, 16), (), "mean", (0, 6)),
        ("cbi", "personal", (1, 2, 3, 4, 5, 6), (), "mean", (0, 100)),
        ("cbi", "work", (7, 8, 9, 10, 11, 12, 13), (13,), "mean", (0, 100)),
        ("cbi", "client", (14, 15, 16, 17, 18, 19), (), "mean", (0, 100)),
        ("olbi", "disengagement", (1, 3, 6, 7, 9, 11, 13, 15), (3, 6, 9, 11), "mean", (1, 4)),
        ("olbi", "exhaustion", (2, 4, 5, 8, 10, 12, 14, 16), (2, 4, 8, 12), "mean", (1, 4)),
        ("proqol5", "compassion_satisfaction", (3, 6, 12, 16, 18, 20, 22, 24, 27, 30), (),
         "sum", (10, 50)),
        ("proqol5", "burnout", (1, 4, 8, 10, 15, 17, 19, 21, 26, 29), (1, 4, 15, 17, 29),
         "sum", (10, 50)),
        ("proqol5", "secondary_traumatic_stress", (2, 5, 7, 9, 11, 13, 14, 23, 25, 28), (),
         "sum", (10, 50)),
        ("pss4", "total", (1, 2, 3, 4), (2, 3), "sum", (0, 16)),
        ("bat12", "total", tuple(range(1, 13)), (), "mean", (1, 5)),
        ("who5", "total", (1, 2, 3, 4, 5), (), "sum", (0, 25)),
        ("who5", "percentage", (1, 2, 3, 4, 5), (), "percent", (0, 100)),
        ("single_item_burnout", "total", (1,), (), "sum", (1, 5)),
        ("single_item_burnout_v2", "total", (1,), (), "sum", (1, 5)),
        ("jse_hp", "total", tuple(range(1, 21)), (1, 3, 6, 7, 8, 11, 12, 14, 18, 19), "sum",
         (20, 140)),
        ("phq9", "total", tuple(range(1, 10)), (), "sum", (0, 27)),
        ("gad7", "total", tuple(range(1, 8)), (), "sum", (0, 21)),
    ],
)  # fmt: skip
def test_keys_match_the_reference(inst_id, scale, items, reverse, method, score_range):
    inst = load_instrument(inst_id)
    s = inst.scales[scale]
    assert (s.items, s.reverse, s.method) == (items, reverse, method)
    assert inst.scale_range(scale) == score_range


def test_reference_specifics():
    cbi = load_instrument("cbi")
    assert cbi.allowed_values == (0, 25, 50, 75, 100)
    assert [cbi.scales[s].min_answered for s in ("personal", "work", "client")] == [3, 4, 3]
    assert cbi.scales["client"].missing_rule_source.startswith("PUMA")
    phq = load_instrument("phq9")
    assert phq.flags["item9_self_harm"].items == (9,) and phq.flags["item9_self_harm"].min == 1
    # item texts are never shippable for copyrighted instruments
    for inst_id in ("mbi_hss", "mbi_hss_mp", "mbi_gs", "jse_hp", "bat12"):
        assert load_instrument(inst_id).item_texts_shippable is False
    # unverified facts are marked in the files
    assert load_instrument("bat12").verified is False
    assert any("UNVERIFIED" in n for n in load_instrument("bat12").notes)
    assert not load_instrument("bat12").scales["exhaustion"].verified
    assert load_instrument("bat12").scales["total"].categories == ()
    assert any("t-score" in n for n in load_instrument("proqol5").notes)
    # single-item burnout: 1.0 and 2.0 codings run in opposite directions
    v1, v2 = load_instrument("single_item_burnout"), load_instrument("single_item_burnout_v2")
    assert v1.scales["total"].higher_is_worse and not v2.scales["total"].higher_is_worse


def _write(tmp_path, data, name="custom.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _base(inst_id="pss10"):
    text = resources.files("balint_analysis.instruments").joinpath(f"{inst_id}.yaml").read_text()
    return yaml.safe_load(text)


def test_custom_definition_loads(tmp_path):
    data = _base()
    data["id"] = "pss10_pl"
    inst = load_file(_write(tmp_path, data))
    assert inst.id == "pss10_pl" and inst.scales["total"].method == "sum"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("scales"), "'scales' is a required property"),
        (lambda d: d["scales"]["total"].update(method="median"), "scales/total/method"),
        (lambda d: d["scales"]["total"].update(items=[1, 99]), "item\\(s\\) \\[99"),
        (lambda d: d["scales"]["total"].update(reverse=[11]), "item\\(s\\) \\[11\\]"),
        (lambda d: d.update(colour="red"), "1 unknown key\\(s\\); the keys allowed here are id, "),
        (lambda d: d["scales"]["total"].update(range=[0, 50]), "scales/total/range"),
        (lambda d: d["scales"]["total"].update(missing_rule={"min_answered": 11}),
         "scales/total/missing_rule"),
        (lambda d: d["response_scale"].update(values=[0, 2, 5]), "response_scale/values"),
        (lambda d: d["scales"]["total"]["cutoffs"]["categories"].reverse(),
         "scales/total/cutoffs/categories"),
        (lambda d: d["scales"].update({"Total Score": d["scales"]["total"]}), "scales"),
        (lambda d: d.update(flags={"x": {"label": "x", "items": [12], "source": "s"}}),
         "flags/x/items"),
        (lambda d: d["missing_rule"].pop("source"), "missing_rule"),
    ],
)  # fmt: skip
def test_malformed_definition_is_one_clear_error(tmp_path, change, message):
    data = _base()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(InputError, match=message) as err:
        load_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_builtin():
    with pytest.raises(InputError, match="Unknown instrument 'mbi_xx'"):
        load_instrument("mbi_xx")


def test_custom_instrument_through_the_config(tiny_cohort, tmp_path):
    """A translated form with another item order comes in via `instrument_definitions`."""
    from balint_analysis.scoring import score_responses

    data = _base("cbi")
    data.update(id="cbi_nfa", version="NFA print order: work frequency items first (reverse = 10)")
    work = data["scales"]["work"]
    work["reverse"] = [10]
    path = _write(tmp_path, data, "cbi_nfa.yaml")
    raw = dict(tiny_cohort["raw_config"])
    raw["instrument_definitions"] = [str(path)]
    raw["instruments"] = {**raw["instruments"], "cbi_nfa": {i: f"CBI{i}" for i in range(1, 20)}}
    cfg = load_config(raw)
    inst = cfg.instruments["cbi_nfa"]
    assert inst.scales["work"].reverse == (10,) and inst.path == str(path)
    row = {"participant": "p", "group": "balint", "timepoint": "pre"}
    row |= {f"cbi_nfa__{i}": 0.0 for i in range(1, 20)}
    import pandas as pd

    scores = score_responses(pd.DataFrame([row]), {"cbi_nfa": inst}).set_index("scale")
    assert scores.loc["work", "score"] == pytest.approx(100 / 7)  # item 10 reversed to 100
    assert list(cfg.columns_for(cfg.exports[0], "cbi_nfa").values())[:2] == ["CBI1", "CBI2"]


def test_a_custom_file_that_is_malformed_stops_the_config(tiny_cohort, tmp_path):
    data = _base()
    data["scales"]["total"]["direction"] = "up"
    path = _write(tmp_path, data)
    raw = dict(tiny_cohort["raw_config"], instrument_definitions=[str(path)])
    with pytest.raises(InputError, match=r"custom.yaml: instrument definition key "
                       r"'scales/total/direction'"):  # fmt: skip
        load_config(raw)


def test_mapping_to_columns_not_in_the_export_names_them_and_the_file(tiny_cohort):
    from balint_analysis.ingest import ingest

    raw = dict(tiny_cohort["raw_config"])
    raw["instruments"] = {**raw["instruments"], "who5": "WHO5_{i}"}
    cfg = load_config(raw)
    with pytest.raises(InputError) as err:
        ingest(cfg)
    message = str(err.value)
    assert "pre_qualtrics.csv" in message and "WHO5_1" in message and "\n" not in message


def test_docs_are_generated_from_the_yaml_and_up_to_date():
    committed = (REPO / "docs" / "instruments.md").read_text(encoding="utf-8")
    assert committed == docs.render(), (
        "docs/instruments.md is out of date: run `balint-analysis instruments-doc`"
    )
    for inst_id in builtin_ids():
        assert f"`{inst_id}`" in committed
    assert "UNVERIFIED" in committed


def test_instruments_doc_command(tmp_path, capsys):
    out = tmp_path / "instruments.md"
    assert main(["instruments-doc", "--check", "--out", str(out)]) == 1
    assert main(["instruments-doc", "--out", str(out)]) == 0
    assert main(["instruments-doc", "--check", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == docs.render()
    assert "up to date" in capsys.readouterr().out
