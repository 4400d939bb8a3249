#!/bin/sh
# Re-fetches the vendored front-end packages with `npm pack`, checks each
# tarball against the sha512 integrity recorded below (and in VENDORED.md),
# and copies the files a page needs into this directory.
#
# Usage: static/vendor.sh          fetch, verify and copy
#        static/vendor.sh -check   fetch, verify and compare; change nothing
#
# To update a package: change its version and integrity here and in
# VENDORED.md (`npm view <pkg>@<version> dist.integrity`), run the script,
# then `go test ./static/...`.
set -eu

NHSUK_VERSION=10.6.1
NHSUK_INTEGRITY=sha512-PZorqQZjZx/A26yJoskCL9z0ib6AtkAyF0o4K/RHr8zRrJyXrUOCnMbjy0VNXsGO4tfTNMwqlkwATKs4a0xayw==
HTMX_VERSION=2.0.11
HTMX_INTEGRITY=sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==

# Files taken from nhsuk-frontend's dist/nhsuk/ directory.
NHSUK_FILES="
nhsuk-frontend.min.css
nhsuk-frontend.min.js
assets/manifest.json
assets/images/favicon.ico
assets/images/favicon.svg
assets/images/nhsuk-icon-mask.svg
assets/images/nhsuk-icon-180.png
assets/images/nhsuk-icon-192.png
assets/images/nhsuk-icon-512.png
assets/images/nhsuk-icon-arrow-down.svg
assets/images/nhsuk-icon-arrow-up.svg
assets/images/nhsuk-icon-arrow-up-down.svg
assets/images/nhsuk-icon-cross.svg
"

mode=copy
case "${1:-}" in
'') ;;
-check) mode=check ;;
*) echo "usage: $0 [-check]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch PACKAGE VERSION INTEGRITY: npm pack into $work/PACKAGE, verified, unpacked.
fetch() {
	pkg=$1 version=$2 want=$3
	mkdir -p "$work/$pkg"
	(cd "$work/$pkg" && npm pack --silent "$pkg@$version" >/dev/null)
	tgz="$work/$pkg/$pkg-$version.tgz"
	got="sha512-$(openssl dgst -sha512 -binary "$tgz" | openssl base64 -A)"
	if [ "$got" != "$want" ]; then
		echo "$pkg@$version: integrity mismatch" >&2
		echo "  want $want" >&2
		echo "  got  $got" >&2
		exit 1
	fi
	tar -xzf "$tgz" -C "$work/$pkg"
	echo "$pkg@$version: integrity ok"
}

status=0
# place SRC DST: copy SRC to DST, or in check mode report whether they differ.
place() {
	if [ "$mode" = check ]; then
		if ! cmp -s "$1" "$2"; then
			echo "differs from upstream: ${2#"$here"/}" >&2
			status=1
		fi
	else
		mkdir -p "$(dirname "$2")"
		cp "$1" "$2"
	fi
}

fetch nhsuk-frontend "$NHSUK_VERSION" "$NHSUK_INTEGRITY"
for f in $NHSUK_FILES; do
	place "$work/nhsuk-frontend/package/dist/nhsuk/$f" "$here/nhsuk/$f"
done

fetch htmx.org "$HTMX_VERSION" "$HTMX_INTEGRITY"
place "$work/htmx.org/package/dist/htmx.min.js" "$here/js/htmx.min.js"
place "$work/htmx.org/package/LICENSE" "$here/js/htmx.LICENSE"

# The nhsuk-frontend tarball carries no licence file (package.json says
# MIT); static/nhsuk/LICENSE is the upstream repository's LICENSE file and
# is kept by hand.
[ -f "$here/nhsuk/LICENSE" ] || { echo "missing static/nhsuk/LICENSE" >&2; status=1; }

exit $status
