"""What a deleted application leaves in storage accounts: its implicit copies, deleted with it.

Every copy for application `ns/app` is written under the application's own folder of the account
(`<account location>/<ns>/<app>/`, `candidates.copy_target`), so that folder holds its copies and
nothing else: deleting it removes the copies of every asset the application ever had copied there.

The application controller deletes it once no member runs a module of the application any more (a copy
job still writing would write again), as the account allows: `file` accounts with an absolute path and
`s3` accounts are emptied; any other kind, or a relative path (inside a module's working directory, which
the agent removes), is left and said in the log. A store that cannot be reached is tried again later.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence

from pyarrow import fs

from m4d.api.common import DataStore
from m4d.api.storage import M4DStorageAccount
from m4d.controllers.application.candidates import copy_target
from m4d.credentials import CredentialStore, Scrubber
from m4d.errors import M4DError, TemporaryError
from m4d.modules.sources.stores import locate

log = logging.getLogger("m4d.controllers.application")

_PROBE = "asset"  # any asset id: only the folder above its copy is used


def copy_folder(account: M4DStorageAccount, namespace: str, app: str) -> DataStore | None:
    """The account's folder that holds every copy of the application (None: a kind without folders)."""
    target = copy_target(account, namespace, app, _PROBE)
    if target is None or target.connection.kind not in ("file", "s3"):
        return None
    props = dict(target.connection.properties)
    key = "path" if target.connection.kind == "file" else "objectKey"
    props[key] = posixpath.dirname(str(props[key]))
    connection = target.connection.model_copy(update={"properties": props})
    return target.model_copy(update={"connection": connection})


def delete_copies(
    accounts: Sequence[M4DStorageAccount], namespace: str, app: str, credentials: CredentialStore | None
) -> list[str]:
    """Delete the application's folder in every account that allows it; the places emptied. Raises
    TemporaryError when a store could not be reached (nothing is lost by trying again)."""
    done: list[str] = []
    for account in sorted(accounts, key=lambda a: a.key):
        folder = copy_folder(account, namespace, app)
        if folder is None:
            log.info("copies of %s/%s in storage account %s are left: its kind %s has no folders to delete",
                     namespace, app, account.key, account.spec.connection.kind)  # fmt: skip
            continue
        if folder.connection.kind == "file" and not str(folder.connection.properties["path"]).startswith("/"):
            continue  # relative: inside a module's working directory, removed with it
        scrub = Scrubber()
        try:
            where = locate(folder.connection, folder.credential_ref, credentials, scrub)
            if where.filesystem.get_file_info(where.path).type == fs.FileType.NotFound:
                continue
            where.filesystem.delete_dir(where.path)
        except M4DError as exc:  # no credentials for it, a location that is not allowed: say so, go on
            log.warning("copies of %s/%s in storage account %s are left: %s", namespace, app, account.key, exc)
            continue
        except PermissionError as exc:
            log.warning("copies of %s/%s in storage account %s are left: %s", namespace, app, account.key,
                        scrub(str(exc)))  # fmt: skip
            continue
        except OSError as exc:
            raise TemporaryError(
                f"deleting the copies of {namespace}/{app} in storage account {account.key}: {scrub(str(exc))}",
                reason="StorageUnavailable",
            ) from exc
        done.append(where.display)
    return done
