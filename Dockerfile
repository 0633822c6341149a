# syntax=docker/dockerfile:1
# The controller image (controlplane run). Two stages: build wheels for the
# package and its dependencies, then install them into a slim runtime that runs
# as a non-root user with /data as its only writable state (the SQLite store).
#   docker build -t llm-controlplane:0.1.0 .
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controlplane ./controlplane
COPY serving ./serving
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/data \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --gid 10001 controlplane \
    && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin controlplane \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels llm-controlplane \
    && rm -rf /wheels
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# 8080: admin API; 9464: /metrics and /healthz (always on, even with the API disabled).
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["python3", "-m", "controlplane"]
CMD ["run", "--config", "/etc/controlplane/config/controller.yaml"]
