"""The apps depend one way (``.importlinter``): imports, ``ready()`` hooks, model relations and
migration dependencies all point down the layers, so no two apps need each other."""

import configparser
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.apps import apps as registry
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = {path.parent.name for path in ROOT.glob("apps/*/apps.py")}


def layers() -> list[set[str]]:
    """The layers of ``.importlinter``, top first, as app labels (``oms`` stays ``oms``)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].splitlines()
    return [{name.strip().removeprefix("apps.") for name in line.split("|")} for line in lines if line.strip()]


RANK = {name: index for index, layer in enumerate(layers()) for name in layer}


def may_depend(app: str, other: str) -> bool:
    return app == other or RANK[other] > RANK[app]


def test_every_app_has_a_place_in_the_layers():
    assert set(RANK) >= PROJECT_APPS


def test_imports_follow_the_layers():
    # Every import statement counts, also those inside functions (ready() hooks, lazy imports).
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603 - the pinned linter from our own virtualenv
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_model_relations_point_down_the_layers():
    wrong = []
    for model in registry.get_models():
        app = model._meta.app_label
        if app not in PROJECT_APPS:
            continue
        for field in model._meta.get_fields():
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            other = field.related_model._meta.app_label
            if other in PROJECT_APPS and not may_depend(app, other):
                wrong.append(f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}")
    assert wrong == []


def test_migrations_depend_down_the_layers_so_no_two_apps_form_a_cycle():
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    wrong = []
    for key, node in graph.node_map.items():
        app = key[0]
        if app not in PROJECT_APPS:
            continue
        for parent in node.parents:
            other = parent.key[0]
            if other in PROJECT_APPS and not may_depend(app, other):
                wrong.append(f"{app}.{key[1]} -> {other}.{parent.key[1]}")
    assert wrong == []


def test_the_import_graph_command_prints_the_edges_between_apps():
    out = StringIO()
    call_command("import_graph", stdout=out)
    printed = out.getvalue().splitlines()

    assert any(line.startswith("  channels -> orders: ") for line in printed)
    assert any(line.startswith("  orders -> shops: orders.0001_initial") for line in printed)
    assert not [line for line in printed if line.startswith(("  core -> ", "  shops -> orders"))]
