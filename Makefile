# hoist: build, install, demo, test, conformance, bench.
#
# `make demo` and `make test` work on a fresh Debian 12 machine, as root.
# Variables (override on the command line, e.g. `make demo RUNTIME=/usr/sbin/runc`):
#   CARGO    cargo to use
#   RUNTIME  the OCI runtime `demo` and `bench` drive (default: the release hoist-runtime,
#            built first; any other value is used as it is, nothing is built for it)
#   PEERS    the runtimes `bench` compares against (default: runc crun)
#   WARMUP, RUNS   hyperfine's counts for `bench` (default 3 and 30; see benches/run.sh)
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

# The release binaries: demo, bench and install use them.
# hoist-runtime is linked statically: it execs itself once per create/run/exec (the
# sealed-memfd copy against CVE-2019-5736), and a static binary starts ~0.4 ms faster.
release:
	$(CARGO) build --release -p hoist
	$(CARGO) rustc --release -p hoist-runtime --bin hoist-runtime -- -C target-feature=+crt-static

# The in-container checker, linked statically so that it runs in any rootfs.
# (`cargo rustc` gives the flag to this crate only; build scripts stay dynamic.)
runtimetest:
	$(CARGO) rustc --release -p runtimetest --bin runtimetest -- -C target-feature=+crt-static
	@file -L target/release/runtimetest | grep -Eq 'statically linked|static-pie linked' || \
		{ echo "runtimetest: target/release/runtimetest is not static" >&2; exit 1; }

image: deps $(IMAGE)/oci.tar

$(IMAGE)/oci.tar: $(IMAGE_SRC) $(BUSYBOX)
	images/busybox/build.sh $(IMAGE)

# Runs one container from the busybox image, from a copy of the bundle, with a private
# state root, and removes all of it afterwards.
DEMO_ARGS := ["sh", "-c", "echo hello from inside hoist; hostname; id"]
ifeq ($(RUNTIME),$(RELEASE_RUNTIME))
demo: deps release image
else
demo: deps image
endif
	@set -eu; \
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
test: deps fmt clippy build runtimetest image
	$(CARGO) nextest run --workspace --no-fail-fast

# hoist-runtime and runc side by side, case by case.
conformance: runtimetest image build
	HOIST_CONFORMANCE_COMPARE=runc $(CARGO) test -p hoist --test conformance

ifeq ($(RUNTIME),$(RELEASE_RUNTIME))
bench: deps release image
else
bench: deps image
endif
	RUNTIME='$(RUNTIME)' PEERS='$(PEERS)' IMAGE='$(IMAGE)' benches/run.sh

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
