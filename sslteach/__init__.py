"""sslteach: learn self-supervised learning by running it.

The library behind the notebooks: exact losses — the non-contrastive VICReg, Barlow Twins,
TiCo, the study's VICReg + TiCo variant and W-MSE, set against the contrastive SimCLR and the
asymmetric SimSiam and BYOL — whitening, collapse diagnostics, and one small training loop
(``sslteach.train``) with momentum targets, exact resume and multi-process training.

A new method is one file under ``sslteach/losses/`` and one entry in
``sslteach.losses.LOSSES``; the docstring of ``sslteach.losses`` shows a complete example.
"""

__version__ = "0.2.0"
