"""Every user-facing string ships in Simplified Chinese: no catalogue has an untranslated or
fuzzy (unchecked) entry."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted(
    [*ROOT.glob("apps/*/locale/zh_Hans/LC_MESSAGES/django.po"), ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"]
)


def entries(path: Path) -> list[str]:
    """The catalogue's live entries (not the header, not obsolete ``#~`` ones)."""
    blocks = path.read_text().split("\n\n")
    return [b for b in blocks[1:] if "msgid" in b and not b.lstrip().startswith("#~")]


def unfinished(block: str) -> bool:
    if re.search(r"^#,.*\bfuzzy\b", block, re.MULTILINE):
        return True
    translations = re.findall(r'^msgstr(?:\[\d+\])? ((?:".*"\n?)+)', block + "\n", re.MULTILINE)
    return not translations or any(not "".join(re.findall(r'"(.*)"', t)) for t in translations)


def test_every_app_ships_a_catalogue():
    apps = {p.parent.name for p in ROOT.glob("apps/*/apps.py")}
    shipped = {p.parents[3].name for p in CATALOGUES if p.parts[-6] == "apps"}
    assert apps <= shipped


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_is_fully_translated(path):
    missing = [block.splitlines()[-2:] for block in entries(path) if unfinished(block)]
    assert entries(path)
    assert missing == []
