"""Git hosts: pull requests on the server that holds the GitOps repository (Gitea/Forgejo first).

`GitHost` is the small interface the review writer needs: find, open, update, comment on and close the
pull request of a branch. Each provider is one module that speaks its REST API through httpx and
translates every failure into the project's error tree (`m4d.git.host.errors`); `open_host` builds the
configured one. Tokens come from a reference (`env:NAME` or `file:PATH`), never from the configuration
itself, and appear in no message.
"""

from m4d.git.host.config import HostSettings, open_host, resolve_token
from m4d.git.host.interface import GitHost, PullRequest, PullRequestDraft, PullState

__all__ = ["GitHost", "HostSettings", "PullRequest", "PullRequestDraft", "PullState", "open_host", "resolve_token"]
