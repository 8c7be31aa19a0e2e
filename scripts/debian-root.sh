#!/usr/bin/env bash
# scripts/debian-root.sh SUITE ARCH DIR PACKAGE...
# Unpacks PACKAGE and everything it depends on, from Debian SUITE for ARCH,
# into DIR/root, without touching this machine's own apt or dpkg state: a
# private apt configuration resolves the dependencies as if nothing were
# installed. The prebuild tests run Node from such a root: an arm64 Node under
# qemu-user, or this machine's Node on an older glibc's loader. A root that is
# already complete is kept (DIR/complete).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 SUITE ARCH DIR PACKAGE..." >&2; exit 2; }
suite="$1" arch="$2" dir="$3"
shift 3
[ -e "$dir/complete" ] && exit 0
for command in apt-get dpkg-deb; do
  command -v "$command" >/dev/null || { echo "debian-root: $command not found (a Debian or Ubuntu host is needed)" >&2; exit 1; }
done

rm -rf "$dir"
mkdir -p "$dir"/{state/lists/partial,cache/archives/partial,root}
dir="$(cd "$dir" && pwd)"
touch "$dir/state/status"
echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > "$dir/sources.list"
cat > "$dir/apt.conf" <<EOF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
Dir::State "$dir/state";
Dir::State::status "$dir/state/status";
Dir::Cache "$dir/cache";
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/none";
Dir::Etc::Preferences "$dir/none";
Dir::Etc::PreferencesParts "$dir/none";
EOF
mkdir -p "$dir/none"
export APT_CONFIG="$dir/apt.conf"
apt-get update -qq
apt-get install --download-only -y -qq "$@" >/dev/null
for deb in "$dir"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
rm -rf "$dir/cache" "$dir/state"
# Newer suites keep everything under /usr; the loader is still looked for in /lib.
[ -e "$dir/root/lib" ] || ln -s usr/lib "$dir/root/lib"
touch "$dir/complete"
