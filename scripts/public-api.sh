#!/usr/bin/env bash
# Counts the engine's public API from rustdoc's JSON (nightly rustdoc, which this machine has):
# every documented item reachable from the crate root, by kind, and every public enum that is
# not #[non_exhaustive]. Items behind #[doc(hidden)] (the unstable `internal` module) are not
# counted: they are not part of the published surface.
#   scripts/public-api.sh            # counts
#   scripts/public-api.sh --list     # and every item's path
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/public-api"
CARGO_TARGET_DIR="$target" cargo +nightly rustdoc -q -p reprise --lib -- \
    -Z unstable-options --output-format json >/dev/null
python3 - "$target/doc/reprise.json" "${1:-}" <<'PY'
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
print("public items:", sum(counts.values()))
for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
    print(f"  {k}: {n}")
print("public fields:", fields, " public modules:", modules)
print("enums without #[non_exhaustive]:", len(exhaustive), " ".join(sorted(exhaustive)))
if sys.argv[2] == "--list":
    print("\n".join(sorted(listing)))
PY
