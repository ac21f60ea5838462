#!/usr/bin/env bash
# Builds dist/tether_<debversion>_<arch>.deb with dpkg-deb from a static
# (CGO_ENABLED=0) cross-compiled binary. No debhelper, no fakeroot: the
# package tree is assembled in a temp dir and dpkg-deb --root-owner-group
# makes every file root:root.
#
#   packaging/build-deb.sh VERSION ARCH      ARCH: amd64 | arm64
#
# VERSION is what `tether version` prints (e.g. `git describe` output). The
# package version is derived from it: a leading "v" dropped, and a version
# that does not start with a digit (a bare commit hash, "dev") becomes
# 0.0~git<VERSION>, because dpkg requires a leading digit.
# Environment: GO (default go), OUT (default <repo>/dist), SOURCE_DATE_EPOCH
# (file times; default: the last commit's time, else now).
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VERSION ARCH   (ARCH: amd64 | arm64)" >&2
	exit 2
fi
version=$1
arch=$2
case "$arch" in
amd64 | arm64) ;;
*)
	echo "build-deb.sh: unsupported ARCH $arch (amd64 or arm64)" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
GO=${GO:-go}
OUT=${OUT:-$repo/dist}

debversion=${version#v}
case "$debversion" in
[0-9]*) ;;
*) debversion="0.0~git$debversion" ;;
esac
# Characters dpkg does not allow in a version become '.'.
debversion=$(printf '%s' "$debversion" | tr -c 'A-Za-z0-9.+~:-' '.')

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/pkg

install -d -m0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" \
	"$pkg/usr/lib/tmpfiles.d" "$pkg/usr/share/doc/tether/examples/tether.service.d" \
	"$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions"
install -d -m0750 "$pkg/etc/tether"

echo "build-deb.sh: building tether $version for linux/$arch" >&2
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath \
	-ldflags "-s -w -X main.version=$version" -o "$pkg/usr/bin/tether" ./agent/cmd/tether)
chmod 0755 "$pkg/usr/bin/tether"

# Completion scripts come from the binary itself; a cross-compiled one
# cannot run here, so generate them with a build for this machine.
hostbin=$pkg/usr/bin/tether
if [ "$arch" != "$("$GO" env GOHOSTARCH)" ]; then
	hostbin=$work/tether-host
	(cd "$repo" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-X main.version=$version" -o "$hostbin" ./agent/cmd/tether)
fi
"$hostbin" completion bash >"$pkg/usr/share/bash-completion/completions/tether"
"$hostbin" completion zsh >"$pkg/usr/share/zsh/vendor-completions/_tether"

install -m0644 "$here/tether.service" "$here/tether-routeros.service" "$pkg/lib/systemd/system/"
install -m0644 "$here/tmpfiles.d/tether.conf" "$pkg/usr/lib/tmpfiles.d/tether.conf"
install -m0644 "$here/agent.toml.example" "$pkg/etc/tether/agent.toml.example"
install -m0644 "$here/routeros-user.rsc" "$pkg/usr/share/doc/tether/examples/"
install -m0644 "$here/tether.service.d/radvd-ndppd.conf" "$pkg/usr/share/doc/tether/examples/tether.service.d/"
for doc in operations.md routeros.md; do
	if [ -f "$repo/docs/$doc" ]; then
		install -m0644 "$repo/docs/$doc" "$pkg/usr/share/doc/tether/"
	fi
done
install -m0644 "$repo/LICENSE" "$pkg/usr/share/doc/tether/copyright"

install -m0644 "$here/deb/conffiles" "$pkg/DEBIAN/conffiles"
install -m0755 "$here/deb/postinst" "$here/deb/prerm" "$here/deb/postrm" "$pkg/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/deb/control.in" >"$pkg/DEBIAN/control"
chmod 0644 "$pkg/DEBIAN/control"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"

mkdir -p "$OUT"
deb=$OUT/tether_${debversion}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
