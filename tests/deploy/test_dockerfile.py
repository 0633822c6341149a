"""The controller's Dockerfile, checked statically.

Docker cannot run on the test machines, so the image is never built here: this
parses the Dockerfile and asserts its shape (stages, user, health check, data
volume, entrypoint) and that .dockerignore keeps what the build copies.
"""

from __future__ import annotations

import fnmatch
import json
import re

from serving.k8s.render import REPO


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[tuple[str, list[tuple[str, str]]]]:
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for word, rest in _instructions():
        if word == "FROM":
            stages.append((rest.split(" AS ")[-1].strip() if " AS " in rest else "", []))
        elif stages:
            stages[-1][1].append((word, rest))
    return stages


def test_multi_stage_wheel_then_slim_runtime() -> None:
    froms = [rest for word, rest in _instructions() if word == "FROM"]
    assert [f.split(" AS ")[1] for f in froms] == ["build", "runtime"]
    assert all("-slim" in f for f in froms)
    (_, build), (_, runtime) = _stages()
    assert any(w == "RUN" and "pip wheel" in r for w, r in build)
    assert ("COPY", "--from=build /wheels /wheels") in runtime
    assert any(w == "RUN" and "--no-index" in r and "llm-controlplane" in r for w, r in runtime)


def test_runs_as_a_non_root_user_with_a_data_volume() -> None:
    runtime = _stages()[-1][1]
    users = [r for w, r in runtime if w == "USER"]
    assert users == ["10001:10001"], "numeric, so runAsNonRoot can verify it"
    assert ("VOLUME", '["/data"]') in runtime
    assert any(w == "RUN" and "chown 10001:10001 /data" in r for w, r in runtime)
    # The Deployment runs the same uid.
    deployment = (REPO / "serving/k8s/base/controller/deployment.yaml").read_text()
    assert "runAsUser: 10001" in deployment


def test_healthcheck_hits_healthz_on_the_metrics_port() -> None:
    runtime = _stages()[-1][1]
    checks = [r for w, r in runtime if w == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, cmd = checks[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    assert "http://127.0.0.1:9464/healthz" in " ".join(json.loads(cmd))


def test_entrypoint_is_the_cli_and_default_command_runs_the_controller() -> None:
    runtime = dict(_stages()[-1][1])
    assert json.loads(runtime["ENTRYPOINT"]) == ["python3", "-m", "controlplane"]
    cmd = json.loads(runtime["CMD"])
    assert cmd[:2] == ["run", "--config"] and cmd[2].startswith("/etc/controlplane/config/")


def test_dockerignore_keeps_what_the_build_copies() -> None:
    rules = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/").removeprefix("**/")
            if (
                fnmatch.fnmatch(path, pattern)
                or path.startswith(pattern + "/")
                or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)
            ):
                keep = negate
        return keep

    copied = [
        src
        for w, r in _instructions()
        if w == "COPY" and not r.startswith("--from")
        for src in r.split()[:-1]
    ]
    for src in copied:
        assert included(src), f"{src} is copied but .dockerignore drops it"
    assert included("controlplane/loop.py")
    for dropped in ("tests/conftest.py", ".git/HEAD", "controlplane/__pycache__/x.pyc", "controlplane.db"):
        assert not included(dropped), dropped
