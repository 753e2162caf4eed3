# hoist: build, install, demo, test, conformance, bench.
#
# `make demo` and `make test` work on a fresh Debian 12 machine, as root.
# Variables (override on the command line, e.g. `make demo RUNTIME=/usr/sbin/runc`):
#   CARGO    cargo to use
#   RUNTIME  the OCI runtime `demo` and `bench` drive (default: the release hoist-runtime;
#            any other value is used as it is: the demo's pods get it as --stage1, and
#            benches/run.sh times it; the release hoist and hoist-runtime are built anyway,
#            as the demo and benches/pods.sh run hoist)
#   PEERS    the runtimes `bench` compares against (default: runc crun)
#   WARMUP, RUNS   hyperfine's counts for `bench` (default 3 and 30; see benches/run.sh)
#   PODS     how many pods at once `bench` starts (default 100; see benches/pods.sh)
#   PREFIX, DESTDIR, BINDIR   where `install` puts hoist and hoist-runtime
# The tests take HOIST_RUNTIME (runtime under test, default target/debug/hoist-runtime),
# HOIST_BUSYBOX (default target/images/busybox) and HOIST_RUNTIMETEST from the environment.

CARGO   ?= cargo
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DESTDIR ?=
PEERS   ?= runc crun

RELEASE_RUNTIME := target/release/hoist-runtime
RUNTIME ?= $(RELEASE_RUNTIME)

IMAGE     := target/images/busybox
BUSYBOX   := /bin/busybox
IMAGE_SRC := images/busybox/build.sh images/busybox/config.json
# A small HTTP server image on top of the busybox one (busybox httpd serving /www).
HTTPD     := target/images/httpd

# Debian packages the build, the tests, the demo and the benchmarks need (gcc and
# libc6-dev link Rust binaries, libc.a included for the static runtimetest; the Rust
# toolchain itself comes from rustup, as Debian 12's is older than rust-version).
APT_PACKAGES := gcc libc6-dev pkg-config ca-certificates busybox-static runc crun \
                containerd podman conmon hyperfine jq iproute2 util-linux procps file time \
                skopeo umoci docker-registry containernetworking-plugins \
                iptables gnupg openssl apache2-utils

# Steps share target/ and the cargo lock, and the machines have 2 cores: run one at a time.
.NOTPARALLEL:

.PHONY: all deps fmt clippy build release runtimetest image demo test conformance \
        bench fuzz install clean

all: build

# apt-get runs only when a package is missing ("ii" is installed; a removed package whose
# config files remain is known to dpkg but not installed), so a repeated make stays fast.
deps:
	@missing=; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null | grep -q '^ii' || \
			missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y --no-install-recommends $$missing; \
	fi
	@if ! $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "deps: installing cargo-nextest"; \
		$(CARGO) install --locked cargo-nextest; \
	fi

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The debug build is what the tests drive (tests/common: target/<profile>/hoist-runtime
# beside the test binary, unless HOIST_RUNTIME says otherwise).
build:
	$(CARGO) build --workspace

# The release binaries: demo, bench and install use them. Both are linked statically
# (static-pie): every container life cycle starts hoist-runtime at least twice, every
# pod starts hoist and hoist-runtime, and the dynamic loader's work was a large part of
# each start (hoist: ~1.8 ms a pod). glibc 2.36's static NSS serves `files` and `dns`
# itself, which is what hoist asks of it (registry host names, a missing $HOME).
# (`cargo rustc` gives the flag to the binary only; build scripts stay dynamic.)
release:
	$(CARGO) rustc --release -p hoist --bin hoist -- -C target-feature=+crt-static
	$(CARGO) rustc --release -p hoist-runtime --bin hoist-runtime -- -C target-feature=+crt-static

# The in-container checker, linked statically so that it runs in any rootfs.
# (`cargo rustc` gives the flag to this crate only; build scripts stay dynamic.)
runtimetest:
	$(CARGO) rustc --release -p runtimetest --bin runtimetest -- -C target-feature=+crt-static
	@file -L target/release/runtimetest | grep -Eq 'statically linked|static-pie linked' || \
		{ echo "runtimetest: target/release/runtimetest is not static" >&2; exit 1; }

image: deps $(IMAGE)/oci.tar $(HTTPD)/oci.tar

$(IMAGE)/oci.tar: $(IMAGE_SRC) $(BUSYBOX)
	images/busybox/build.sh $(IMAGE)

$(HTTPD)/oci.tar: images/httpd/build.sh $(IMAGE)/oci.tar
	images/httpd/build.sh $(HTTPD) $(IMAGE)

# The engine first, then the stage1 alone. The engine part puts the bundled images into a
# store of its own (target/demo, kept; no registry), runs one pod in the foreground on the
# default stage1 (the hoist-runtime beside hoist; RUNTIME=PATH makes it `--stage1 PATH`),
# then a detached two-app pod whose client app fetches the page of its httpd app over
# localhost; every pod it makes is removed again, also when a step fails.
DEMO_DIR := target/demo
HOIST    := target/release/hoist
ifeq ($(RUNTIME),$(RELEASE_RUNTIME))
DEMO_RUN := run --net none
else
DEMO_RUN := run --stage1 $(RUNTIME) --net none
endif
DEMO_CLIENT := until wget -qO- http://127.0.0.1/ 2>/dev/null; do sleep 0.1; done
# The stage1 alone runs one container from the busybox image, from a copy of the bundle,
# with a private state root, and removes all of it afterwards.
DEMO_ARGS := ["sh", "-c", "echo hello from inside hoist; hostname; id"]
demo: deps release image
	@set -eu; \
	hoist() { $(HOIST) --dir $(DEMO_DIR) "$$@"; }; \
	show() { echo "+ hoist --dir $(DEMO_DIR) $$*"; }; \
	cleanup() { \
		hoist stop --force demo-web >/dev/null 2>&1 || true; \
		hoist rm demo-web >/dev/null 2>&1 || true; \
		hoist gc --grace-period 0s >/dev/null 2>&1 || true; \
	}; \
	trap cleanup EXIT; \
	cleanup; \
	echo "== hoist: images into a store, pods on the default stage1 =="; \
	show "fetch --name busybox oci:$(IMAGE)/oci"; \
	hoist fetch --name busybox oci:$(IMAGE)/oci; \
	show "fetch --name httpd oci:$(HTTPD)/oci"; \
	hoist fetch --name httpd oci:$(HTTPD)/oci; \
	show "$(DEMO_RUN) busybox --exec sh -- -c 'echo hello from inside hoist; hostname; id'"; \
	out=$$(hoist $(DEMO_RUN) busybox --exec sh -- -c 'echo hello from inside hoist; hostname; id' </dev/null) || \
		{ echo "$$out"; echo "demo: hoist run failed" >&2; exit 1; }; \
	echo "$$out"; \
	echo "$$out" | grep -qx 'hello from inside hoist' || \
		{ echo "demo: hoist run exited 0 but the app printed no greeting" >&2; exit 1; }; \
	echo; \
	echo "# a two-app pod: httpd serves /www, the client app fetches it over the pod's localhost"; \
	show "$(DEMO_RUN) --detach --name demo-web httpd --- busybox --name client --exec sh -- -c '$(DEMO_CLIENT)'"; \
	hoist $(DEMO_RUN) --detach --name demo-web httpd --- busybox --name client \
		--exec sh -- -c '$(DEMO_CLIENT)' </dev/null; \
	for i in $$(seq 100); do \
		hoist status demo-web | grep -q '^app-client=[0-9]' && break; \
		sleep 0.1; \
	done; \
	show "status demo-web"; \
	hoist status demo-web; \
	show "logs demo-web"; \
	hoist logs demo-web >$(DEMO_DIR)/demo-web.log; \
	cat $(DEMO_DIR)/demo-web.log; \
	grep -q 'hello from hoist httpd' $(DEMO_DIR)/demo-web.log || \
		{ echo "demo: the client app did not get the httpd app's page" >&2; exit 1; }; \
	rm -f $(DEMO_DIR)/demo-web.log; \
	show "list"; \
	hoist list; \
	show "stop --force demo-web"; \
	hoist stop --force demo-web; \
	show "rm demo-web"; \
	hoist rm demo-web; \
	show "gc --grace-period 0s"; \
	hoist gc --grace-period 0s; \
	left=$$(hoist list --format json | jq length); \
	[ "$$left" -eq 0 ] || { echo "demo: $$left pods left in $(DEMO_DIR)" >&2; exit 1; }
	@set -eu; \
	echo; \
	echo "== the stage1 alone: an OCI runtime with runc's command line =="; \
	rt='$(RUNTIME)'; \
	root=$$(mktemp -d /tmp/hoist-demo-root.XXXXXX); \
	bundle=$$(mktemp -d /tmp/hoist-demo-bundle.XXXXXX); \
	id="hoist-demo-$$$$"; \
	cleanup() { \
		"$$rt" --root "$$root" delete --force "$$id" >/dev/null 2>&1 || true; \
		rm -rf --one-file-system "$$root" "$$bundle"; \
	}; \
	trap cleanup EXIT; \
	cp -a $(IMAGE)/rootfs "$$bundle/rootfs"; \
	jq --argjson args '$(DEMO_ARGS)' '.process.args = $$args | .hostname = "hoist-demo"' \
		$(IMAGE)/config.json >"$$bundle/config.json"; \
	echo "+ $$rt --root $$root run --bundle $$bundle $$id"; \
	status=0; \
	"$$rt" --root "$$root" run --bundle "$$bundle" "$$id" </dev/null >"$$bundle/out" || status=$$?; \
	cat "$$bundle/out"; \
	if [ "$$status" -ne 0 ]; then \
		echo "demo: $$rt run failed (exit status $$status)" >&2; exit "$$status"; \
	fi; \
	grep -qx 'hello from inside hoist' "$$bundle/out" || \
		{ echo "demo: $$rt exited 0 but the container printed no greeting" >&2; exit 1; }

# The one command CI runs (.ci/run).
# Two runs: everything, then the pod tests with crun as stage1 on their own (they move
# hugetlb between cgroup hierarchies, which nothing else may see; tests/pods.rs).
test: deps fmt clippy build runtimetest image
	$(CARGO) nextest run --workspace --no-fail-fast -E 'not test(/crun_stage1_exclusive/)'
	$(CARGO) nextest run --no-fail-fast --test-threads 1 --test pods -E 'test(/crun_stage1_exclusive/)'

# hoist-runtime and runc side by side, case by case.
conformance: runtimetest image build
	HOIST_CONFORMANCE_COMPARE=runc $(CARGO) test -p hoist --test conformance

# benches/run.sh: the stage1 (RUNTIME) against runc and crun; benches/pods.sh: `hoist run`
# (release hoist, its hoist-runtime as stage1) against podman + crun, and 100 pods at once.
bench: deps release image
	RUNTIME='$(RUNTIME)' PEERS='$(PEERS)' IMAGE='$(IMAGE)' benches/run.sh
	HOIST='$(HOIST)' IMAGE='$(IMAGE)' benches/pods.sh
	HOIST=target/release/hoist IMAGE='$(IMAGE)' benches/fetch.sh

# The fuzz targets on stable Rust (no sanitizer): each runs FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := config_json seccomp_compile unpack reference manifest policy
fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		$(CARGO) fuzz run --sanitizer none $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

install: release
	install -D -m 0755 target/release/hoist $(DESTDIR)$(BINDIR)/hoist
	install -D -m 0755 target/release/hoist-runtime $(DESTDIR)$(BINDIR)/hoist-runtime

clean:
	$(CARGO) clean
	rm -rf fuzz/target
