"""Credential stores: Vault (hvac) at scale, a local secrets file in the embedded default."""

from m4d.credentials.interface import CredentialNotFound, CredentialStore, Scrubber, check_ref, entry
from m4d.credentials.source import CredentialSource, open_store

__all__ = ["CredentialNotFound", "CredentialSource", "CredentialStore", "Scrubber", "check_ref", "entry", "open_store"]
