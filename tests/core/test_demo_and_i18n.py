import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.utils import translation

from apps.aftersales.models import AfterSaleType
from apps.core.demo_stack import demo_admin_ensure, demo_processes


@pytest.mark.django_db
def test_demo_admin_uses_the_configured_password_and_resets_it(settings):
    settings.DEMO_ADMIN_PASSWORD = "first-Password-1"
    username, password = demo_admin_ensure()
    assert (username, password) == ("admin", "first-Password-1")
    user = authenticate(username="admin", password="first-Password-1")
    assert user is not None
    assert user.is_superuser

    settings.DEMO_ADMIN_PASSWORD = "second-Password-2"
    demo_admin_ensure()
    assert authenticate(username="admin", password="first-Password-1") is None
    assert authenticate(username="admin", password="second-Password-2") is not None


@pytest.mark.django_db
def test_demo_admin_password_is_generated_once_and_kept(settings, tmp_path):
    settings.DEMO_ADMIN_PASSWORD = ""
    settings.VAR_DIR = tmp_path
    _username, first = demo_admin_ensure()
    _username, second = demo_admin_ensure()
    assert len(first) >= 12
    assert first == second
    assert (tmp_path / "demo-admin-password").read_text().strip() == first
    assert oct((tmp_path / "demo-admin-password").stat().st_mode & 0o777) == "0o600"


def test_demo_runs_web_worker_and_beat_on_the_requested_port():
    commands = dict(demo_processes(port=8123))
    assert list(commands)[:3] == ["web", "worker", "beat"]
    assert "127.0.0.1:8123" in commands["web"]


@pytest.mark.django_db
def test_admin_speaks_simplified_chinese_by_default(client, settings):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert "OMS 运营控制台" in response.content.decode()


@pytest.mark.django_db
def test_api_docs_are_served_from_our_own_static_files(admin_client):
    response = admin_client.get("/api/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in body
    assert "cdn.jsdelivr.net" not in body


def test_words_other_apps_also_translate_keep_our_meaning():
    """ "Exchange" is also an AMQP term in django-celery-beat's catalogue (交换机)."""
    with translation.override("zh-hans"):
        assert str(AfterSaleType.EXCHANGE.label) == "换货"


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["demo_seed", "demo_admin", "demo_run"])
def test_demo_commands_refuse_to_run_without_debug(settings, command):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command(command)
    assert not get_user_model().objects.filter(username="admin").exists()
