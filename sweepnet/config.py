"""Sweep files: the schema, YAML reading, ``--set`` overrides and the plan built from them.

The pieces live in small modules; this one gathers what callers need::

    from sweepnet.config import load_plan
    plan = load_plan("quickstart.yaml", overrides=["solver.num_epochs=3"])

- :mod:`sweepnet.yamlfile`: the YAML loader (``1e-3`` is a float, duplicate keys are errors);
- :mod:`sweepnet.overrides`: ``--set path.to.key=value``;
- :mod:`sweepnet.schema`: the pydantic schema and the validation of one resolved point;
- :mod:`sweepnet.probe`: the probe points that validate a whole search space;
- :mod:`sweepnet.plan`: :class:`SweepPlan`, :func:`load_plan`, :func:`plan_from_text`.

``docs/configuration.md`` is the user's reference of every field.
"""

from __future__ import annotations

from sweepnet.overrides import apply_overrides
from sweepnet.plan import SweepPlan, load_plan, plan_from_text
from sweepnet.schema import Resources, SearchSection, SolverSection, SweepConfig, Tracking
from sweepnet.yamlfile import parse_yaml

__all__ = [
    "Resources",
    "SearchSection",
    "SolverSection",
    "SweepConfig",
    "SweepPlan",
    "Tracking",
    "apply_overrides",
    "load_plan",
    "parse_yaml",
    "plan_from_text",
]
