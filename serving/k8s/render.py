"""Render the Kustomize overlays under serving/k8s to plain YAML, without kubectl.

Owns: a small Kustomize subset (exactly the fields our kustomizations use) and
writing ``serving/k8s/rendered/<overlay>.yaml``, the files reviewers read and the
manifest tests validate. ``python3 -m serving.k8s.render`` rewrites them;
``--check`` exits 1 when one is stale. Before rendering it copies
``examples/controller.yaml`` into the base ConfigMap's source, because Kustomize
may not read files outside a kustomization's root.
Must not import: anything from controlplane (the manifests do not depend on code).

Supported, with Kustomize's meaning: ``resources`` (files inside the root, and
directories holding a kustomization), ``configMapGenerator`` (``files``,
``literals``, ``behavior`` create/merge/replace) with ``generatorOptions``
(``disableNameSuffixHash: true`` only, ``labels``), ``patches`` as JSON 6902
operation lists (add, remove, replace, test) chosen by ``target``, and
``images`` (``newName``, ``newTag``, ``digest``). Any other field is an error
rather than silently ignored. Documents come out in Kustomize's legacy kind
order, then by namespace and name; formatting may differ from ``kustomize
build``, the objects may not.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RenderError", "build", "render_all", "dump_documents", "K8S", "OVERLAYS"]

K8S = Path(__file__).resolve().parent
REPO = K8S.parents[1]
OVERLAYS = ("production", "shadow", "shared-store")
_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "images", "patches"}
_ORDER_FIRST = (
    "Namespace ResourceQuota StorageClass CustomResourceDefinition ServiceAccount PodSecurityPolicy Role "
    "ClusterRole RoleBinding ClusterRoleBinding ConfigMap Secret Endpoints Service LimitRange PriorityClass "
    "PersistentVolume PersistentVolumeClaim Deployment StatefulSet CronJob PodDisruptionBudget"
).split()
_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_HEADER = "# Rendered by `python3 -m serving.k8s.render` from serving/k8s/overlays/{name}; do not edit.\n"


class RenderError(ValueError):
    """A kustomization this renderer cannot render; the message names the file and field."""


def _kustomization(root: Path) -> tuple[Path, dict[str, Any]]:
    for name in _NAMES:
        path = root / name
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            unknown = sorted(set(data) - _FIELDS)
            if unknown:
                raise RenderError(f"{path}: {unknown[0]}: not supported by this renderer")
            return path, data
    raise RenderError(f"{root}: no kustomization.yaml")


def _inside(root: Path, rel: str, where: Path) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RenderError(f"{where}: {rel}: files must lie inside the kustomization root")
    return path


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))


def build(root: Path) -> list[dict[str, Any]]:
    """The objects of the kustomization in ``root``, after its generators, patches and images."""
    path, k = _kustomization(root)
    objs: list[dict[str, Any]] = []
    for rel in k.get("resources") or []:
        target = (root / rel).resolve()
        if target.is_dir():
            objs.extend(build(target))
        else:
            text = _inside(root, rel, path).read_text()
            objs.extend(d for d in yaml.safe_load_all(text) if d)
    options = k.get("generatorOptions") or {}
    for gen in k.get("configMapGenerator") or []:
        _generate(root, path, gen, options, objs)
    for i, patch in enumerate(k.get("patches") or []):
        _patch(objs, patch, f"{path}: patches.{i}")
    for image in k.get("images") or []:
        _set_image(objs, image)
    seen: set[tuple[str, str, str]] = set()
    for obj in objs:
        if _key(obj) in seen:
            raise RenderError(f"{path}: {'/'.join(_key(obj))}: defined twice")
        seen.add(_key(obj))
    return objs


def _generate(
    root: Path, where: Path, gen: dict[str, Any], options: dict[str, Any], objs: list[dict[str, Any]]
) -> None:
    if not options.get("disableNameSuffixHash"):
        raise RenderError(
            f"{where}: generatorOptions.disableNameSuffixHash: must be true (hash suffixes not rendered)"
        )
    data: dict[str, str] = {}
    for entry in gen.get("files") or []:
        key, _, rel = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = _inside(root, rel, where).read_text()
    for literal in gen.get("literals") or []:
        key, _, value = literal.partition("=")
        data[key] = value
    meta: dict[str, Any] = {"name": gen["name"]}
    if gen.get("namespace"):
        meta["namespace"] = gen["namespace"]
    if options.get("labels"):
        meta["labels"] = dict(options["labels"])
    behavior = gen.get("behavior", "create")
    found = [o for o in objs if _key(o) == ("ConfigMap", meta.get("namespace", ""), meta["name"])]
    if behavior == "create":
        if found:
            raise RenderError(
                f"{where}: configMapGenerator {meta['name']}: exists; use behavior merge or replace"
            )
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    elif behavior in ("merge", "replace"):
        if not found:
            raise RenderError(
                f"{where}: configMapGenerator {meta['name']}: behavior {behavior} needs a base ConfigMap"
            )
        cm = found[0]
        cm["data"] = {**(cm.get("data") or {}), **data} if behavior == "merge" else data
        if meta.get("labels"):
            cm["metadata"]["labels"] = {**(cm["metadata"].get("labels") or {}), **meta["labels"]}
    else:
        raise RenderError(
            f"{where}: configMapGenerator.behavior: {behavior!r} is not create, merge or replace"
        )


def _matches(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    kind, ns, name = _key(obj)
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    wanted = {"kind": kind, "namespace": ns, "name": name, "group": group, "version": version}
    return all(wanted[k] == str(v) for k, v in target.items())


def _patch(objs: list[dict[str, Any]], patch: dict[str, Any], where: str) -> None:
    ops = yaml.safe_load(patch.get("patch") or "")
    if not isinstance(ops, list):
        raise RenderError(f"{where}.patch: only JSON 6902 operation lists are supported")
    hits = [o for o in objs if _matches(o, patch.get("target") or {})]
    if not hits:
        raise RenderError(f"{where}.target: matches no object")
    for obj in hits:
        for j, op in enumerate(ops):
            _apply(obj, op, f"{where}.patch.{j}")


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"path {path!r}: a JSON pointer starts with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply(obj: dict[str, Any], op: dict[str, Any], where: str) -> None:
    *parents, last = _pointer(op["path"])
    node: Any = obj
    try:
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if kind == "add":
                node.insert(index, copy.deepcopy(op["value"]))
            elif kind == "remove":
                del node[index]
            elif kind == "replace":
                node[index] = copy.deepcopy(op["value"])
            elif kind == "test" and node[index] != op["value"]:
                raise RenderError(f"{where}: test failed at {op['path']}: {node[index]!r}")
        elif kind in ("add", "replace"):
            if kind == "replace" and last not in node:
                raise RenderError(f"{where}: replace: {op['path']} does not exist")
            node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[last]
        elif kind == "test" and node[last] != op["value"]:
            raise RenderError(f"{where}: test failed at {op['path']}: {node[last]!r}")
        if kind not in ("add", "remove", "replace", "test"):
            raise RenderError(f"{where}.op: {kind!r} is not supported")
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        if isinstance(exc, RenderError):
            raise
        raise RenderError(f"{where}: {op['path']}: {exc!r}") from exc


def _set_image(objs: list[dict[str, Any]], image: dict[str, Any]) -> None:
    for obj in objs:
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (*(pod.get("containers") or []), *(pod.get("initContainers") or [])):
            ref = str(container.get("image", ""))
            name, tag = ref.split("@", 1)[0], ""
            if ":" in name.rsplit("/", 1)[-1]:
                name, tag = name.rsplit(":", 1)
            if name != image["name"]:
                continue
            new = image.get("newName", name)
            if image.get("digest"):
                container["image"] = f"{new}@{image['digest']}"
            else:
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new}:{new_tag}" if new_tag else new


def _rank(obj: dict[str, Any]) -> tuple[int, str, str, str]:
    kind, ns, name = _key(obj)
    if kind in _ORDER_FIRST:
        rank = _ORDER_FIRST.index(kind)
    elif kind in _ORDER_LAST:
        rank = len(_ORDER_FIRST) + 2 + _ORDER_LAST.index(kind)
    else:
        rank = len(_ORDER_FIRST) + 1
    return (rank, kind, ns, name)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_documents(objs: list[dict[str, Any]]) -> str:
    ordered = sorted(objs, key=_rank)
    return "---\n".join(yaml.dump(o, Dumper=_Dumper, sort_keys=False, width=4096) for o in ordered)


def render_all(repo: Path = REPO) -> dict[Path, str]:
    """Every file the renderer owns, path -> text (the ConfigMap's settings copy and each overlay)."""
    k8s = repo / "serving" / "k8s"
    out = {k8s / "base/controller/controller.yaml": (repo / "examples/controller.yaml").read_text()}
    for name in OVERLAYS:
        out[k8s / "rendered" / f"{name}.yaml"] = _HEADER.format(name=name) + dump_documents(
            build(k8s / "overlays" / name)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m serving.k8s.render", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--check", action="store_true", help="exit 1 when a rendered file is stale; write nothing"
    )
    args = ap.parse_args(argv)
    # The settings copy first: the overlays' ConfigMap is generated from it.
    settings_copy = K8S / "base/controller/controller.yaml"
    if not args.check:
        shutil.copyfile(REPO / "examples/controller.yaml", settings_copy)
    stale = []
    for path, text in render_all().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(REPO).as_posix())
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for rel in stale:
        print(("stale: " if args.check else "wrote: ") + rel)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
