"""Export of a bundle for the MONAI model zoo."""

from custom.zoo.export import ExportedBundle, check_version_rules, export_bundle

__all__ = ["ExportedBundle", "check_version_rules", "export_bundle"]
