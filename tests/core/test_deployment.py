"""The production settings, the Docker files and the Makefile agree with each other."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings

from apps.core.demo_stack import demo_processes
from oms.celery import TASK_QUEUES

ROOT = Path(settings.BASE_DIR)
DOCKER = ROOT / "docker"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}}
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, "DJANGO_SETTINGS_MODULE": "oms.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_false_refuses_the_default_secret_key():
    result = manage("check", DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = manage(
        "check", "--deploy",
        SECRET_KEY=secrets.token_urlsafe(50), DEBUG="False", ALLOWED_HOSTS="oms.example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    deploy_issues = re.findall(r"\((security|csrf|sessions|admin|auth)\.[WE]\d+\)", output)
    assert deploy_issues == [], output


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_the_stack_with_health_checks():
    services = compose()["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    workers = {"worker", "worker-payments", "worker-channels", "worker-reports"}
    assert default == {"mysql", "redis", "rabbitmq", "elasticsearch", "web", "beat"} | workers
    assert {name for name, service in services.items() if "tidb" in service.get("profiles", ())} == {
        "tidb",
        "tidb-init",
    }
    assert services["mysql"]["image"].startswith("mysql:8")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["elasticsearch"]["image"].split(":")[-1].startswith("8.")
    assert services["elasticsearch"]["environment"]["discovery.type"] == "single-node"
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    for name in {"mysql", "redis", "rabbitmq", "elasticsearch", "web"} | workers:
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("mysql", "redis", "rabbitmq", "elasticsearch"):
        assert services["web"]["depends_on"][name] == {"condition": "service_healthy"}


def test_compose_runs_one_worker_group_per_queue_and_every_queue_has_one():
    services = compose()["services"]
    groups = {name: services[name]["environment"]["CELERY_QUEUES"].split(",") for name in services if "worker" in name}
    consumed = [queue for queues in groups.values() for queue in queues]
    assert sorted(consumed) == sorted(TASK_QUEUES)  # each queue consumed by exactly one group
    for name in groups:
        assert services[name]["command"] == ["docker/start-worker.sh"]
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("amqp://")


def test_the_scale_overlay_runs_three_elasticsearch_nodes_and_redis_sentinel():
    overlay = yaml.safe_load((DOCKER / "compose.scale.yaml").read_text())["services"]
    nodes = ["elasticsearch", "es02", "es03"]
    for node in nodes:
        env = overlay[node]["environment"]
        assert env["cluster.name"] == "oms"
        assert env["cluster.initial_master_nodes"].split(",") == nodes
    assert overlay["elasticsearch"]["environment"]["discovery.type"] == "multi-node"
    sentinels = [name for name in overlay if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    for role in ("web", "worker", "worker-payments", "worker-channels", "worker-reports", "beat"):
        env = overlay[role]["environment"]
        assert env["ELASTICSEARCH_URL"].split(",") == [f"http://{node}:9200" for node in nodes]
        assert env["REDIS_SENTINELS"].split(",") == [f"{name}:26379" for name in sentinels]


def test_compose_takes_every_secret_from_the_environment_without_a_default():
    text = (DOCKER / "compose.yaml").read_text()
    secrets_used = re.findall(r"\$\{(\w*(?:PASSWORD|SECRET)\w*)([^}]*)\}", text)
    assert {name for name, _rest in secrets_used} == {
        "SECRET_KEY",
        "MYSQL_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "RABBITMQ_PASSWORD",
    }
    assert [name for name, rest in secrets_used if rest.startswith(":-") or rest.startswith("-")] == []


def test_compose_roles_use_the_start_scripts_and_production_urls():
    services = compose()["services"]
    for role in ("web", "worker", "beat"):
        script = services[role]["command"][0]
        assert script == f"docker/start-{role}.sh"
        assert os.access(ROOT / script, os.X_OK), script
        env = services[role]["environment"]
        # MySQL unless DATABASE_URL is set (tidb://... with the tidb profile).
        assert env["DATABASE_URL"].startswith("${DATABASE_URL:-mysql://oms:")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["ELASTICSEARCH_URL"].startswith("http://")
        assert env["DEBUG"] == "false"


def test_dockerfile_is_slim_and_runs_as_a_non_root_user():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.MULTILINE)
    assert "libmariadb-dev" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert "gunicorn" in (ROOT / "requirements.txt").read_text()


def test_start_scripts_run_the_commands_the_makefile_runs():
    makefile = (ROOT / "Makefile").read_text()
    web = (DOCKER / "start-web.sh").read_text()
    for command in ("manage.py migrate --no-input", "manage.py collectstatic --no-input"):
        assert command in makefile
        assert command in web
    assert "gunicorn oms.wsgi:application" in web

    demo = {name: " ".join(argv) for name, argv in demo_processes(port=8000)}
    for role in ("worker", "beat"):
        command = f"celery -A oms {role} -l info"
        assert command in demo[role], "make demo runs it"
        assert command in (DOCKER / f"start-{role}.sh").read_text()


def run_start_web(tmp_path, *, fail: str = "", **env: str) -> list[str]:
    """Run docker/start-web.sh with stand-ins for ``python`` and ``gunicorn`` on PATH that
    record their arguments (``python`` fails when its arguments contain ``fail``)."""
    log = tmp_path / "calls.log"
    for name in ("python", "gunicorn"):
        stub = tmp_path / name
        stub.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{log}"\ncase "$*" in *"{fail or "never-fails"}"*) exit 1 ;; esac\n'
        )
        stub.chmod(0o755)
    result = subprocess.run(  # noqa: S603 - our own start script
        [str(DOCKER / "start-web.sh")],
        cwd=ROOT,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines()


def test_start_web_creates_the_search_index_before_serving(tmp_path):
    calls = run_start_web(tmp_path, ELASTICSEARCH_URL="http://elasticsearch:9200")
    assert [call.split()[:3] for call in calls[:-1]] == [
        ["python", "manage.py", "migrate"],
        ["python", "manage.py", "collectstatic"],
        ["python", "manage.py", "search_index"],
    ]
    assert calls[2] == "python manage.py search_index --create-if-missing"
    assert calls[-1].startswith("gunicorn oms.wsgi:application")


def test_start_web_serves_when_elasticsearch_is_off_or_unreachable(tmp_path):
    assert not any("search_index" in call for call in run_start_web(tmp_path))
    (tmp_path / "calls.log").unlink()
    calls = run_start_web(tmp_path, fail="search_index", ELASTICSEARCH_URL="http://elasticsearch:9200")
    assert "python manage.py search_index --create-if-missing" in calls
    assert calls[-1].startswith("gunicorn oms.wsgi:application")


def test_make_installs_every_system_package_a_fresh_debian_needs():
    # mysqlclient has no Linux wheel: it compiles against Python.h (python3-dev) and the
    # MariaDB client headers; `make messages` needs gettext; `python3 -m venv` needs python3-venv.
    makefile = (ROOT / "Makefile").read_text()
    packages = set(re.search(r"^APT_PACKAGES := (.+)$", makefile, re.MULTILINE).group(1).split())
    assert {"build-essential", "pkg-config", "python3-dev", "libmariadb-dev", "gettext", "python3-venv"} <= packages


def test_ci_refuses_to_run_the_tests_off_mariadb_or_redis():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    for name, value in (("DATABASE_URL", "sqlite:///tmp/oms.sqlite3"), ("REDIS_URL", "memory://")):
        result = subprocess.run(  # noqa: S603 - our own CI script
            [str(ROOT / ".ci" / "check-urls")],
            env={**env, "DATABASE_URL": "mysql://root@127.0.0.1/oms", "REDIS_URL": "redis://127.0.0.1/0", name: value},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1
        assert f"FATAL: {name} must be" in result.stderr
    run = (ROOT / ".ci" / "run").read_text()
    assert run.index("\n.ci/check-urls\n") < run.index("\nmake test\n")  # checked before the tests run
