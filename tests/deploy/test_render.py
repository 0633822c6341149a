"""The committed rendered manifests are what the renderer makes of the overlays
today, and the renderer refuses what it does not implement."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.k8s.render import RenderError, build, dump_documents, main, render_all


def test_rendered_files_are_up_to_date() -> None:
    stale = [p.name for p, text in render_all().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"re-render with `python3 -m serving.k8s.render`: {stale}"
    assert main(["--check"]) == 0


def _kustomization(root: Path, text: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(text)
    for name, body in files.items():
        (root / name.replace("__", ".")).write_text(body)
    return root


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec:
  template:
    spec:
      containers: [{name: c, image: "reg.io/team/app:1.0"}, {name: d, image: other}]
"""


@pytest.mark.parametrize(
    ("label", "kustomization", "message"),
    [
        ("unknown field", "namePrefix: x-\nresources: [d__yaml]\n", "namePrefix: not supported"),
        ("file outside the root", "resources: [../d__yaml]\n", "inside the kustomization root"),
        (
            "hash suffix",
            "configMapGenerator: [{name: c, namespace: ns, literals: [a=b]}]\n",
            "disableNameSuffixHash",
        ),
        (
            "failed test op",
            "resources: [d__yaml]\npatches:\n- target: {kind: Deployment}\n  patch: |-\n    - {op: test, path: /spec/template/spec/containers/0/name, value: x}\n",
            "test failed",
        ),
        (
            "strategic merge",
            "resources: [d__yaml]\npatches:\n- target: {kind: Deployment}\n  patch: 'spec: {replicas: 2}'\n",
            "JSON 6902",
        ),
        (
            "target matches nothing",
            "resources: [d__yaml]\npatches:\n- target: {kind: Service}\n  patch: '[]'\n",
            "matches no object",
        ),
    ],
)
def test_renderer_refuses(tmp_path: Path, label: str, kustomization: str, message: str) -> None:
    (tmp_path / "d.yaml").write_text(DEPLOY)
    root = _kustomization(tmp_path / "k", kustomization.replace("__", "."), **{"d__yaml": DEPLOY})
    with pytest.raises(RenderError, match=message):
        build(root)


def test_images_generator_merge_and_patch(tmp_path: Path) -> None:
    _kustomization(
        tmp_path / "base",
        "resources: [d.yaml]\nconfigMapGenerator: [{name: cfg, namespace: ns, files: [a.txt], literals: [k=v]}]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n",
        d__yaml=DEPLOY,
        a__txt="one\n",
    )
    overlay = _kustomization(
        tmp_path / "over",
        "resources: [../base]\n"
        "images: [{name: reg.io/team/app, newName: mirror.io/app, newTag: '2.0'}]\n"
        "configMapGenerator: [{name: cfg, namespace: ns, behavior: merge, files: [a.txt]}]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
        "patches:\n- target: {kind: Deployment, name: app}\n  patch: |-\n    - {op: add, path: /spec/replicas, value: 3}\n",
        a__txt="two\n",
    )
    objs = build(overlay)
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == [
        "mirror.io/app:2.0",
        "other",
    ]
    assert dep["spec"]["replicas"] == 3
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    assert cm["data"] == {"a.txt": "two\n", "k": "v"}
    # Kustomize's legacy order: ConfigMap before Deployment; multi-line strings as blocks.
    text = dump_documents(objs)
    assert text.index("kind: ConfigMap") < text.index("kind: Deployment")
    assert "a.txt: |\n    two\n" in text
