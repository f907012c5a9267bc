# The learners' image for deploy/k8s/values.yaml: the lean learner install (`make lab-setup`: the course and
# what its notebooks run, no test tools) and the course's notebooks under /srv/course, which the pod's
# postStart hook copies into the learner's home volume once.
# Built from the repository root:  docker build -f deploy/k8s/singleuser.Dockerfile -t <registry>/course/lab:<tag> .
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 jovyan
COPY pyproject.toml README.md /srv/course-src/
COPY course_lib /srv/course-src/course_lib
COPY data /srv/course-src/data
RUN pip install --no-cache-dir -e /srv/course-src "jupyterhub>=5.0"
COPY --chown=jovyan:jovyan notebooks /srv/course/notebooks
USER jovyan
WORKDIR /home/jovyan
CMD ["jupyterhub-singleuser"]
