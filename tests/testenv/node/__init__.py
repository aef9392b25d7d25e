"""A node emulator: the kubelet's part for test clusters on a machine without a container engine.

It registers a Node with an API server, lets the real kube-scheduler bind pods to it, and runs each
bound pod's containers as local processes (an image is a mapping to local files: images.py), each in its
own mount namespace so its volumes appear at their mount paths (ConfigMap, Secret, projected
service-account token, downward API, emptyDir, hostPath) beside the in-cluster environment
(KUBERNETES_SERVICE_HOST/PORT, the token and CA at /var/run/secrets/kubernetes.io/serviceaccount).
It runs readiness, liveness and startup probes (exec, HTTP, TCP), restarts containers by their restart
policy with the kubelet's back-off, writes Pod status as a kubelet does — so the controller manager
computes Deployment, ReplicaSet and Job status exactly as on a real cluster — and on deletion stops the
processes (SIGTERM, then SIGKILL after the grace period) and removes the Pod.

Test infrastructure only: the product never imports it.
"""
