"""The source study's own numbers: its best loss weights and its results table.

The study (a student project, "Self-supervised learning", course "AI practice") trained TiCo,
its modified loss ("Custom" = VICReg + TiCo's covariance contrast, ``vicreg-tico``) and VICReg
briefly on CIFAR-10 and reported the linear-probe accuracy of each. Its exact schedule is not
recorded. These numbers are quoted, never measured here.
"""

from __future__ import annotations

from sslteach.losses import method_title

# Linear-probe accuracy on CIFAR-10 after short training, as the study reported it.
STUDY_RESULTS = {"tico": 0.304, "vicreg-tico": 0.377, "vicreg": 0.421}
STUDY_NAMES = {method: method_title(method) for method in STUDY_RESULTS}  # "Custom (VICReg + TiCo)"

# The study's best loss weights (λ = 20, μ = 25, ν = 1), for the methods that have them.
STUDY_WEIGHTS: dict[str, dict[str, float]] = {
    "vicreg": {"lambda_": 20.0, "mu": 25.0, "nu": 1.0},
    "vicreg-tico": {"lambda_": 20.0, "mu": 25.0},
}
