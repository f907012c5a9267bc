# The hub's image for deploy/k8s/values.yaml: the chart's own hub image (same major version as the chart)
# plus course_lib, whose provisioning (course_lib/hub/provision.py) the pre-spawn hook calls.
# Built from the repository root:  docker build -f deploy/k8s/hub.Dockerfile -t <registry>/course/hub:<tag> .
ARG HUB_IMAGE=quay.io/jupyterhub/k8s-hub:4.3.1
FROM ${HUB_IMAGE}
COPY --chown=jovyan:jovyan pyproject.toml README.md /srv/course-src/
COPY --chown=jovyan:jovyan course_lib /srv/course-src/course_lib
COPY --chown=jovyan:jovyan data /srv/course-src/data
RUN pip install --no-cache-dir --no-deps -e /srv/course-src \
 && pip install --no-cache-dir "sqlalchemy>=2.0" "pymysql>=1.1" "cryptography>=42" "redis>=5.0" \
    "jupyterhub-firstuseauthenticator>=1.1"
