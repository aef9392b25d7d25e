from pathlib import Path

import pytest

from m4d.api.common import Connection
from m4d.credentials import Scrubber
from m4d.errors import InvalidError
from m4d.modules.sources.stores import check_path, locate


@pytest.mark.parametrize("path", ["/data/../etc/passwd", "data/./x", "/data/a\x00b", "C:\\data", "/a/.."])
def test_paths_that_could_leave_the_asset_are_refused(path: str) -> None:
    with pytest.raises(InvalidError):
        check_path(path, absolute=False)


def test_relative_file_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    location = locate(Connection(kind="file", properties={"path": "data/x.parquet"}), None, None, Scrubber())
    assert location.path == f"{tmp_path}/data/x.parquet"
    assert location.display == f"file://{tmp_path}/data/x.parquet"


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"bucket": "b/c", "objectKey": "k"}, "not a bucket name"),
        ({"bucket": "b", "objectKey": "../k"}, "'..' segments"),
        ({"objectKey": "k"}, "bucket: is required"),
    ],
)
def test_s3_connections_are_checked(properties: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        locate(Connection(kind="s3", properties=properties), None, None, Scrubber())


def test_s3_without_a_credential_store_names_the_problem() -> None:
    with pytest.raises(InvalidError, match="no credential store"):
        locate(Connection(kind="s3", properties={"bucket": "b"}), "m4d/s3", None, Scrubber())


def test_unknown_connection_kinds_are_refused() -> None:
    with pytest.raises(InvalidError, match="not a file store"):
        locate(Connection(kind="ftp", properties={}), None, None, Scrubber())
