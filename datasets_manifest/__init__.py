"""Dataset manifests: one YAML file per real dataset (see README.md in this folder)."""
