# Real servers for the integration tier: kube-apiserver, kube-controller-manager, kube-scheduler, etcd, OPA
# and Helm, built once with the local Go toolchain into $(CACHE_DIR)/testenv/<component>-<version>/ and
# reused (a stamp file marks each finished build, so a second run is instant). KUBEBUILDER_ASSETS=<dir with kube-apiserver and etcd>
# uses those instead. The builder needs only python3 and Go, not the virtualenv. See docs/testing.md.
.PHONY: testenv testenv-clean

testenv:
	$(PYTHON) -m tests.testenv.build

testenv-clean:
	rm -rf $(CACHE_DIR)/testenv

# The integration and e2e tiers of `make test` run these servers.
SERVERS += testenv
