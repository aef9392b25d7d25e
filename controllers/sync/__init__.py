"""The embedded default's stand-in for Argo CD: apply each cluster folder of the GitOps repository to its member."""
