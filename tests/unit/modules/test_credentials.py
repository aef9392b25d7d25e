from pathlib import Path

import pytest

from m4d.credentials import CredentialNotFound, CredentialSource, Scrubber, check_ref, entry, open_store
from m4d.errors import InvalidError, NotFoundError


def test_secrets_file_resolves_and_follows_changes(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("m4d/s3:\n  access_key: a\n  secret_key: s3cr3t-value\n")
    store = open_store(CredentialSource(kind="file", path=str(path)))
    assert store.resolve("m4d/s3") == {"access_key": "a", "secret_key": "s3cr3t-value"}
    path.write_text("m4d/s3:\n  access_key: b\n  secret_key: rotated-value-1\n")
    assert store.resolve("m4d/s3")["secret_key"] == "rotated-value-1"
    with pytest.raises(CredentialNotFound, match="m4d/none"):
        store.resolve("m4d/none")
    assert "rotated" not in repr(store)


def test_errors_never_quote_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("m4d/s3:\n  secret_key: [unclosed very-secret-value\n")
    with pytest.raises(InvalidError) as info:
        open_store(CredentialSource(kind="file", path=str(path))).resolve("m4d/s3")
    assert "very-secret-value" not in str(info.value)
    with pytest.raises(NotFoundError):
        open_store(CredentialSource(kind="file", path=str(tmp_path / "missing.yaml"))).resolve("x")


@pytest.mark.parametrize("ref", ["", "/abs", "a/../b", "a//b", "./a", "a\nb"])
def test_references_are_plain_paths(ref: str) -> None:
    with pytest.raises(InvalidError):
        check_ref(ref)


def test_entry_and_scrubber() -> None:
    assert entry({"key": "k"}, "r", ["key"]) == "k"
    assert entry({"only": "v"}, "r", ["key"]) == "v"
    with pytest.raises(CredentialNotFound, match="no entry named key or secret"):
        entry({"a": "1", "b": "2"}, "r", ["key", "secret"])
    scrub = Scrubber()
    scrub.add(["hunter2-password", "ab"])
    assert scrub("login failed for postgresql://u:hunter2-password@h ab") == "login failed for postgresql://u:***@h ab"


def test_vault_source_needs_an_address_and_a_role_for_kubernetes() -> None:
    with pytest.raises(ValueError, match="address"):
        CredentialSource(kind="vault")
    with pytest.raises(ValueError, match="role"):
        CredentialSource(kind="vault", address="http://v:8200", auth="kubernetes")
