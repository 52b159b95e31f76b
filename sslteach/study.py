"""The source study's own numbers: its best loss weights and its results table.

The study (a student project, "Self-supervised learning", course "AI practice") trained TiCo,
its modified loss ("Custom" = VICReg + TiCo's covariance contrast, ``vicreg-tico``) and VICReg
on CIFAR-10 and reported the final classification accuracy of each. Its slides state neither
the evaluation protocol (a linear probe on the frozen representation is the usual one) nor the
schedule. These numbers are quoted, never measured here.
"""

from __future__ import annotations

from sslteach.losses import method_title

# Final classification accuracy on CIFAR-10, as the study reported it (protocol not stated).
STUDY_RESULTS = {"tico": 0.304, "vicreg-tico": 0.377, "vicreg": 0.421}
STUDY_NAMES = {method: method_title(method) for method in STUDY_RESULTS}  # "Custom (VICReg + TiCo)"

# The study's best loss weights (λ = 20, μ = 25, ν = 1), for the methods that have them.
STUDY_WEIGHTS: dict[str, dict[str, float]] = {
    "vicreg": {"lambda_": 20.0, "mu": 25.0, "nu": 1.0},
    "vicreg-tico": {"lambda_": 20.0, "mu": 25.0},
}
