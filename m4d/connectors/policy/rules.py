"""The built-in policy language: rules that match a request and deny, allow, or require an action.

    default: allow                      # or deny: then a request needs a matching `allow: true` rule
    policies:
      - name: redact-pii-for-analytics
        description: Analysts never see personal data
        when: {intents: [Customer Analytics], columnTags: [PII.Sensitive]}
        action: {name: RedactColumn, options: {value: "XXXXX"}}
      - name: eu-data-is-processed-in-the-eu
        when: {flows: [read], assetTags: [Residency.EU]}
        unless: {processingInAssetGeography: true}
        deny: true

A rule applies when every condition of `when` holds and, if `unless` is given, not every condition of
`unless` holds. List conditions hold when the request's value is one of the list (intents and roles
compare case-insensitively); an empty or absent list holds for anything. `columnTags` holds when some
column carries one of the tags, and those columns become the action's columns.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from m4d.api.common import Action
from m4d.api.meta import Model
from m4d.connectors.policy.model import Operation, PolicyRequest


def _fold(values: list[str]) -> set[str]:
    return {v.casefold() for v in values}


class Conditions(Model):
    flows: list[Operation] = Field(default_factory=list)
    intents: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    asset_ids: list[str] = Field(default_factory=list)
    asset_tags: list[str] = Field(default_factory=list)
    column_tags: list[str] = Field(default_factory=list)
    asset_geographies: list[str] = Field(default_factory=list)
    processing_geographies: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    processing_in_asset_geography: bool | None = None
    destination_in_asset_geography: bool | None = None
    properties: dict[str, str] = Field(default_factory=dict, description="App context properties that must equal")

    def holds(self, req: PolicyRequest) -> bool:
        ctx, geo = req.context, req.geography
        checks = (
            not self.flows or req.action in self.flows,
            not self.intents or ctx.intent.casefold() in _fold(self.intents),
            not self.roles or (ctx.role is not None and ctx.role.casefold() in _fold(self.roles)),
            not self.asset_ids or req.asset.id in self.asset_ids,
            not self.asset_tags or bool(set(self.asset_tags) & set(req.asset.tags)),
            not self.column_tags or bool(self.columns(req)),
            not self.asset_geographies or geo in self.asset_geographies,
            not self.processing_geographies or req.processing_geography in self.processing_geographies,
            not self.destinations or req.destination in self.destinations,
            _same_place(self.processing_in_asset_geography, req.processing_geography, geo),
            _same_place(self.destination_in_asset_geography, req.destination, geo),
            all(ctx.properties.get(k) == v for k, v in self.properties.items()),
        )
        return all(checks)

    def columns(self, req: PolicyRequest) -> list[str]:
        wanted = set(self.column_tags)
        return [c.name for c in req.asset.columns if wanted & set(c.tags)]


def _same_place(expected: bool | None, where: str | None, geography: str | None) -> bool:
    if expected is None:
        return True
    if where is None or geography is None:
        return False  # unknown places satisfy neither answer, so a guard written with `unless` stays shut
    return (where == geography) is expected


class RuleAction(Model):
    name: str = Field(min_length=1)
    columns: list[str] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)


class Rule(Model):
    name: str = Field(min_length=1)
    description: str | None = None
    when: Conditions = Field(default_factory=Conditions)
    unless: Conditions | None = None
    deny: bool = False
    allow: bool = False
    action: RuleAction | None = None

    @model_validator(mode="after")
    def _one_effect(self) -> Rule:
        effects = [e for e, on in (("deny", self.deny), ("allow", self.allow), ("action", self.action)) if on]
        if len(effects) != 1:
            got = ", ".join(effects) or "none"
            raise ValueError(f"a policy has exactly one effect: deny: true, allow: true, or action (got {got})")
        return self

    def applies(self, req: PolicyRequest) -> bool:
        if not self.when.holds(req):
            return False
        return self.unless is None or not self.unless.holds(req)

    def action_for(self, req: PolicyRequest) -> Action | None:
        """The action this rule requires for `req`, or None if it names columns the asset does not have."""
        assert self.action is not None
        known = req.asset.column_names()
        explicit = [c for c in self.action.columns if not known or c in known]
        tagged = self.when.columns(req) if self.when.column_tags else []
        columns = [c for c in known if c in set(explicit) | set(tagged)] if known else explicit
        if (self.action.columns or self.when.column_tags) and not columns:
            return None
        return Action(name=self.action.name, columns=columns, options=dict(self.action.options))


class PolicyFile(Model):
    default: str | None = Field(default=None, pattern="^(allow|deny)$")
    policies: list[Rule] = Field(default_factory=list)
