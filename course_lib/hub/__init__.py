"""The workshop hub: JupyterHub on one machine, each learner with a system account, a MariaDB database and
user, and a Redis database and ACL user of their own on the room's shared services (docs/workshop.md)."""
