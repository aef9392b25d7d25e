"""The Git client layer: the only place that imports GitPython (`git`).

`Remote` says where a repository is and how to authenticate (credentials come from the environment,
never from a URL written anywhere). `Mirror` is a local bare repository that fetches from and pushes
to the remote and builds commits without a work tree. Errors are those of `m4d.errors`:
TemporaryError for an unreachable remote or one that could not store a push (a full disk),
PermanentError for a bad URL, refused credentials or a push its policy refuses (PushDenied),
`PushRejected` (a ConflictError) when the branch moved.
"""

from m4d.git.errors import PushRejected
from m4d.git.mirror import Mirror, init_bare
from m4d.git.objects import blob_sha
from m4d.git.remote import Remote

__all__ = ["Mirror", "PushRejected", "Remote", "blob_sha", "init_bare"]
