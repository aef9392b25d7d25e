"""Real servers for the integration tier: build (``build.py``), locate (``locate.py``) and run
(``servers.py``) kube-apiserver, kube-controller-manager, etcd and OPA. Standard library only, so
``make testenv`` works before the virtualenv exists."""
