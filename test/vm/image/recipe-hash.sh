#!/usr/bin/env bash
# Print the sha256 of the PioT test VM image recipe: the files that decide what
# build.sh puts into an image, plus the variant arguments. A caller caches an
# image under a name holding this hash (e.g.
# /var/cache/piot/vm/<suite>-<arch>-<flavor>-<hash>.img) and builds only when
# that file is missing, so a recipe change never goes unnoticed and an image is
# never rebuilt silently.
#
# usage: recipe-hash.sh [--suite bookworm|trixie] [--arch amd64|arm64]
#                       [--flavor full|bare] [--size 2G] [--short]
#
# The Debian mirror is not part of the hash: two builds of one recipe may hold
# different package versions (point releases). The image records the versions
# it got in <image>.packages.
set -euo pipefail

suite=bookworm arch=amd64 flavor=full size=2G short=0
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=${2:?}; shift 2 ;;
    --arch) arch=${2:?}; shift 2 ;;
    --flavor) flavor=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --short) short=1; shift ;;
    # build.sh passes its whole command line; options that do not change the
    # image's content are ignored here.
    --out|--cache|--mirror) shift 2 ;;
    --keep-work|--print-hash) shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "recipe-hash.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

# The files that make the image. README.md and the helpers that only run or
# inspect an image (run-vm.sh, extract-boot.sh) are left out on purpose.
recipe=(build.sh configure.sh recipe-hash.sh packages.txt packages-full.txt files bootfs)

hash=$(
  {
    printf 'piot-vm-image recipe v1\nsuite=%s\narch=%s\nflavor=%s\nsize=%s\n' \
      "$suite" "$arch" "$flavor" "$size"
    find "${recipe[@]}" \( -type f -o -type l \) -print0 | LC_ALL=C sort -z |
      while IFS= read -r -d '' f; do
        if [ -L "$f" ]; then
          printf 'L %s -> %s\n' "$f" "$(readlink "$f")"
        else
          x=-; [ -x "$f" ] && x=x
          printf 'F %s %s %s\n' "$f" "$x" "$(sha256sum <"$f" | cut -d' ' -f1)"
        fi
      done
  } | sha256sum | cut -d' ' -f1
)
if [ "$short" = 1 ]; then echo "${hash:0:12}"; else echo "$hash"; fi
