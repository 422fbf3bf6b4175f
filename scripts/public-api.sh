#!/usr/bin/env bash
# The public API of a published crate from rustdoc's JSON (nightly rustdoc): every documented
# item reachable from the crate root, by kind, and every public enum that is not
# #[non_exhaustive]. Items behind #[doc(hidden)] (the engine's unstable `internal` module) are
# not counted: they are not part of the published surface.
#   scripts/public-api.sh [PACKAGE]                   # counts (PACKAGE: reprise-tls by default)
#   scripts/public-api.sh --list [PACKAGE]            # and every item's path
#   scripts/public-api.sh --write [PACKAGE]           # (re)writes docs/api/PACKAGE.txt
#   scripts/public-api.sh --check [PACKAGE [LISTING]] # the items against the committed listing
#                                                     # (docs/api/PACKAGE.txt): exit 1 naming
#                                                     # every item added or gone
# Without a nightly toolchain, --check says so and exits 0 (skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=counts
case "${1:-}" in --list | --check | --write) mode=${1#--}; shift ;; esac
package=${1:-reprise-tls}
listing=${2:-docs/api/$package.txt}
case $package in
  reprise-tls) lib=reprise ;;
  reprise-tls-tokio) lib=reprise_tokio ;;
  *) echo "public-api: no listing kept for $package" >&2; exit 2 ;;
esac
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "public-api: skipped: no nightly toolchain (rustdoc JSON needs it)" >&2
  [ "$mode" = check ] && exit 0
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}/public-api"
CARGO_TARGET_DIR="$target" cargo +nightly rustdoc -q -p "$package" --all-features --lib -- \
    -Z unstable-options --output-format json >/dev/null
items=$(python3 - "$target/doc/$lib.json" "${mode/write/check}" <<'PY'
import json, sys, collections
doc = json.load(open(sys.argv[1]))
index = doc["index"]
# Walk what a user can name: from the crate root through public modules and re-exports
# (rustdoc has already dropped #[doc(hidden)] ones), plus the public inherent methods and
# constants of every type reached. Trait-impl methods and enum variants follow their type.
def kind(item):
    return next(iter(item["inner"])) if isinstance(item["inner"], dict) else item["inner"]
counts = collections.Counter()
fields = 0
modules = 0
exhaustive = []
listing = []
seen = set()
def visit(id_, path):
    global fields, modules
    item = index.get(str(id_))
    if item is None or item.get("crate_id") != 0:
        return
    k = kind(item)
    if k == "use":
        use = item["inner"]["use"]
        target = index.get(str(use["id"])) if use["id"] is not None else None
        if target is None:
            return
        if use["is_glob"]:
            for child in target["inner"].get("module", {}).get("items", []):
                visit(child, path)
        else:
            visit(use["id"], path + [use["name"]])
        return
    if id_ in seen:
        return
    seen.add(id_)
    name = "::".join(path if k != "module" else path)
    if k == "module":
        if path:
            modules += 1
        for child in item["inner"]["module"]["items"]:
            visit(child, path + [index[str(child)]["name"]] if index.get(str(child), {}).get("name") and kind(index[str(child)]) != "use" else path)
        return
    if k == "impl":
        return
    counts[k] += 1
    listing.append(f"{k:12} {name}")
    inner = item["inner"][k]
    if k == "enum" and "non_exhaustive" not in json.dumps(item.get("attrs", [])):
        exhaustive.append(name)
    if k == "struct":
        if isinstance(inner["kind"], dict):
            fields += len(inner["kind"].get("plain", {}).get("fields", []))
    for impl_id in inner.get("impls", []) if isinstance(inner, dict) else []:
        impl = index.get(str(impl_id))
        if impl is None or impl["inner"]["impl"]["trait"] is not None:
            continue
        for m in impl["inner"]["impl"]["items"]:
            mi = index.get(str(m))
            if mi and mi.get("visibility") == "public":
                counts[kind(mi)] += 1
                listing.append(f"{kind(mi):12} {name}::{mi['name']}")
visit(doc["root"], [])
if sys.argv[2] == "check":
    print("\n".join(sorted(set(listing))))
    sys.exit()
print("public items:", sum(counts.values()))
for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
    print(f"  {k}: {n}")
print("public fields:", fields, " public modules:", modules)
print("enums without #[non_exhaustive]:", len(exhaustive), " ".join(sorted(exhaustive)))
if sys.argv[2] == "list":
    print("\n".join(sorted(listing)))
PY
)
if [ "$mode" = write ]; then
  mkdir -p "$(dirname "$listing")"
  printf '%s\n' "$items" >"$listing"
  echo "public-api: wrote $listing ($(wc -l <"$listing") items)"
  exit 0
fi
if [ "$mode" != check ]; then
  printf '%s\n' "$items"
  exit 0
fi
if [ ! -f "$listing" ]; then
  echo "public-api: no listing $listing: scripts/public-api.sh --write $package" >&2
  exit 1
fi
if changes=$(diff <(sort -u "$listing") <(printf '%s\n' "$items") ); then
  echo "public-api: $package matches $listing ($(wc -l <"$listing") items)"
  exit 0
fi
echo "public-api: the public API of $package changed; update $listing if that is meant:" >&2
printf '%s\n' "$changes" | sed -n 's/^> /  added:   /p; s/^< /  removed: /p' >&2
exit 1
