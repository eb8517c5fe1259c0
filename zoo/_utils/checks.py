"""Argument checks; messages name the argument and the value (defined in ``guides._utils``)."""
from guides._utils import positive_float, positive_int

__all__ = ["positive_float", "positive_int"]
