# lbimage: `make image BOARD=kvm` builds an appliance image, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BOARD ?= kvm

# Debian packages. What an image build calls on the host is not listed here: `lbimage deps`
# derives it from the board's build plan and the one tool -> package table (HOST_PACKAGES in
# src/run.ts). These are what the tests need besides: the daemons' own checkers, and qemu to boot.
# `make deps-host` installs the lot as root (apt-get update first) or prints the line to run.
# openssh-server: `sshd -t`, the SSH module's checker (policy-rc.d decides whether it starts a host sshd).
APT_DAEMONS := haproxy ipvsadm ldirectord heartbeat nftables iproute2 ifupdown openssl openssh-server
# python3: the lab's user-space IP-in-IP decapsulation for TUN real servers (no ipip module needed).
APT_BOOT    := qemu-system-x86 ovmf seabios socat python3

SOURCES := $(shell find src -type f) build.mjs package.json

.PHONY: build deps-node deps-host deps-image typecheck test test-unit test-update test-ha bench image repro clean clean-cache

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps-node: node_modules/.package-lock.json

dist/lbimage.mjs: node_modules/.package-lock.json $(SOURCES)
	node build.mjs

build: dist/lbimage.mjs

# Installs missing Debian packages (root), or says exactly what to run (not root).
define ensure_apt
missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
  else \
    echo "missing Debian packages; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing" >&2; \
    exit 1; \
  fi; \
fi
endef

# Every board's build tools, and the tests' packages.
deps-host: build
	@pkgs="$$(node dist/lbimage.mjs deps --all) $(APT_DAEMONS) $(APT_BOOT)"; $(call ensure_apt,$$pkgs)

# What BOARD's build calls (its plan's host tools), before the build's first step.
deps-image: build
	@pkgs="$$(node dist/lbimage.mjs deps --board $(BOARD))"; $(call ensure_apt,$$pkgs)

typecheck: deps-node
	npx tsc --noEmit

# The quick inner loop: no image build, no qemu boots.
test-unit: build typecheck
	npx vitest run --exclude 'test/e2e/**'

# The unit suites one file at a time, then the e2e files two at a time: each boot is one TCG vCPU,
# so two of them fill this two-core machine and halve the two hours the boots took one after
# another. Side by side each boot gets less of the machine, so their waits get twice the time
# (LBIMAGE_TEST_TIMEOUT_FACTOR, unless set) and their cleanup hooks (a VM stopped, a rootfs tree
# removed) two minutes: beside another suite a rootfs removal ran past vitest's 10 s.
test: deps-host build typecheck
	$(MAKE) image BOARD=kvm
	npx vitest run --exclude 'test/e2e/**'
	LBIMAGE_TEST_TIMEOUT_FACTOR=$${LBIMAGE_TEST_TIMEOUT_FACTOR:-2} npx vitest run test/e2e --fileParallelism --maxWorkers=2 --hookTimeout=120000

# The offline-update boots alone (issue 12; part of make test): five TCG boots, 10 to 22 minutes.
test-update: deps-host build typecheck
	$(MAKE) image BOARD=kvm
	npx vitest run test/e2e/update.test.ts

# The HA pair e2e alone (two units, failover, lbpair; part of make test): 18 to 28 minutes.
test-ha: deps-host build typecheck
	$(MAKE) image BOARD=kvm
	npx vitest run test/e2e/ha.test.ts

# The benches that boot or read the kvm image (failover, formats, traffic, update, ...) need it built.
bench: deps-host build
	$(MAKE) image BOARD=kvm
	node test/bench/run.mjs

# Builds out/$(BOARD)/ (rootfs cached in ~/.cache/lbimage, or LBIMAGE_CACHE), as root or as an
# ordinary user: not root, the build runs itself in a user namespace where it is root (README,
# "Rootless builds"; it needs uidmap and a range in /etc/subuid and /etc/subgid, and says so).
# `lbimage plan --board X` shows what it will do.
image: deps-image
	node dist/lbimage.mjs build --board $(BOARD)

# Issue 14: builds out/$(BOARD)/ (with the cache), then the same from an empty cache into
# out/$(BOARD).repro/, and compares every file, inside the images down to the first differing
# file of a root slot (debugfs) or ESP (mtools). A cold mmdebstrap run: minutes.
repro: deps-image
	node dist/lbimage.mjs repro --board $(BOARD)

clean:
	rm -rf dist out

# The build cache as well: a rootless build's holds files of your subordinate ids, which rm cannot remove.
clean-cache: build
	node dist/lbimage.mjs clean-cache
