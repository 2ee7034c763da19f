"""Bad configuration stops the worker with a message naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import ConfigError, load_brands, parse_brands, settings_from

GOOD = {"name": "acme", "handles": {"twitter": ["AcmeSupport"]}}


def brand(**changes: object) -> dict:
    return {"brand": [{**GOOD, **changes}]}


@pytest.mark.parametrize(
    ("document", "field", "fix"),
    [
        (brand(sla_seconds=-5), "brand[0] (acme).sla_seconds", "3600"),
        (brand(sla_seconds="1h"), "brand[0] (acme).sla_seconds", "3600"),
        (brand(handles={}), "brand[0] (acme).handles", "twitter"),
        (brand(handles={"myspace": ["x"]}), "handles.myspace", "twitter"),
        (brand(languages=["de"]), "languages", '"fr"'),
        (brand(colour="red"), "brand[0].colour", "use only"),
        (brand(expire_after_seconds=60, sla_seconds=3600), "expire_after_seconds", "604800"),
        (brand(business_hours={"timezone": "Mars/Olympus"}), "business_hours.timezone",
         "Europe/Paris"),
        (brand(business_hours={"days": ["funday"]}), "business_hours.days", "mon"),
        (brand(business_hours={"start": "9am"}), "business_hours.start", "HH:MM"),
        (brand(business_hours={"start": "09:00", "end": "09:00"}), "business_hours.end",
         "00:00"),
        ({"brand": [GOOD, GOOD]}, "brand[1].name", "unique"),
        ({"brand": []}, "brand", "[[brand]]"),
        ({"brands": [GOOD]}, "brands", "[[brand]]"),
        (brand(name=""), "brand[0].name", 'name = "acme"'),
    ],
)
def test_bad_brand_files_name_the_field_and_the_fix(document: dict, field: str,
                                                    fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_brands(document, "brands.toml")
    message = str(error.value)
    assert message.startswith("brands.toml: ")
    assert field in message
    assert "Fix:" in message and fix in message


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "brands.toml"
    path.write_text('[defaults]\nsla_seconds = 900\n[[brand]]\nname = "acme"\n'
                    'handles = { twitter = ["@AcmeSupport"] }\n'
                    '[brand.business_hours]\ntimezone = "Europe/Paris"\n')
    acme = load_brands(path).get("acme")
    assert acme is not None
    assert acme.sla_seconds == 900
    assert acme.handles["twitter"] == frozenset({"acmesupport"})
    assert acme.business_hours is not None and acme.business_hours.open_days == frozenset(
        range(5))


def test_unreadable_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BRANDPULSE_BRANDS"):
        load_brands(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[brand]\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_brands(broken)


def test_settings_from_environment_and_flags() -> None:
    env = {"BRANDPULSE_BROKER": "kafka://k:9092", "BRANDPULSE_METRICS_PORT": "9200"}
    settings = settings_from(env, metrics_port=None, partitions=12)
    assert (settings.broker, settings.metrics_port, settings.partitions) == (
        "kafka://k:9092", 9200, 12)
    with pytest.raises(ConfigError, match=r"BRANDPULSE_METRICS_PORT.*Fix"):
        settings_from({"BRANDPULSE_METRICS_PORT": "ninety"})
    with pytest.raises(ConfigError, match=r"broker.*kafka://HOST:PORT"):
        settings_from({}, broker="localhost:9092")


@pytest.mark.parametrize(("text", "where"), [
    ('[[brand]]\nname = "acme\n', r"broken\.toml, line 2: not valid TOML \(.*column 13\)"),
    ('[[brand]]\nname = "acme"\nsla = [\n', r"broken\.toml, line 3: .*at the end of the file"),
    ("[[brand]\nname = 1", r"broken\.toml, line 1: not valid TOML"),
])
def test_broken_toml_names_its_line(tmp_path: Path, text: str, where: str) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=where):
        load_brands(broken)
