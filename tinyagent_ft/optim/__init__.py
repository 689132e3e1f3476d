"""Natural GaLore optimizer: GaLore projection + empirical-Fisher natural gradient + AdamW."""

from .memory import plan_state, planned_bytes
from .natural_galore import DEFAULT_DAMPING, DEFAULT_DAMPING_MODE, NaturalGaLoreAdamW
from .natural_gradient import natural_gradient
from .param_groups import galore_param_groups, make_optimizer_and_scheduler

__all__ = [
    "DEFAULT_DAMPING",
    "DEFAULT_DAMPING_MODE",
    "NaturalGaLoreAdamW",
    "galore_param_groups",
    "make_optimizer_and_scheduler",
    "natural_gradient",
    "plan_state",
    "planned_bytes",
]
