"""python -m shared.data: the registered data sets (name, kind, source, what it is) that data.name can select."""
from shared.data.registry import describe

print(describe())
