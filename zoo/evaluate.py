"""The former name of :mod:`zoo.evaluation`, kept so that ``from zoo.evaluate import ...`` works."""
from zoo.evaluation import *  # noqa: F401,F403
from zoo.evaluation import __all__  # noqa: F401
