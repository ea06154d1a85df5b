from importlib import resources

import pytest
import yaml

from balint_analysis.errors import InputError
from balint_analysis.instruments import builtin_ids, load_file, load_instrument


def test_builtins_load_and_keys_match_the_manuals():
    assert {"mbi_hss", "pss10"} <= set(builtin_ids())
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


def _write(tmp_path, data):
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _base():
    text = resources.files("balint_analysis.instruments").joinpath("pss10.yaml").read_text()
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
        (lambda d: d.update(colour="red"), "Additional properties"),
    ],
)
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
