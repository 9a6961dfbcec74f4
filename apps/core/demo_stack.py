"""What ``make demo`` seeds and runs: each app's ``apps/<app>/demo.py`` plus web, worker and beat."""

import importlib
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext as _

SEED_ORDER = ("inventory", "channels", "orders", "payments", "aftersales")
ADMIN_USERNAME = "admin"


def demo_require_debug() -> None:
    """The demo commands create an admin with a known password and API shops with public
    secrets: they refuse to run unless DEBUG is on (``make demo`` turns it on)."""
    if not settings.DEBUG:
        raise CommandError(_("The demo commands only run with DEBUG=true; this looks like a production setup."))


def demo_modules() -> list[ModuleType]:
    """The apps' demo modules, in seeding order (an app without one is skipped)."""
    modules = []
    for name in SEED_ORDER:
        try:
            modules.append(importlib.import_module(f"apps.{name}.demo"))
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.{name}.demo":
                raise
    return modules


def demo_seed_all(*, stdout: TextIO) -> list[str]:
    """Run every app's idempotent ``seed``; returns the modules that ran."""
    ran = []
    for module in demo_modules():
        seed = getattr(module, "seed", None)
        if seed is None:
            continue
        seed(stdout=stdout)
        ran.append(module.__name__)
    return ran


def demo_admin_password() -> str:
    """``DEMO_ADMIN_PASSWORD`` if set, else a password generated once and kept in ``VAR_DIR``."""
    if settings.DEMO_ADMIN_PASSWORD:
        return settings.DEMO_ADMIN_PASSWORD
    path = Path(settings.VAR_DIR) / "demo-admin-password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def demo_admin_ensure() -> tuple[str, str]:
    """Create the demo superuser or reset its password; returns ``(username, password)``."""
    password = demo_admin_password()
    user_model = get_user_model()
    with transaction.atomic():
        user, _created = user_model.objects.select_for_update().get_or_create(
            username=ADMIN_USERNAME, defaults={"email": "admin@example.com"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.set_password(password)
        user.save()
    return ADMIN_USERNAME, password


def demo_processes(*, port: int) -> list[tuple[str, list[str]]]:
    """Web, worker and beat, then every app's ``PROCESSES`` (simulators, sandboxes)."""
    python = sys.executable
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    commands = [
        ("web", [python, manage, "runserver", f"127.0.0.1:{port}", "--noreload"]),
        (
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "oms",
                "worker",
                "-l",
                "info",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
            ],
        ),
        ("beat", [python, "-m", "celery", "-A", "oms", "beat", "-l", "info"]),
    ]
    for module in demo_modules():
        commands.extend((name, list(argv)) for name, argv in getattr(module, "PROCESSES", []))
    return commands
