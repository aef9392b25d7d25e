"""Kubernetes-shaped building blocks shared by every kind: metadata, conditions, the resource base."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

API_GROUP = "app.m4d.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

# RFC 1123 subdomain, the rule the API server applies to object names.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def utcnow() -> datetime:
    """Whole seconds, as the API server stores timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Model(BaseModel):
    """Base of every API value: camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(alias=to_camel),
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-compatible form sent to a cluster or written to Git."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Model):
    """The part of Kubernetes ObjectMeta the platform reads and writes; server-managed extras are dropped."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_dns_subdomain(cls, value: str) -> str:
        if value and not is_dns_subdomain(value):
            raise ValueError(
                "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', starting and ending "
                "alphanumeric, at most 253 characters)"
            )
        return value


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Model):
    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


def set_condition(conditions: list[Condition], new: Condition, now: datetime | None = None) -> list[Condition]:
    """Return conditions with `new` in place of the one of its type.

    The transition time only moves when the status changes, so an unchanged reconcile writes identical
    status (and a level-triggered controller does not loop on its own writes).
    """
    out: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            out.append(old)
            continue
        replaced = True
        keep_time = old.status == new.status and old.last_transition_time is not None
        time = old.last_transition_time if keep_time else (new.last_transition_time or now or utcnow())
        out.append(new.model_copy(update={"last_transition_time": time}))
    if not replaced:
        out.append(new.model_copy(update={"last_transition_time": new.last_transition_time or now or utcnow()}))
    return out


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)


class ObjectRef(Model):
    name: str
    namespace: str | None = None


class Resource(Model):
    """Base of every kind. Subclasses set `kind` and declare `spec` and `status`.

    Class-level metadata (plural, scope, printer columns) lives in the kind registry, next to the model.
    """

    KIND: ClassVar[str] = ""
    NAMESPACED: ClassVar[bool] = True

    api_version: str = GROUP_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def model_post_init(self, context: Any, /) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", type(self).KIND)

    @field_validator("kind")
    @classmethod
    def _kind_matches(cls, value: str) -> str:
        if value and cls.KIND and value != cls.KIND:
            raise ValueError(f"must be {cls.KIND}")
        return value

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """namespace/name (or name for cluster-scoped kinds), as kubectl prints it."""
        ns = self.metadata.namespace
        return f"{ns}/{self.metadata.name}" if ns else self.metadata.name

    @classmethod
    def new(cls, name: str, namespace: str | None = None, **fields: Any) -> Self:
        meta = ObjectMeta(name=name, namespace=namespace if cls.NAMESPACED else None)
        return cls(metadata=meta, **fields)
