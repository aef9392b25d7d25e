"""The member install bundle: values for the `m4d-agent` Helm chart (deploy/charts/m4d-agent).

The cluster's name, the image, and the hub connection: a kubeconfig whose one context `hub` is the agent's
identity on the hub (it may write only its own reports and heartbeat there). The token in it is why the
bundle is written to a private file or stdout for the cluster admin, and never into the GitOps repository:

    helm install m4d-agent deploy/charts/m4d-agent -n m4d-system --create-namespace -f BUNDLE
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from m4d import __version__
from m4d.api.strict import load_yaml_file
from m4d.errors import FieldError, InvalidError

IMAGE_REPOSITORY = "ghcr.io/m4d/m4d"
DEFAULT_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
HUB_CONTEXT = "hub"


def _inline(entry: dict[str, Any], key: str, base: Path) -> None:
    """Kubeconfig file references (certificate-authority: /path) become inline data: the Secret is all
    the agent gets."""
    if key in entry:
        path = Path(str(entry.pop(key)))
        path = path if path.is_absolute() else base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidError(f"kubeconfig {base}", [FieldError(key, f"{path}: {exc.strerror or exc}")]) from None
        entry[f"{key}-data"] = base64.b64encode(data).decode()


def hub_kubeconfig(path: Path, context: str | None = None) -> dict[str, Any]:
    """One context of a kubeconfig file, as the `hub` context of the agent's kubeconfig."""
    config = load_yaml_file(path, source=f"kubeconfig {path}") or {}
    try:
        name = context or config.get("current-context")
        by_name = {
            section: {e["name"]: e for e in config.get(section) or []} for section in ("contexts", "clusters", "users")
        }
        if name not in by_name["contexts"]:
            raise InvalidError(f"kubeconfig {path}", [FieldError("contexts", f"no context {name!r}")])
        ctx = by_name["contexts"][name]["context"]
        cluster = dict(by_name["clusters"][ctx["cluster"]]["cluster"])
        user = dict(by_name["users"][ctx["user"]]["user"]) if ctx.get("user") else {}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A file that is YAML but not a kubeconfig: say what was missing where it was looked for.
        raise InvalidError(f"kubeconfig {path}", [FieldError("", f"not a usable kubeconfig (missing {exc})")]) from None
    _inline(cluster, "certificate-authority", path.parent)
    _inline(user, "client-certificate", path.parent)
    _inline(user, "client-key", path.parent)
    return {"cluster": cluster, "user": user}


def agent_kubeconfig(hub: dict[str, Any]) -> dict[str, Any]:
    """The agent's kubeconfig: one context, `hub`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": HUB_CONTEXT, "cluster": hub["cluster"]}],
        "users": [{"name": HUB_CONTEXT, "user": hub["user"]}],
        "contexts": [{"name": HUB_CONTEXT, "context": {"cluster": HUB_CONTEXT, "user": HUB_CONTEXT}}],
        "current-context": HUB_CONTEXT,
    }


def token_connection(hub: dict[str, Any], token: str, server: str | None = None) -> dict[str, Any]:
    """The hub's address and CA from an operator's kubeconfig context, with the agent's own token."""
    cluster = dict(hub["cluster"])
    if server:
        cluster["server"] = server
    return {"cluster": cluster, "user": {"token": token}}


def _image(image: str) -> dict[str, str]:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag (a registry port is not one)
        return {"repository": image}
    return {"repository": name, "tag": tag}


def agent_values(cluster: str, hub: dict[str, Any], image: str = DEFAULT_IMAGE) -> bytes:
    """The m4d-agent chart's values for member `cluster` (YAML)."""
    values = {
        "cluster": cluster,
        "image": _image(image),
        "hub": {"kubeconfig": yaml.safe_dump(agent_kubeconfig(hub), sort_keys=False), "context": HUB_CONTEXT},
    }
    header = (
        f"# m4d-agent values for member cluster {cluster} (holds its hub token: keep it private).\n"
        "# helm install m4d-agent deploy/charts/m4d-agent -n m4d-system --create-namespace -f THIS_FILE\n"
    )
    return header.encode() + yaml.safe_dump(values, sort_keys=False).encode()
