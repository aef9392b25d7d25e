"""Validation of an object's `metadata`, with the rules kube-apiserver applies to every object it stores.

The embedded store and the command line run these on raw documents, so metadata a real API server
refuses (a malformed label, an unknown metadata field, an owner reference without a uid) is refused
here too, naming the field as the server does (`metadata.labels`, `metadata.ownerReferences[0].uid`).
The differential test (tests/integration/cluster/test_differential_validation.py) keeps them in step.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from m4d.api.meta import is_dns_label, is_dns_subdomain
from m4d.errors import FieldError

# ObjectMeta's fields; with strict field validation any other key is an error.
_KNOWN = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_STRINGS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion")
_INTEGERS = ("generation", "deletionGracePeriodSeconds")
_TIMES = ("creationTimestamp", "deletionTimestamp")
_OWNER_FIELDS = ("apiVersion", "kind", "name", "uid")

# The name part of a qualified name (label and annotation keys, finalizers) and a label value.
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ANNOTATIONS_MAX_BYTES = 256 * 1024


def _shown(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def qualified_name_problem(key: str) -> str | None:
    """Why `key` is not a qualified name (`[prefix/]name`, prefix a DNS subdomain), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "prefix part must be non-empty"
    if prefix and not is_dns_subdomain(prefix):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _QUALIFIED_NAME.match(name):
        return "name part must consist of alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"
    return None


def _is_time(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_map(meta: dict[str, Any], field: str, errors: list[FieldError]) -> dict[str, str]:
    entries = meta.get(field)
    if entries is None:
        return {}
    path = f"metadata.{field}"
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        errors.append(FieldError(path, "must map strings to strings"))
        return {}
    for key in entries:
        problem = qualified_name_problem(str(key if field == "labels" else str(key).lower()))
        if problem is not None:
            errors.append(FieldError(path, f"key {_shown(key)}: {problem}"))
    return entries


def _check_labels(meta: dict[str, Any], errors: list[FieldError]) -> None:
    for key, value in _check_map(meta, "labels", errors).items():
        if len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(
                FieldError(
                    "metadata.labels",
                    f"value of {_shown(key)} must be at most 63 characters of alphanumerics, '-', '_' or '.', "
                    f"starting and ending alphanumeric (got {_shown(value)})",
                )
            )


def _check_annotations(meta: dict[str, Any], errors: list[FieldError]) -> None:
    entries = _check_map(meta, "annotations", errors)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in entries.items())
    if size > ANNOTATIONS_MAX_BYTES:
        errors.append(FieldError("metadata.annotations", f"must be at most {ANNOTATIONS_MAX_BYTES} bytes in all"))


def _check_finalizers(meta: dict[str, Any], errors: list[FieldError]) -> None:
    finalizers = meta.get("finalizers")
    if finalizers is None:
        return
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        errors.append(FieldError("metadata.finalizers", "must be a list of strings"))
        return
    for value in finalizers:
        problem = qualified_name_problem(value)
        if problem is not None:
            errors.append(FieldError("metadata.finalizers", f"{_shown(value)}: {problem}"))


def _check_owners(meta: dict[str, Any], errors: list[FieldError]) -> None:
    owners = meta.get("ownerReferences")
    if owners is None:
        return
    if not isinstance(owners, list) or not all(isinstance(o, dict) for o in owners):
        errors.append(FieldError("metadata.ownerReferences", "must be a list of objects"))
        return
    for i, owner in enumerate(owners):
        for field in _OWNER_FIELDS:
            if not isinstance(owner.get(field), str) or not owner.get(field):
                errors.append(FieldError(f"metadata.ownerReferences[{i}].{field}", "must not be empty"))
    if sum(1 for o in owners if o.get("controller") is True) > 1:
        errors.append(FieldError("metadata.ownerReferences", "only one reference can have controller set to true"))


def check_metadata(meta: Any, namespaced: bool, errors: list[FieldError]) -> None:
    """Append to `errors` everything the API server would refuse in this `metadata`."""
    if not isinstance(meta, dict):
        errors.append(FieldError("metadata", "required"))
        return
    for key in meta:
        if key not in _KNOWN:
            errors.append(FieldError(f"metadata.{key}", "unknown field"))
    for key in _STRINGS:
        if meta.get(key) is not None and not isinstance(meta[key], str):
            errors.append(FieldError(f"metadata.{key}", f"must be a string (got {_shown(meta[key])})"))
    for key in _INTEGERS:
        value = meta.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append(FieldError(f"metadata.{key}", f"must be an integer (got {_shown(value)})"))
    for key in _TIMES:
        if meta.get(key) is not None and not _is_time(meta[key]):
            errors.append(FieldError(f"metadata.{key}", f"must be an RFC 3339 date-time (got {_shown(meta[key])})"))
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not generate:
        errors.append(FieldError("metadata.name", "required"))
    elif isinstance(name, str) and name and not is_dns_subdomain(name):
        errors.append(FieldError("metadata.name", f"must be a lowercase RFC 1123 subdomain (got {_shown(name)})"))
    # The server appends random characters to generateName, so a trailing '-' is fine.
    prefix = generate[:-1] + "a" if isinstance(generate, str) and generate.endswith("-") else generate
    if isinstance(prefix, str) and prefix and not is_dns_subdomain(prefix):
        errors.append(FieldError("metadata.generateName", f"must start a DNS subdomain (got {_shown(generate)})"))
    namespace = meta.get("namespace")
    if namespaced and isinstance(namespace, str) and namespace and not is_dns_label(namespace):
        errors.append(FieldError("metadata.namespace", f"must be a DNS label (got {_shown(namespace)})"))
    _check_labels(meta, errors)
    _check_annotations(meta, errors)
    _check_finalizers(meta, errors)
    _check_owners(meta, errors)
