"""Module instances as Kubernetes objects (pure functions).

The same objects on a real member API server: tests/integration/agent/test_workloads.py.
"""

from __future__ import annotations

import pytest

from m4d.api import Blueprint
from m4d.api.blueprint import BlueprintModule, BlueprintSpec, ModuleAsset
from m4d.api.common import Connection, DataStore
from m4d.api.plotter import AppRef
from m4d.controllers.agent.workloads import (
    ANNOTATION_CONFIG,
    LABEL_BLUEPRINT,
    LABEL_INSTANCE,
    object_name,
    render,
)
from m4d.errors import PermanentError
from m4d.modules.descriptors import load_descriptors

DESCRIPTORS = {m.name: m for m in load_descriptors()}
CONFIG = "name: read\nlisten: {host: 127.0.0.1, port: 0}\n"


def instance(module: str, name: str = "read") -> BlueprintModule:
    store = DataStore(connection=Connection(kind="file", properties={"path": "/data/tx.parquet"}), format="parquet")
    capability = "copy" if module == "implicit-copy" else "read"
    return BlueprintModule(
        name=name,
        module=module,
        deployment=DESCRIPTORS[module].spec.deployment.model_copy(deep=True),
        assets=[ModuleAsset(asset_id="finance/tx", capability=capability, source=store, sink=store)],
    )


def blueprint(*modules: BlueprintModule) -> Blueprint:
    bp = Blueprint.new(
        "default-nb-1234abcd",
        "m4d-blueprints",
        spec=BlueprintSpec(
            cluster="m1",
            application=AppRef(name="nb", namespace="default"),
            plotter="default/nb",
            modules=list(modules),
        ),
    )
    bp.metadata.uid = "4f1c0e4e-0000-4000-8000-000000000001"
    return bp


def test_a_service_module_is_a_deployment_a_service_and_its_configmap() -> None:
    module = instance("arrow-flight")
    out = render(blueprint(module), module, CONFIG, "fybrik-arrow-flight")
    name = "default-nb-1234abcd-read"
    assert [(o["kind"], o["metadata"]["name"]) for o in out.objects] == [
        ("ConfigMap", f"{name}-config"),
        ("Deployment", name),
        ("Service", name),
    ]
    for obj in out.objects:
        assert obj["metadata"]["namespace"] == "m4d-blueprints"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "4f1c0e4e-0000-4000-8000-000000000001"
        assert obj["metadata"]["labels"][LABEL_BLUEPRINT] == "default-nb-1234abcd"
    assert out.config_map["data"] == {"module.yaml": CONFIG}
    spec = out.workload["spec"]
    assert spec["selector"]["matchLabels"] == {LABEL_BLUEPRINT: "default-nb-1234abcd", LABEL_INSTANCE: "read"}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["template"]["spec"]["volumes"] == [{"name": "config", "configMap": {"name": f"{name}-config"}}]
    assert out.service is not None and out.service["spec"]["ports"][0]["port"] == 8080
    # A new configuration changes the pod template, so a real cluster rolls the Deployment.
    again = render(blueprint(module), module, CONFIG + "# changed\n", "fybrik-arrow-flight")
    annotations = again.workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations[ANNOTATION_CONFIG] != spec["template"]["metadata"]["annotations"][ANNOTATION_CONFIG]
    assert module.deployment.manifest == DESCRIPTORS["arrow-flight"].spec.deployment.manifest  # template untouched


def test_a_job_module_without_a_template_runs_its_image_and_command() -> None:
    module = instance("implicit-copy", "copy")
    out = render(blueprint(module), module, CONFIG, "")
    job = out.workload
    assert (job["apiVersion"], job["kind"], out.service) == ("batch/v1", "Job", None)
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["image"] == DESCRIPTORS["implicit-copy"].spec.deployment.image
    assert container["args"] == [
        "m4d", "module", "copy", "--config", "/etc/m4d/module.yaml",
        "--status-file", "/var/run/m4d/module.yaml.status.json", "--no-progress",
    ]  # fmt: skip
    assert job["spec"]["backoffLimit"] == 2  # a failing copy is reported after two retries, not six


def test_templates_that_cannot_serve_are_refused() -> None:
    module = instance("arrow-flight")
    assert module.deployment.manifest is not None
    module.deployment.manifest["kind"] = "StatefulSet"
    with pytest.raises(PermanentError, match="needs apps/v1/Deployment"):
        render(blueprint(module), module, CONFIG, "")
    bare = instance("arrow-flight")
    bare.deployment.manifest = None
    bare.deployment.image = None
    with pytest.raises(PermanentError, match=r"neither a deployment\.manifest nor an image"):
        render(blueprint(bare), bare, CONFIG, "")


def test_object_names_are_dns_labels() -> None:
    assert object_name("default-nb", "read") == "default-nb-read"
    assert object_name("1-nb", "read") == "m-1-nb-read"  # a Service name starts with a letter
    long = object_name("a" * 60, "read")
    assert len(long) <= 56 and long != object_name("a" * 59, "read")
