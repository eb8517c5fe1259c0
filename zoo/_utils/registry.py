"""Name -> factory registries (defined in ``guides._utils``, the bottom layer)."""
from guides._utils import Registry

__all__ = ["Registry"]
