"""The built-in policy engine: YAML rules (see `rules.py`) read from a directory, the embedded default.

Files are read again whenever one changes. If any file is unusable the engine decides nothing (an error
naming the file and field) rather than decide on part of the policies.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from m4d.api.strict import load_yaml_file
from m4d.connectors.catalog.model import pydantic_errors
from m4d.connectors.policy.interface import PolicyManager
from m4d.connectors.policy.model import DecidedAction, PolicyDecision, PolicyRequest
from m4d.connectors.policy.rules import PolicyFile, Rule
from m4d.errors import FieldError, InvalidError, PermanentError
from m4d.taxonomy import Taxonomy, default_taxonomy

Default = Literal["allow", "deny"]
DEFAULT_DENY_POLICY = "default-deny"


@dataclass
class _Loaded:
    stamp: tuple[tuple[str, int, int], ...] = ()
    rules: list[tuple[Rule, str]] = field(default_factory=list)  # (rule, file it came from)
    default: Default = "allow"
    error: InvalidError | None = None


class BuiltinPolicyEngine(PolicyManager):
    """`default` overrides the files' `default:`; without either, what no rule denies is allowed."""

    def __init__(self, directory: str | Path, default: Default | None = None, taxonomy: Taxonomy | None = None) -> None:
        self.directory = Path(directory)
        self.default = default
        self.taxonomy = taxonomy or default_taxonomy()
        self.name = f"policy manager builtin:{self.directory}"
        self.revision_is_complete = True
        self._loaded = _Loaded()
        self._lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------------

    def _stamp(self) -> tuple[list[Path], tuple[tuple[str, int, int], ...]]:
        if not self.directory.is_dir():
            raise PermanentError(f"{self.name}: directory {self.directory} does not exist", reason="PoliciesMissing")
        files = sorted({p for pattern in ("*.yaml", "*.yml") for p in self.directory.glob(pattern)})
        return files, tuple((str(p), (s := p.stat()).st_mtime_ns, s.st_size) for p in files)

    def revision(self) -> str | None:
        """The policy files' names, sizes and modification times (so a broken file's repair shows too)."""
        return hashlib.sha256(repr(self._stamp()[1]).encode()).hexdigest()[:16]

    def _current(self) -> _Loaded:
        files, stamp = self._stamp()
        with self._lock:
            if stamp != self._loaded.stamp:
                self._loaded = self._load(files, stamp)
            loaded = self._loaded
        if loaded.error is not None:
            raise loaded.error
        return loaded

    def _load(self, files: list[Path], stamp: tuple[tuple[str, int, int], ...]) -> _Loaded:
        loaded = _Loaded(stamp=stamp)
        errors: list[FieldError] = []
        defaults: dict[str, str] = {}
        names: dict[str, str] = {}
        for path in files:
            try:
                doc = PolicyFile.model_validate(load_yaml_file(path) or {})
            except InvalidError as exc:  # not UTF-8, not YAML, too large
                errors += [FieldError(str(path), e.message) for e in exc.errors]
                continue
            except ValidationError as exc:
                errors += [FieldError(f"{path}: {e.path}", e.message) for e in pydantic_errors(exc)]
                continue
            if doc.default is not None:
                defaults[str(path)] = doc.default
            for i, rule in enumerate(doc.policies):
                where = f"{path}: policies[{i}]"
                if rule.name in names:
                    also = f"policy {rule.name!r} is also defined in {names[rule.name]}"
                    errors.append(FieldError(f"{where}.name", also))
                names[rule.name] = str(path)
                if rule.action is not None:
                    sample = {**rule.action.wire(), "columns": rule.action.columns or ["column"]}
                    errors += self.taxonomy.check_action(sample, f"{where}.action")
                loaded.rules.append((rule, str(path)))
        if len(set(defaults.values())) > 1:
            said = ", ".join(f"{p} says {d}" for p, d in sorted(defaults.items()))
            errors.append(FieldError("default", f"policy files disagree on the default: {said}"))
        if errors:
            loaded.error = InvalidError(f"policies in {self.directory}", errors)
        loaded.default = self.default or ("deny" if "deny" in defaults.values() else "allow")
        return loaded

    # -- deciding -------------------------------------------------------------------------------

    def decide(self, request: PolicyRequest) -> PolicyDecision:
        loaded = self._current()
        applying = [rule for rule, _ in loaded.rules if rule.applies(request)]
        denies = [r for r in applying if r.deny]
        if denies:
            reasons = "; ".join(r.description for r in denies if r.description) or None
            return PolicyDecision(denied=True, deny_policies=[r.name for r in denies], message=reasons)
        if loaded.default == "deny" and not any(r.allow for r in applying):
            return PolicyDecision(
                denied=True,
                deny_policies=[DEFAULT_DENY_POLICY],
                message=f"no policy allows {request.describe()}, and the policies deny by default",
            )
        actions: list[DecidedAction] = []
        for rule in applying:
            if rule.action is None:
                continue
            action = rule.action_for(request)
            if action is not None:
                actions.append(DecidedAction(action=action, policy=rule.name))
        return PolicyDecision(actions=actions)

    def policy_names(self) -> list[str]:
        return [rule.name for rule, _ in self._current().rules]
