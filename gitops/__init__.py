"""Writing to the GitOps repository: the I/O half of the generator.

`m4d.generator` renders Plotters and member clusters into files, byte for byte deterministic and without
I/O; this layer commits what it renders (`writer`: one commit or none per `Change`, direct or through a
pull request on a Git host) and reads where and how to write (`settings`: flags, environment, hub.yaml).
"""
