# The Argo CD tier runs real Argo CD v3.6.1 (built with the other test servers by `make testenv`) and needs
# Redis, from Debian's package. The tests start their own redis-server on a free loopback port; the
# package's own service is kept from starting (policy-rc.d), so nothing listens after the install.
.PHONY: argocd-testenv argocd-redis

argocd-testenv: argocd-redis

argocd-redis:
	@if command -v redis-server >/dev/null; then echo "[argocd] Redis present"; else \
	  own_policy=; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	    chmod 755 /usr/sbin/policy-rc.d; own_policy=1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server; \
	  status=$$?; [ -z "$$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit $$status; fi

SERVERS += argocd-testenv
