"""PJAX family code (projection-based gradient-free learning): the primitives' graph projections and the
divide-and-concur solver. No Ray imports (shared/ layer)."""
