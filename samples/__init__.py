"""Sample catalog, policies, applications and data generator: package data of `m4d.samples`.

The demo and the docs' examples use them; `importlib.resources.files("m4d.samples")` finds them in a
checkout and in an installed wheel alike.
"""
