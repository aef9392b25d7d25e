"""m4d.generator: Plotters + member clusters → the GitOps repository's generated folders, and the Git writer.

Layered like Argo CD's ApplicationSet generators: parameters (`params`) → manifests (`blueprints`,
`argocd`) → validation (`validate`) → a deterministic tree of files (`tree`) → commits (`writer`).
Everything before the writer is pure: the same inputs give byte-identical files.
"""
