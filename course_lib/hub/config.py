"""The workshop hub's JupyterHub configuration: `deploy/hub/jupyterhub_config.py` calls `configure(c)`.

One machine, one room:

* **Log in**: FirstUseAuthenticator. A learner picks a name (`[a-z][a-z0-9_]*`, it names their database
  and system account) and a password of at least 8 characters; that first login claims the name, and
  the password is asked for from then on. The instructors (COURSE_HUB_INSTRUCTORS) are JupyterHub admins:
  they should log in first, so nobody else claims their names.
* **Spawn**: LocalProcessSpawner, every learner's Jupyter server and kernels under a system account of
  their own (created on first spawn, home 0700), so learners cannot read each other's files or the
  credentials in each other's process environment. The hub itself runs as root.
* **Before each spawn** (`pre_spawn`): the learner's database, MariaDB user, Redis database and ACL user
  with a fresh password (`provision.Provisioner`); a copy of the notebooks in ~/course the first time;
  the environment that points `course_lib` at all of it. Instructors also get COURSE_INSTRUCTOR_DATABASE_URL,
  which reads every learner's database.
* **Idle culler**: a hub service stops servers idle for COURSE_HUB_IDLE_TIMEOUT seconds (default 3600).

Everything is read from COURSE_HUB_* variables (see `Options`), which `course hub` sets.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib.backends import settings
from course_lib.hub.provision import Provisioner

IP, STATE, PORT = "COURSE_HUB_IP", "COURSE_HUB_STATE", "COURSE_HUB_PORT"
HUB_PORT, PROXY_API_PORT = "COURSE_HUB_API_PORT", "COURSE_HUB_PROXY_API_PORT"
DATABASE_URL, REDIS_URL = "COURSE_HUB_DATABASE_URL", "COURSE_HUB_REDIS_URL"
INSTRUCTORS, IDLE_TIMEOUT, SERVICE_TOKEN = "COURSE_HUB_INSTRUCTORS", "COURSE_HUB_IDLE_TIMEOUT", \
    "COURSE_HUB_SERVICE_TOKEN"
NOTEBOOKS, PROXY = "COURSE_HUB_NOTEBOOKS", "COURSE_HUB_PROXY"
INSTRUCTOR_DATABASE_URL = "COURSE_INSTRUCTOR_DATABASE_URL"
# The comment every learner account carries: the hub spawns only accounts it made (never `mysql` or `root`).
LEARNER_ACCOUNT = "course learner"
SERVICE = "course-admin"  # the API token `course bench hub` and the tests drive the hub with


@dataclass(frozen=True)
class Options:
    """The hub's settings, from COURSE_HUB_* variables with a one-machine workshop's defaults."""

    state: Path
    ip: str = "127.0.0.1"  # a room's laptops reach the hub on 0.0.0.0 (course hub --ip 0.0.0.0)
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    database_url: str = "mysql+pymysql://root@127.0.0.1:3306/mysql"
    redis_url: str = settings.REDIS_DEFAULT_URL
    instructors: frozenset[str] = field(default_factory=lambda: frozenset({"instructor"}))
    idle_timeout_s: int = 3600
    service_token: str | None = None
    notebooks: Path | None = None
    proxy: str = "configurable-http-proxy"

    @classmethod
    def from_environment(cls) -> Options:
        env = os.environ
        root = settings.checkout_root()
        default_proxy = root / "deploy" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy" if root else None
        return cls(
            state=Path(env.get(STATE) or ((root / "build" / "hub" / "state") if root else Path.cwd() / "hub-state")),
            ip=env.get(IP) or cls.ip, port=int(env.get(PORT, 8000)), hub_port=int(env.get(HUB_PORT, 8081)),
            proxy_api_port=int(env.get(PROXY_API_PORT, 8001)),
            database_url=env.get(DATABASE_URL) or cls.database_url,
            redis_url=env.get(REDIS_URL) or cls.redis_url,
            instructors=_instructors(),
            idle_timeout_s=int(env.get(IDLE_TIMEOUT, 3600)), service_token=env.get(SERVICE_TOKEN) or None,
            notebooks=Path(env[NOTEBOOKS]) if env.get(NOTEBOOKS) else (root / "notebooks" if root else None),
            proxy=env.get(PROXY) or (str(default_proxy) if default_proxy and default_proxy.exists()
                                     else "configurable-http-proxy"))


def _instructors() -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get(INSTRUCTORS, "instructor").split(",") if n.strip())


def configure(c: Any, options: Options | None = None) -> None:
    """Fill JupyterHub's config object `c` for a one-machine workshop."""
    o = options or Options.from_environment()
    o.state.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    c.JupyterHub.bind_url = f"http://{o.ip}:{o.port}"
    c.JupyterHub.hub_ip, c.JupyterHub.hub_port = "127.0.0.1", o.hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{o.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [o.proxy]
    c.ConfigurableHTTPProxy.pid_file = str(o.state / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{o.state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(o.state / "cookie_secret")

    c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
    c.FirstUseAuthenticator.create_users = True
    c.FirstUseAuthenticator.min_password_length = 8
    c.FirstUseAuthenticator.dbm_path = str(o.state / "passwords.dbm")
    c.Authenticator.username_pattern = f"^{settings.LEARNER_NAME.pattern}$"
    c.Authenticator.allow_all = True
    c.Authenticator.admin_users = set(o.instructors)

    c.JupyterHub.template_vars = {"announcement_login": (
        "First time here? Pick a name (a lowercase letter, then letters, digits or _) and a password of at least "
        "8 characters: your first login claims the name. Your notebooks, database and Redis are yours alone.")}

    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
    c.Spawner.notebook_dir = "~/course"
    c.Spawner.default_url = "/lab/tree/notebooks/00_start_here.ipynb"
    c.Spawner.start_timeout, c.Spawner.http_timeout = 120, 60
    c.Spawner.pre_spawn_hook = _pre_spawn(o)

    c.JupyterHub.services = [{"name": "idle-culler", "command": [
        sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={o.idle_timeout_s}"]}]
    c.JupyterHub.load_roles = [{"name": "idle-culler", "services": ["idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}]
    if o.service_token:
        c.JupyterHub.services.append({"name": SERVICE, "api_token": o.service_token})
        c.JupyterHub.load_roles.append({"name": SERVICE, "services": [SERVICE], "scopes": [
            "admin:users", "admin:servers", "access:servers", "list:users", "read:users", "tokens"]})


def _pre_spawn(o: Options):
    provisioner = Provisioner(o.database_url, o.redis_url)

    def pre_spawn(spawner: Any) -> None:
        name = spawner.user.name
        account = learner_account(name)
        course = Path(account.pw_dir) / "course"
        copy_course(o.notebooks, course, account)
        spawner.environment.update(learner_environment(provisioner, name, o.instructors, course / "build"))

    return pre_spawn


def learner_environment(provisioner: Provisioner, name: str, instructors: frozenset[str], build_dir: Path
                        ) -> dict[str, str]:
    """What a learner's server is started with: their own database and Redis credentials (fresh), their build
    folder, and for an instructor a URL that reads every learner's database. Shared by both deployments."""
    environment = provisioner.learner(name).environment(str(build_dir))
    if name in instructors:
        environment[INSTRUCTOR_DATABASE_URL] = provisioner.instructor()
    return environment


def configure_kubernetes(c: Any) -> None:
    """The same provisioning on Zero to JupyterHub (deploy/k8s/values.yaml calls this from hub.extraConfig):
    KubeSpawner gives each learner a pod of their own, so there are no system accounts to make, and the
    image carries the notebooks. The admin URLs come from COURSE_HUB_DATABASE_URL / COURSE_HUB_REDIS_URL."""
    env = os.environ
    provisioner = Provisioner(env.get(DATABASE_URL) or Options.database_url, env.get(REDIS_URL) or Options.redis_url)
    instructors = _instructors()

    def pre_spawn(spawner: Any) -> None:
        spawner.environment.update(learner_environment(provisioner, spawner.user.name, instructors,
                                                       Path("/home/jovyan/course/build")))

    c.Authenticator.username_pattern = f"^{settings.LEARNER_NAME.pattern}$"
    c.Authenticator.admin_users = set(instructors)
    c.KubeSpawner.pre_spawn_hook = pre_spawn


def learner_account(name: str) -> pwd.struct_passwd:
    """The learner's system account, created on first use; an account the hub did not make is refused."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--comment", LEARNER_ACCOUNT, "--shell", "/bin/bash", name],
                       check=True, capture_output=True)
        account = pwd.getpwnam(name)
        os.chmod(account.pw_dir, 0o700)
    if account.pw_gecos != LEARNER_ACCOUNT:
        raise RuntimeError(f"{name!r} is a system account of this machine, not a learner's: log in with another name")
    return account


def copy_course(notebooks: Path | None, course: Path, account: pwd.struct_passwd) -> None:
    """The numbered notebooks and their figures into ~/course/notebooks the first time (a learner's edits are
    never overwritten)."""
    target = course / "notebooks"
    if notebooks is None or target.exists():
        return
    target.mkdir(parents=True)
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(path, target / path.name)
    if (notebooks / "figures").is_dir():  # the diagrams the lessons' markdown links to
        shutil.copytree(notebooks / "figures", target / "figures")
    for path in (course, *course.rglob("*")):
        os.chown(path, account.pw_uid, account.pw_gid)


def remove_learners(names: Iterable[str], options: Options | None = None) -> None:
    """Everything a workshop gave these learners: their system accounts and homes, databases, MariaDB users,
    Redis ACL users and keys (their Redis database numbers go back to the pool)."""
    o = options or Options.from_environment()
    provisioner = Provisioner(o.database_url, o.redis_url)
    try:
        for name in names:
            remove_account(name)
            provisioner.remove(name)
    finally:
        provisioner.close()


def remove_account(name: str) -> None:
    """A learner's system account and home gone (after a workshop, or a test)."""
    try:
        if pwd.getpwnam(name).pw_gecos == LEARNER_ACCOUNT:
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    except KeyError:
        pass
