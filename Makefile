# Thin wrapper around meson: `make run` and `make test` do everything on a
# fresh Debian 12 machine, installing missing packages first.
BUILD ?= build
DEBS = build-essential meson ninja-build pkg-config liblmdb-dev lmdb-utils \
	libzstd-dev libssl-dev libsasl2-dev libsasl2-modules libevent-dev \
	libpcre2-dev libfuse3-dev fuse3 check libcrypt-dev python3 zstd \
	curl fetchmail openssl ca-certificates swaks libnet-ssleay-perl faketime \
	python3-dnslib libunbound-dev python3-aiosmtpd zlib1g-dev \
	isync offlineimap3 neomutt tmux strace mount spamassassin spamc spamd \
	libopendkim-dev python3-dkim python3-nacl clamav-daemon libspf2-dev \
	libopendmarc-dev publicsuffix
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test run install clean

all: build

deps:
	@missing=$$(for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    --no-install-recommends $$missing || { \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    --no-install-recommends $$missing; }; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	@tests/run-tests $(BUILD)

# `make install [DESTDIR=/tmp/root] [PREFIX=/usr]`: meson install of the
# build; PREFIX (re)configures the build's prefix first (default: what
# the build has, /usr/local for a fresh one).  README.md, "Install".
install: deps $(BUILD)/build.ninja
	@if [ -n "$(PREFIX)" ]; then meson configure $(BUILD) \
	    -Dprefix="$(PREFIX)" || exit 1; fi
	ninja -C $(BUILD)
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(DESTDIR)")

run: build
	@admin/run-demo $(BUILD)

clean:
	rm -rf $(BUILD)
