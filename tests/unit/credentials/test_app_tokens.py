"""Editing the local secrets file: the file stays what a full YAML dump would write, and an edit made by
anyone else between two of ours is read, not overwritten."""

from __future__ import annotations

from pathlib import Path

import yaml

from m4d.credentials.app_tokens import edit_tokens_in_file, token_ref
from m4d.credentials.local import SecretsFile

OTHER = {"s3/creds": {"access_key": "a", "secret_key": "b", "nested": {"list": [1, 2]}}, "plain": "value"}


def test_repeated_edits_write_what_a_full_dump_writes(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump(OTHER))
    for batch in range(5):
        edit_tokens_in_file(path, mint=[(f"ns{i % 3}", f"app-{batch}-{i}") for i in range(20)])
    assert edit_tokens_in_file(path, forget=[("ns0", "app-0-0"), ("ns1", "app-2-1")])
    text = path.read_text()
    data = yaml.safe_load(text)
    assert text == yaml.safe_dump(data, sort_keys=True)
    assert {k: data[k] for k in OTHER} == OTHER
    assert token_ref("ns0", "app-0-0") not in data and token_ref("ns1", "app-2-1") not in data
    assert len([k for k in data if k.startswith("m4d/applications/")]) == 98
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_change_made_by_someone_else_between_edits_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    edit_tokens_in_file(path, mint=[("ns", "a")])
    token = yaml.safe_load(path.read_text())[token_ref("ns", "a")]["token"]
    edited = yaml.safe_load(path.read_text())
    edited["vault/creds"] = {"token": "by hand"}
    edited[token_ref("ns", "a")]["token"] = "rotated by hand"
    path.write_text(yaml.safe_dump(edited))
    edit_tokens_in_file(path, mint=[("ns", "b")])
    data = yaml.safe_load(path.read_text())
    assert data["vault/creds"] == {"token": "by hand"}
    assert data[token_ref("ns", "a")]["token"] == "rotated by hand" != token
    assert data[token_ref("ns", "b")]["token"]


def test_an_edit_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    assert edit_tokens_in_file(path, mint=[("ns", "a")])
    before = path.stat().st_mtime_ns, path.read_text()
    assert not edit_tokens_in_file(path, mint=[("ns", "a")], forget=[("ns", "never")])
    assert (path.stat().st_mtime_ns, path.read_text()) == before
    assert SecretsFile(path).resolve(token_ref("ns", "a"))["token"]
