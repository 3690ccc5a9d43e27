"""Static checks of deploy/: every manifest parses, every kustomization names files that exist,
and every FATHOM_* variable the manifests set is one a binary actually reads (a flag's `env`)."""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent
repo = root.parent
errors = []

known_env = set()
for main in repo.glob("*/src/main.rs"):
    known_env.update(re.findall(r'env = "(FATHOM_[A-Z0-9_]+)"', main.read_text()))
if not known_env:
    errors.append("no FATHOM_* flags found in */src/main.rs")

for manifest in sorted(root.rglob("*.yaml")):
    try:
        documents = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc is not None]
    except yaml.YAMLError as error:
        errors.append(f"{manifest}: invalid YAML: {error}")
        continue
    for doc in documents:
        if doc.get("kind") == "Kustomization":
            for resource in doc.get("resources", []):
                if not (manifest.parent / resource).exists():
                    errors.append(f"{manifest}: resource {resource} does not exist")
        for name in re.findall(r"name: (FATHOM_[A-Z0-9_]+)", yaml.safe_dump(doc)):
            if name not in known_env:
                errors.append(f"{manifest}: {name} is not read by any binary (known: {sorted(known_env)})")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"deploy checks passed ({len(list(root.rglob('*.yaml')))} manifests, {len(known_env)} FATHOM_* variables)")
