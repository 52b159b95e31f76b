"""sslteach: learn non-contrastive self-supervised learning by running it.

The library behind the notebooks: exact losses (VICReg, Barlow Twins, TiCo, the study's
VICReg+TiCo variant, W-MSE), whitening, collapse diagnostics, and a small training pipeline.
"""

__version__ = "0.1.0"
