"""Each model has one test factory (in its app's ``tests/<app>/factories.py``); other packages
import it, or subclass it to state only the defaults their tests rely on."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def factory_models() -> dict[str, list[str]]:
    """{model named in a factory's Meta: [factory classes that name it]}."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "tests").rglob("factories*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for meta in (item for item in node.body if isinstance(item, ast.ClassDef) and item.name == "Meta"):
                for statement in meta.body:
                    if isinstance(statement, ast.Assign) and statement.targets[0].id == "model":
                        found[ast.unparse(statement.value)].append(f"{path.relative_to(ROOT)}:{node.name}")
    return found


def test_each_model_has_one_factory():
    assert factory_models()["Warehouse"] == ["tests/inventory/factories.py:WarehouseFactory"]
    assert {model: where for model, where in factory_models().items() if len(where) > 1} == {}
