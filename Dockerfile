# The platform's one image: the hub, the member agents and the modules all run `m4d` from it.
#
#   docker build -t ghcr.io/m4d/m4d:0.1.0 .          # or: podman build -t ghcr.io/m4d/m4d:0.1.0 .
#
# Two stages: the first builds the wheel from this checkout, the second installs only the wheel (and git,
# which the hub's GitOps writer runs) into a slim Python base and runs as an unprivileged user. Pin the
# base by digest for reproducible builds: --build-arg PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
RUN pip install --no-cache-dir "setuptools>=77" wheel
# Only what the wheel is built from (pyproject's [tool.setuptools.package-dir] folders; see .dockerignore).
COPY pyproject.toml setup.py README.md ./
COPY m4d/ m4d/
COPY generator/ generator/
COPY gitops/ gitops/
COPY controllers/ controllers/
COPY modules/ modules/
COPY cli/ cli/
COPY demo/ demo/
COPY samples/ samples/
COPY cluster-templates/ cluster-templates/
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 m4d \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/m4d --create-home --shell /usr/sbin/nologin m4d
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist
ENV PYTHONUNBUFFERED=1 \
    HOME=/var/lib/m4d
WORKDIR /var/lib/m4d
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
CMD ["m4d", "--help"]
