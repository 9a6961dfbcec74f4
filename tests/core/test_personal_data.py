"""One definition of the personal-data policy: the permission is named in one module, which
every view, admin page, export and search asks."""

import re
from pathlib import Path

from django.contrib.auth.models import Permission

from apps.core.personal_data import PERSONAL_DATA_PERMISSION

ROOT = Path(__file__).resolve().parents[2]
PERMISSION_LITERAL = re.compile(r"""["'](?:orders\.)?view_personal_data["']""")


def test_the_permission_is_spelled_out_in_one_module_only():
    spelled = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "apps").rglob("*.py")
        if "migrations" not in path.parts and PERMISSION_LITERAL.search(path.read_text())
    )
    assert spelled == ["apps/core/personal_data.py"]


def test_the_permission_is_the_one_staff_are_granted(db):
    app_label, codename = PERSONAL_DATA_PERMISSION.split(".")
    assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()
