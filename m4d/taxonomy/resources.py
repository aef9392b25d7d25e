"""Taxonomy checks of the resources that refer to it: applications, modules, storage accounts."""

from __future__ import annotations

from m4d.api.application import M4DApplication
from m4d.api.module import M4DModule
from m4d.api.storage import M4DStorageAccount
from m4d.errors import FieldError
from m4d.taxonomy.taxonomy import Taxonomy


def check_application(taxonomy: Taxonomy, app: M4DApplication) -> list[FieldError]:
    """Fields of the whole application; per-asset interface problems are in `check_data_interface`."""
    return taxonomy.check_app_info(app.spec.app_info.wire(), "spec.appInfo")


def check_data_interface(taxonomy: Taxonomy, app: M4DApplication, index: int) -> list[FieldError]:
    interface = app.spec.data[index].requirements.interface
    return taxonomy.check_interface(interface.wire(), f"spec.data[{index}].requirements.interface")


def check_module(taxonomy: Taxonomy, module: M4DModule) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, cap in enumerate(module.spec.capabilities):
        where = f"spec.capabilities[{i}]"
        for j, inout in enumerate(cap.supported_interfaces):
            for side, interface in (("source", inout.source), ("sink", inout.sink)):
                if interface is not None:
                    errors += taxonomy.check_interface(interface.wire(), f"{where}.supportedInterfaces[{j}].{side}")
        if cap.api is not None:
            errors += taxonomy.check_interface(cap.api.wire(), f"{where}.api")
        for k, action in enumerate(cap.actions):
            errors += taxonomy.check_action_name(action.name, f"{where}.actions[{k}].name")
    return errors


def check_storage(taxonomy: Taxonomy, account: M4DStorageAccount) -> list[FieldError]:
    return [
        *taxonomy.check_connection(account.spec.connection.wire(), "spec.connection"),
        *taxonomy.check_format(account.spec.format, "spec.format"),
    ]
