# lbimage: `make image BOARD=kvm` builds an appliance image, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BOARD ?= kvm

# Debian packages, by what needs them. `make deps-host` installs the lot as root (apt-get update
# first) or prints the apt-get line to run.
APT_DAEMONS := haproxy ipvsadm ldirectord heartbeat nftables iproute2 ifupdown openssl
APT_BUILD   := mmdebstrap e2fsprogs dosfstools mtools fdisk gdisk grub-common grub-pc-bin \
               grub-efi-amd64-bin qemu-utils xorriso zstd busybox-static cpio \
               rauc squashfs-tools openssl
APT_FORMATS := bmap-tools libxml2-utils libvirt-clients
APT_BOOT    := qemu-system-x86 ovmf seabios socat
APT_ALL     := $(APT_DAEMONS) $(APT_BUILD) $(APT_FORMATS) $(APT_BOOT)

SOURCES := $(shell find src -type f) build.mjs package.json

.PHONY: build deps-node deps-host deps-build typecheck test test-unit test-update bench image clean

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

deps-host:
	@$(call ensure_apt,$(APT_ALL))

deps-build:
	@$(call ensure_apt,$(APT_BUILD))

typecheck: deps-node
	npx tsc --noEmit

# The quick inner loop: no image build, no qemu boots.
test-unit: build typecheck
	npx vitest run --exclude 'test/e2e/**'

test: deps-host build typecheck
	$(MAKE) image BOARD=kvm
	npx vitest run

# The offline-update boots (issue 12): five TCG boots, about 25 minutes; not yet part of `make test`.
test-update: deps-host build typecheck
	$(MAKE) image BOARD=kvm
	LBIMAGE_E2E_UPDATE=1 npx vitest run test/e2e/update.test.ts

bench: deps-host build
	node test/bench/run.mjs

# Builds out/$(BOARD)/ (rootfs cached in ~/.cache/lbimage, or LBIMAGE_CACHE). Root: mmdebstrap
# runs in root mode and the staging tree keeps the image's owners.
image: deps-build build
	node dist/lbimage.mjs build --board $(BOARD)

clean:
	rm -rf dist out
