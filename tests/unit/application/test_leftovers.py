"""A deleted application's copies: its folder in each storage account, deleted as the account allows."""

from __future__ import annotations

from pathlib import Path

from m4d.api.common import Connection
from m4d.api.storage import M4DStorageAccount, M4DStorageAccountSpec
from m4d.controllers.application.candidates import copy_target
from m4d.controllers.application.leftovers import copy_folder, delete_copies


def account(name: str, kind: str, **props: str) -> M4DStorageAccount:
    spec = M4DStorageAccountSpec(geography="eu", connection=Connection(kind=kind, properties=props))
    return M4DStorageAccount.new(name, "m4d-system", spec=spec)


def test_the_folder_holds_every_copy_of_the_application_and_nothing_else(tmp_path: Path) -> None:
    files = account("files", "file", path=str(tmp_path / "storage"))
    folder = copy_folder(files, "default", "nb")
    assert folder is not None and folder.connection.properties["path"] == f"{tmp_path}/storage/default/nb"
    copy = copy_target(files, "default", "nb", "finance/transactions")
    assert copy is not None and str(copy.connection.properties["path"]).startswith(f"{tmp_path}/storage/default/nb/")
    bucket = account("bucket", "s3", bucket="b", objectKey="copies")
    s3 = copy_folder(bucket, "default", "nb")
    assert s3 is not None and s3.connection.properties["objectKey"] == "copies/default/nb"
    assert copy_folder(account("db", "postgres", table="t"), "default", "nb") is None


def test_only_the_deleted_applications_copies_go(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    for app in ("nb", "other"):
        part = storage / "default" / app / "finance-transactions.parquet" / "part-0.parquet"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"PAR1")
    accounts = [account("files", "file", path=str(storage)), account("db", "postgres", table="t")]
    assert delete_copies(accounts, "default", "nb", None) == [f"file://{storage}/default/nb"]
    assert not (storage / "default" / "nb").exists()
    assert (storage / "default" / "other" / "finance-transactions.parquet" / "part-0.parquet").exists()
    assert delete_copies(accounts, "default", "nb", None) == []  # nothing there: nothing to do
