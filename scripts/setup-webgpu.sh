#!/usr/bin/env bash
# Installs what headless WebGPU needs on a fresh Debian (bookworm) machine without a GPU:
#   - chromium (browser tests; it also ships SwiftShader, a Vulkan driver Dawn accepts)
#   - libvulkan1 (the loader Dawn opens in Node)
#   - Mesa 25 lavapipe from bookworm-backports, unpacked into .webgpu-sw/ (3–4× faster than
#     SwiftShader for Node; bookworm's own Mesa 22 lavapipe is rejected by Dawn). The backports
#     source is built from this machine's apt configuration (scripts/apt-backports-source.sh), so
#     a local mirror or proxy serves it; WEBGPU_BACKPORTS_SOURCE="deb URI bookworm-backports main"
#     names it instead. Without backports, Node uses SwiftShader (slower; the script says so).
# Idempotent: does nothing that is already done. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
# lavapipe's own libraries (LLVM, libdrm, xcb) come with bookworm's mesa-vulkan-drivers
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-webgpu: apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

dir=.webgpu-sw
if [ ! -f "$dir/lvp_icd.json" ]; then
  # bookworm-backports from the Debian archive this machine already uses (its mirror, its proxy),
  # unless WEBGPU_BACKPORTS_SOURCE names one; each candidate line is tried until one serves Mesa
  if [ -n "${WEBGPU_BACKPORTS_SOURCE:-}" ]; then
    sources=$WEBGPU_BACKPORTS_SOURCE
  else
    sources=$(bash scripts/apt-backports-source.sh /etc/apt bookworm) || sources=""
  fi
  ready=""
  while IFS= read -r source && [ -z "$ready" ]; do
    [ -n "$source" ] || continue
    lists=$(mktemp -d)
    mkdir -p "$lists/lists/partial" "$dir"
    echo "$source" > "$lists/backports.list"
    o=(-o "Dir::Etc::SourceList=$lists/backports.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$lists/lists")
    if $SUDO apt-get "${o[@]}" update -qq >/dev/null 2>&1 &&
       (cd "$lists" && $SUDO apt-get "${o[@]}" download -t bookworm-backports mesa-vulkan-drivers >/dev/null 2>&1); then
      dpkg -x "$lists"/mesa-vulkan-drivers_*.deb "$dir/root"
      lib=$(find "$PWD/$dir/root" -name libvulkan_lvp.so | head -1)
      if [ -n "$lib" ]; then
        printf '{"file_format_version":"1.0.1","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$lib" > "$dir/lvp_icd.json"
        echo "setup-webgpu: lavapipe ready ($dir/lvp_icd.json), from: $source"
        ready=1
      fi
    else
      echo "setup-webgpu: no Mesa from: $source"
    fi
    rm -rf "$lists"
  done <<< "$sources"
  if [ -z "$ready" ]; then
    cat <<EOF
setup-webgpu: lavapipe (Mesa 25 from bookworm-backports) could not be fetched.
  Everything still works: Node uses SwiftShader (shipped with chromium) instead, about 3-4x slower.
  For lavapipe, make bookworm-backports reachable and run this script again, either
    - in apt: add "deb <your Debian mirror> bookworm-backports main" in /etc/apt/sources.list.d/, or
    - for this script only: WEBGPU_BACKPORTS_SOURCE="deb <your Debian mirror> bookworm-backports main" bash scripts/setup-webgpu.sh
  (without it, the source is built from the Debian archive in /etc/apt: bash scripts/apt-backports-source.sh shows it)
EOF
  fi
fi
