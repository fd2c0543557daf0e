#!/usr/bin/env bash
# make demo: start a throwaway containerd (2.4 by default, DEMO_CONTAINERD=1.6
# for Debian's 1.6) with this shim on its PATH, run a wasm container through
# ctr, and stop everything again. Nothing system-wide is touched.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
case "${DEMO_CONTAINERD:-2.4}" in
  1.6) containerd=/usr/bin/containerd; ctr=/usr/bin/ctr ;;
  *)   containerd=/opt/containerd-v2.4.2/bin/containerd; ctr=/opt/containerd-v2.4.2/bin/ctr ;;
esac
for f in "$containerd" "$ctr" "$top/bin/containerd-shim-wasmedge-v1" "$top/build/wasm/wasitool.wasm"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "demo: missing $f (run 'make deps build wasm')" >&2; exit 1; }
done

work=$(mktemp -d /tmp/wasmedge-demo.XXXXXX)
sock="$work/containerd.sock"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
TOML

echo "== starting a private containerd ($("$containerd" --version | awk '{print $3}')) in $work"
PATH="$top/bin:$(dirname "$containerd"):$PATH" WASMEDGE_SHIM_CACHE_DIR="$work/cache" \
  "$containerd" --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/containerd.log"; exit 1; }

rootfs="$work/rootfs"
mkdir -p "$rootfs"
cp "$top/build/wasm/wasitool.wasm" "$rootfs/wasitool.wasm"

# ctr takes its flags before the positional arguments; with --rootfs the
# folder stands where the image reference would.
run() { "$ctr" --address "$sock" --namespace demo run --rm --runtime io.containerd.wasmedge.v1 --env GREETING=hello --rootfs "$rootfs" demo "$@"; }

echo "== ctr run --rm --runtime io.containerd.wasmedge.v1 --rootfs $rootfs demo /wasitool.wasm echo ..."
run /wasitool.wasm echo "Hello from a WebAssembly container"
echo "== the same module, asked for its environment"
run /wasitool.wasm env | grep GREETING
echo "== exit status is the guest's: proc_exit(3)"
set +e; run /wasitool.wasm exit 3; status=$?; set -e
echo "exit status: $status"
echo "== done; stopping containerd"
