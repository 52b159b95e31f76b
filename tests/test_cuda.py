"""What only a CUDA GPU can show: bf16 autocast, training and resume on the device,
``torch.compile`` there, and SyncBatchNorm under NCCL. Skipped without a GPU; run by
``benchmarks/gpu_proof.sh`` on one."""

from __future__ import annotations

import pytest
import torch
from interrupt import InterruptAt

from sslteach import distributed
from sslteach.config import make_config
from sslteach.losses import LOSSES, build_loss
from sslteach.models import build_model
from sslteach.train import Trainer, resume_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA_RUN = dict(projector="256-64", epochs=2, batch_size=128, device="cuda")
# bf16 keeps 8 bits of mantissa (relative step 2⁻⁸ ≈ 0.4 %): embeddings computed under
# autocast differ from float32 ones by about that, and so do the losses of them.
BF16_RTOL = 1e-2  # measured with CPU bf16 autocast: at most 4e-4 for every loss


def inputs_for(loss, z_a, z_b) -> tuple:
    predicts = loss.build_predictor(z_a.shape[1]) is not None
    return (z_a, z_b, z_a, z_b) if predicts else (z_a, z_b)


@pytest.mark.parametrize("method", list(LOSSES))
def test_losses_of_bf16_embeddings_equal_float32_within_bf16_precision(method):
    torch.manual_seed(0)
    model = build_model(projector="256-64").cuda()
    x_a, x_b = torch.randn(2, 128, 3, 16, 16, device="cuda")
    with torch.no_grad():
        exact = [model(x)[1] for x in (x_a, x_b)]
        with torch.autocast("cuda", torch.bfloat16):
            low = [model(x)[1] for x in (x_a, x_b)]
    assert low[0].dtype == torch.bfloat16
    options = {"w_size": 128} if method == "wmse" else {}
    reference = build_loss(method, **options).cuda()
    torch.manual_seed(1)
    expected = reference(*inputs_for(reference, *exact))
    fresh = build_loss(method, **options).cuda()
    torch.manual_seed(1)
    value = fresh(*inputs_for(fresh, *(z.float() for z in low)))
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=BF16_RTOL, atol=1e-3)


@pytest.mark.parametrize("compile", [False, True])
def test_trainer_trains_an_epoch_on_cuda(compile, tiny_shapes):
    config = make_config("shapes", "vicreg", compile=compile, **{**CUDA_RUN, "epochs": 1})
    trainer = Trainer(config, tiny_shapes[0])
    assert trainer.views.images.device.type == "cuda"  # the uint8 images live on the GPU
    (record,) = trainer.fit()
    assert record["embedding_std"] > 0.05 and record["effective_rank"] > 2
    assert next(trainer.model.parameters()).device.type == "cuda"


def test_resume_on_cuda_continues_within_float_tolerance(tmp_path, tiny_shapes):
    """On a GPU, cuDNN may pick other convolution algorithms in a new process, so a resumed
    run is equal within float tolerance rather than bit for bit (it is bit-exact on CPU).
    Here, in one process, with deterministic algorithms, it is held to 1e-5."""
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    config = make_config("shapes", "byol", **CUDA_RUN)
    reference = Trainer(config, tiny_shapes[0])
    reference.fit()
    path = tmp_path / "checkpoint.pt"
    cut = Trainer(config, tiny_shapes[0], checkpoint_path=path, callbacks=[InterruptAt(1, 1)])
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    resumed = resume_trainer(path, tiny_shapes[0])
    resumed.fit()
    for (name, a), b in zip(
        resumed.model.state_dict().items(), reference.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)


def test_sync_batchnorm_and_ddp_train_on_cuda_under_nccl(monkeypatch, tmp_path):
    """One NCCL process (a one-GPU machine cannot hold two): the conversion to SyncBatchNorm,
    DDP on the GPU and a training step through them."""
    import torch.distributed as dist

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29517")
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        monkeypatch.setattr(distributed, "is_distributed", lambda: True)
        model = build_model(projector="64-32").cuda()
        network = distributed.wrap_model(model, torch.device("cuda", 0))
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
        assert isinstance(network, torch.nn.parallel.DistributedDataParallel)
        _, z = network(torch.randn(16, 3, 16, 16, device="cuda"))
        z.square().mean().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    finally:
        dist.destroy_process_group()
