#!/usr/bin/env bash
# The README's Embedding section, as a user outside this repository would use it: a new
# crate in a temporary folder takes the section's `[dependencies]` lines verbatim, reaches
# this repository's crates the way an unpublished version is tried ([patch.crates-io] with
# their paths), and builds the section's Rust snippet verbatim inside a `main`. Run by
# scripts/test.sh; it reuses the workspace's target directory (and lock file) so that only
# the new crate is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
section=$(awk '/^## Embedding/ { found = 1; next } found && /^## / { exit } found' README.md)
deps=$(awk '/^```toml/ { grab = 1; next } grab && /^```/ { exit } grab' <<<"$section")
snippet=$(awk '/^```rust/ { grab = 1; next } grab && /^```/ { exit } grab' <<<"$section")
if [ -z "$deps" ] || [ -z "$snippet" ]; then
  echo "readme-embedding: no toml or rust block in the README's Embedding section" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/reprise-readme-embedding.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
{
  printf '[package]\nname = "embedding-check"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
  printf '%s\n' "$deps"
  printf '\n[patch.crates-io]\n'
  for crate in engine:reprise-tls io-tokio:reprise-tls-tokio; do
    printf '%s = { path = "%s/%s" }\n' "${crate#*:}" "$repo" "${crate%%:*}"
  done
  # The workspace's profile, so its compiled dependencies are reused.
  printf '\n[profile.dev.package."*"]\nopt-level = 2\n'
} >"$dir/Cargo.toml"
{
  printf 'fn main() -> Result<(), Box<dyn std::error::Error>> {\n'
  printf '%s\n' "$snippet"
  printf '    let _ = config;\n    Ok(())\n}\n'
} >"$dir/src/main.rs"
cp Cargo.lock "$dir/Cargo.lock"
(cd "$dir" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target} cargo build -q 2>&1) || {
  echo "readme-embedding: the README's snippet does not build; the crate was:" >&2
  cat "$dir/Cargo.toml" "$dir/src/main.rs" >&2
  exit 1
}
echo "readme-embedding: the README's [dependencies] and snippet build outside the workspace"
