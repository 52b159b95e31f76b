"""Where each training step's two views come from: the epoch's sample order, this process's
share of every batch, and the augmentation of that share.

The training images stay on the device as uint8 and are augmented there in whole batches
(``sslteach.augment.BatchedAugment``), so no DataLoader workers are needed on CPU or GPU.
``pipeline="dataloader"`` runs the standard per-sample torchvision path instead, for
comparison; its worker generators are not saved, so a resumed "dataloader" run draws other
views (the batched path resumes exactly).

Under ``torchrun`` all processes draw the same sample order from the shared seed and each
augments its contiguous 1/K of every global batch with draws of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from sslteach.augment import AugmentConfig, BatchedAugment
from sslteach.config import TrainConfig
from sslteach.distributed import is_distributed, local_batch_size, rank_seed, shard
from sslteach.per_sample import two_view_loader


class TwoViewBatches:
    """The sample order of each epoch and the two views of each of its steps."""

    def __init__(
        self, images: Tensor, config: TrainConfig, augment: AugmentConfig, device: torch.device
    ) -> None:
        self.config, self.augment_config, self.device = config, augment, device
        batched = config.pipeline == "batched"
        self.images = images.to(device) if batched else images  # uint8, on the device if batched
        self.augment = BatchedAugment(augment)
        self.local_batch_size = local_batch_size(config.batch_size)  # this process's share
        # One generator for the order (the same on every rank) and, alone, for the views.
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self._rank_generator = torch.Generator(device=device)

    def order(self) -> Tensor:
        """A new epoch's sample order, a permutation of all images (the same on every rank)."""
        return torch.randperm(len(self.images), generator=self.generator, device=self.device)

    def epoch(self, order: Tensor, epoch: int, first_step: int) -> Iterator[tuple[Tensor, Tensor]]:
        """This rank's (view_a, view_b) for every step of the epoch from ``first_step`` on."""
        b = self.config.batch_size
        steps = range(first_step, len(order) // b)  # the last partial batch is dropped
        batches = [shard(order[s * b : (s + 1) * b]) for s in steps]  # (b / K,) each
        if self.config.pipeline == "dataloader":
            yield from self._loader(batches, epoch, first_step)
            return
        for step, indices in zip(steps, batches, strict=True):
            with torch.no_grad():  # closed before the yield: the step itself needs gradients
                views = self.augment.two_views(self.images[indices], self._generator(epoch, step))
            yield views

    def _generator(self, epoch: int, step: int) -> torch.Generator:
        """The run's own generator in one process. With K processes each rank needs draws of
        its own (shared ones would crop every shard alike), so it is seeded from (seed, epoch,
        step, rank): nothing to save, and resume stays exact."""
        if not is_distributed():
            return self.generator
        return self._rank_generator.manual_seed(rank_seed(self.config.seed, epoch, step))

    def _loader(self, batches: list[Tensor], epoch: int, step: int):
        indices = torch.cat(batches).tolist() if batches else []
        loader = two_view_loader(
            self.images,
            indices,
            self.augment_config,
            self.local_batch_size,
            workers=self.config.workers,
            seed=rank_seed(self.config.seed, epoch, step),
            pin_memory=self.device.type == "cuda",
        )
        for views in loader:
            yield tuple(v.to(self.device, non_blocking=True) for v in views)
