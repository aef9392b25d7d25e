"""The demo's world: data, catalog, policies, secrets and platform resources in a fresh hub directory.

Everything comes from the samples shipped with the package (`samples/`: catalog, policies, applications,
the data generator) and the module descriptors (`modules/descriptors/`); paths are rewritten so the data
lives inside the hub directory, and the one asset the samples keep on S3 is served from a local CSV file
instead (the demo needs no servers).
"""

from __future__ import annotations

import csv
import importlib.util
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from m4d.errors import PermanentError
from m4d.modules.descriptors import DIRECTORY as DESCRIPTORS
from m4d.packaged import SAMPLES, data_dir

MARKER = ".m4d-demo"

# Two members in different regions: the marketing sample processes in eu-fr data stored in eu-de,
# which the sample policies only allow through a copy into eu-fr storage.
CLUSTERS = (("eu-de-1", "eu-de"), ("eu-fr-1", "eu-fr"))
STORAGE = ("eu-fr-store", "eu-fr")


@dataclass(frozen=True)
class DemoPaths:
    hub: Path
    samples: Path
    descriptors: Path

    @property
    def data(self) -> Path:
        return self.hub / "data"

    @property
    def resources(self) -> Path:
        return self.hub / "demo-resources.yaml"

    @property
    def applications(self) -> Path:
        return self.samples / "applications"


def locate(hub: Path) -> DemoPaths:
    """The hub directory, and the samples and descriptors installed with the package."""
    return DemoPaths(hub.resolve(), data_dir(SAMPLES), DESCRIPTORS)


def reset(hub: Path) -> None:
    """Start from an empty hub directory; refuse to wipe one the demo did not create."""
    if hub.exists() and any(hub.iterdir()):
        if not (hub / MARKER).exists():
            raise PermanentError(
                f"{hub} is not empty and was not made by the demo; choose another --hub or remove it yourself"
            )
        shutil.rmtree(hub)
    hub.mkdir(parents=True, exist_ok=True)
    (hub / MARKER).write_text("made by `m4d demo`; `m4d demo` and `m4d down` may remove this directory\n")


def _generator(samples: Path) -> Any:
    spec = importlib.util.spec_from_file_location("m4d_sample_data", samples / "data" / "generate.py")
    if spec is None or spec.loader is None:
        raise PermanentError(f"cannot load {samples / 'data' / 'generate.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_data(paths: DemoPaths, rows: int) -> dict[str, Path]:
    paths.data.mkdir(parents=True, exist_ok=True)
    transactions = paths.data / "transactions.parquet"
    pq.write_table(_generator(paths.samples).transactions(rows), transactions, row_group_size=max(rows // 4, 1))
    campaigns = paths.data / "campaigns.csv"
    with campaigns.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["campaign", "contact_email", "country", "budget"])
        for i in range(20):
            writer.writerow([f"spring-{i:02d}", f"lead{i}@example.org", ["DE", "FR", "US"][i % 3], 1000 + 250 * i])
    return {"finance/transactions": transactions, "marketing/campaigns": campaigns}


def write_catalog(paths: DemoPaths, files: dict[str, Path]) -> None:
    catalog = yaml.safe_load((paths.samples / "catalog" / "assets.yaml").read_text())
    for asset in catalog["assets"]:
        path = files.get(asset["id"])
        if path is not None:
            asset["connection"] = {"kind": "file", "properties": {"path": str(path)}}
            asset["format"] = path.suffix.lstrip(".")
    (paths.hub / "catalog").mkdir(exist_ok=True)
    (paths.hub / "catalog" / "assets.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    shutil.copytree(paths.samples / "policies", paths.hub / "policies", ignore=shutil.ignore_patterns("opa"))


def write_secrets(paths: DemoPaths) -> None:
    """The key the hashing policy names, and the (empty) credentials of local-file assets."""
    policies = yaml.safe_load((paths.hub / "policies" / "policies.yaml").read_text())
    data: dict[str, dict[str, str]] = {}
    for policy in policies.get("policies", []):
        ref = (policy.get("action") or {}).get("options", {}).get("keyRef")
        if ref:
            data[ref] = {"key": secrets.token_hex(32)}
    secrets_file = paths.hub / "secrets.yaml"
    secrets_file.write_text(yaml.safe_dump(data, sort_keys=True))
    secrets_file.chmod(0o600)


def write_resources(paths: DemoPaths) -> Path:
    """The storage account copies may go to (inside the hub directory)."""
    name, geography = STORAGE
    docs = [
        {
            "apiVersion": "app.m4d.dev/v1alpha1",
            "kind": "M4DStorageAccount",
            "metadata": {"name": name, "namespace": "m4d-system"},
            "spec": {
                "geography": geography,
                "connection": {"kind": "file", "properties": {"path": str(paths.hub / "storage" / geography)}},
            },
        }
    ]
    paths.resources.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return paths.resources


def prepare(hub: Path, rows: int) -> DemoPaths:
    paths = locate(hub)
    reset(paths.hub)
    files = write_data(paths, rows)
    write_catalog(paths, files)
    write_secrets(paths)
    write_resources(paths)
    return paths
