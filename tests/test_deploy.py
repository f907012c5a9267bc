"""The hub's configuration files, checked without starting anything: deploy/hub/jupyterhub_config.py (one
machine; tests/test_hub.py runs it for real) and deploy/k8s/values.yaml (Zero to JupyterHub, which cannot run
here: its values were checked against the chart's schema offline, docs/workshop.md)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from traitlets.config import Config

from course_lib.hub import config
from course_lib.hub.provision import Provisioner

from .conftest import require_services

ROOT = Path(__file__).parents[1]
VALUES = ROOT / "deploy" / "k8s" / "values.yaml"


def test_the_one_machine_config_sets_the_room_up(tmp_path):
    c = Config()
    code = (ROOT / "deploy" / "hub" / "jupyterhub_config.py").read_text()
    os.environ[config.STATE] = str(tmp_path)
    try:
        exec(compile(code, "jupyterhub_config.py", "exec"), {"c": c})
    finally:
        del os.environ[config.STATE]
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.JupyterHub.authenticator_class == "firstuseauthenticator.FirstUseAuthenticator"
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"  # a room is let in with --ip 0.0.0.0, on purpose
    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler"]  # no admin token unless asked for
    assert callable(c.Spawner.pre_spawn_hook) and c.Authenticator.admin_users == {"instructor"}
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
    assert "first login claims the name" in c.JupyterHub.template_vars["announcement_login"]


@pytest.mark.parametrize("name", ["root", "daemon"])
def test_an_account_the_hub_did_not_make_is_refused(name):
    with pytest.raises(RuntimeError, match="not a learner's"):
        config.learner_account(name)
    assert pwd.getpwnam(name)  # and left alone


def test_the_kubernetes_values_call_the_same_provisioning():
    values = yaml.safe_load(VALUES.read_text())
    c = Config()
    exec(compile(values["hub"]["extraConfig"]["course"], "extraConfig", "exec"), {"c": c})
    assert callable(c.KubeSpawner.pre_spawn_hook)
    assert c.Authenticator.username_pattern == f"^{config.settings.LEARNER_NAME.pattern}$"
    env = values["hub"]["extraEnv"]
    assert {config.DATABASE_URL, config.REDIS_URL} <= set(env), "the admin URLs come from a Secret"
    assert values["cull"]["enabled"] and values["singleuser"]["defaultUrl"].endswith("00_start_here.ipynb")


def test_the_kubernetes_hook_hands_a_learner_their_own_credentials(monkeypatch):
    require_services()
    values = yaml.safe_load(VALUES.read_text())
    c = Config()
    exec(compile(values["hub"]["extraConfig"]["course"], "extraConfig", "exec"), {"c": c})
    spawner = SimpleNamespace(user=SimpleNamespace(name="k8s_probe"), environment={})
    try:
        c.KubeSpawner.pre_spawn_hook(spawner)
    finally:
        Provisioner(config.Options.database_url, config.Options.redis_url).remove("k8s_probe")
    env = spawner.environment
    assert env["COURSE_LEARNER"] == "k8s_probe" and env["COURSE_BUILD_DIR"] == "/home/jovyan/course/build"
    assert "course_k8s_probe:" in env["COURSE_DATABASE_URL"] and env["COURSE_DATABASE_URL"].endswith(
        "/course_lab_k8s_probe")
