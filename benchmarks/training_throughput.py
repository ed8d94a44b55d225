"""Throughput of fold-batched training (SAA and MLP learners) against the machine's GEMM speed.

Synthetic Gaussian-mixture cells (N × 453 features, 6 classes) stand in for BBBC021; only shapes
matter here. Run from the project root, e.g.::

    PYTHONPATH=src python benchmarks/training_throughput.py --cells 4096 --batch-size 1024
    PYTHONPATH=src python benchmarks/training_throughput.py --learners mlp --mlp-batch-size 256

FLOP counts (dense layers, per cell and per fold): fine-tuning forward + backward ≈ 6 × W, W the
weights of the hidden and logistic layers; pretraining layer k ≈ 2 × (weights below k, frozen
forward) + 10 × W_k (encoder and decoder forward 4 W_k, their backward 6 W_k; no gradient to the
input). The same counts serve the MLP (its tied-weight denoising decoder has the SAA's shape);
its layer normalisation, dropout, hashed noise and AdamW update are elementwise and not counted.
GEMM reference: the same (batch × d_in) @ (d_in × d_out) products, all folds at once.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from keras import ops

from hca_dtl.model import MLPConfig, SAAConfig, train_folds
from hca_dtl.model.batched import (FinetuneStage, FoldBatches, FoldSAA, PretrainStage,
                                   ResidentCells, fit_stage)
from hca_dtl.model.mlp.batched import DenoisingStage, FoldMLP, FoldSteps, MLPFinetuneStage
from hca_dtl.model.mlp.optimizer import FoldAdamW
from hca_dtl.model.mlp.weights import fit_standardization, initial_weights_mlp
from hca_dtl.model.weights import fit_min_max, initial_weights
from hca_dtl.runtime import device_description, keras_backend

N_FEATURES, N_CLASSES = 453, 6


def synthetic_problem(n_cells: int, n_folds: int, seed: int = 0):
    """(N, 453) float32 cells of 6 Gaussian classes and (N, F) roles: fold f tests 'compound' f."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n_cells).astype(np.int32)
    centres = rng.normal(0, 1, (N_CLASSES, N_FEATURES))
    x = (centres[y] + rng.normal(0, 1, (n_cells, N_FEATURES))).astype(np.float32)
    compound = np.arange(n_cells) % n_folds
    valid = rng.random(n_cells) < 0.1
    roles = np.where(valid, 2, 1)[:, None].repeat(n_folds, axis=1).astype(np.int8)
    roles[compound[:, None] == np.arange(n_folds)[None, :]] = 3
    return x, y, roles


def timed_epochs(stage, batches: FoldBatches, epochs: int, optimizer=0.01) -> float:
    """Seconds per epoch over ``epochs`` epochs, after one untimed warm-up epoch (compilation);
    ``optimizer``: as ``fit_stage``'s (default plain SGD)."""
    seconds = []
    fit_stage(stage, batches, optimizer, epochs + 1, lambda epoch, took: bool(seconds.append(took)))
    return float(np.mean(seconds[1:]))


def gemm_gflops(shapes, n_folds: int, batch: int, repeats: int = 5) -> tuple[float, float]:
    """GFLOP/s of the forward products of every layer, all folds: (keras.ops backend, numpy)."""
    rng = np.random.default_rng(0)
    flops = sum(2.0 * n_folds * batch * d_in * d_out for d_in, d_out in shapes)
    a = [rng.random((n_folds, batch, d_in), dtype=np.float32) for d_in, _ in shapes]
    b = [rng.random((n_folds, d_in, d_out), dtype=np.float32) for d_in, d_out in shapes]
    ta, tb = [ops.convert_to_tensor(v) for v in a], [ops.convert_to_tensor(v) for v in b]

    def backend_run():
        out = [ops.matmul(p, q) for p, q in zip(ta, tb)]
        ops.convert_to_numpy(ops.sum(out[-1]))  # wait for the device

    def numpy_run():
        for p, q in zip(a, b):
            for fold in range(n_folds):
                p[fold] @ q[fold]

    rates = []
    for run in (backend_run, numpy_run):
        run()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        rates.append(flops * repeats / (time.perf_counter() - start) / 1e9)
    return rates[0], rates[1]


def peak_device_memory() -> str:
    backend = keras_backend()
    try:
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
        elif backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return f"{stats['peak_bytes_in_use'] / 2**30:.2f} GiB"
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return f"{tf.config.experimental.get_memory_info('GPU:0')['peak'] / 2**30:.2f} GiB"
    except Exception as error:  # report, do not fail the benchmark
        return f"unavailable ({error})"
    return "n/a (CPU)"


def measure_saa(args: argparse.Namespace) -> None:
    """The paper's SAA: fine-tuning and pretraining throughput, engines, projection (prints)."""
    config = SAAConfig(hidden_units=tuple(args.hidden), batch_size=args.batch_size, dtype=args.dtype)
    x, y, roles = synthetic_problem(args.cells, args.folds)
    weights = initial_weights(N_FEATURES, N_CLASSES, args.folds, config)
    weights.minimum, weights.scale = fit_min_max(x, roles == 1)
    network = FoldSAA(weights, dtype=config.dtype)
    cells = ResidentCells(x, y)
    batches = FoldBatches(roles == 1, args.batch_size, 0, np.arange(args.folds)[:, None], 0)
    n_train = int((roles == 1).sum(axis=0).max())
    sizes = [N_FEATURES, *args.hidden]
    layer_weights = [sizes[k] * sizes[k + 1] for k in range(len(args.hidden))]
    finetune_w = sum(layer_weights) + sizes[-1] * N_CLASSES
    cell_folds = n_train * args.folds  # steps run the largest fold's batches for every fold

    network.set_trainable(None, logistic=True)
    finetune = FinetuneStage(network, cells, N_CLASSES)
    ft_epoch = timed_epochs(finetune, batches, args.epochs)
    ft_gflops = 6.0 * finetune_w * cell_folds / ft_epoch / 1e9

    network.set_trainable([0], logistic=False)
    pretrain = PretrainStage(network, cells, 0, "cross_entropy")
    pt_epoch = timed_epochs(pretrain, batches, args.epochs)
    pt_gflops = 10.0 * layer_weights[0] * cell_folds / pt_epoch / 1e9

    shapes = [(sizes[k], sizes[k + 1]) for k in range(len(args.hidden))] + [(sizes[-1], N_CLASSES)]
    gemm_backend, gemm_numpy = gemm_gflops(shapes, args.folds, args.batch_size)

    print(f"\nnetwork {N_FEATURES}-{'-'.join(map(str, args.hidden))}-{N_CLASSES}, {args.folds} folds, "
          f"{n_train} training cells per fold (largest), batch {args.batch_size}, {args.dtype}")
    print(f"1. fine-tuning: {ft_epoch:.2f} s/epoch, {cell_folds / ft_epoch:,.0f} cell-folds/s, "
          f"{ft_gflops:.1f} GFLOP/s (6 × {finetune_w:,} weights per cell per fold)")
    print(f"   pretraining layer 1: {pt_epoch:.2f} s/epoch, {cell_folds / pt_epoch:,.0f} cell-folds/s, "
          f"{pt_gflops:.1f} GFLOP/s (10 × {layer_weights[0]:,} weights per cell per fold)")
    print(f"2. GEMM, same shapes: keras.ops.matmul {gemm_backend:.1f} GFLOP/s, numpy {gemm_numpy:.1f} "
          f"GFLOP/s; fine-tuning / best GEMM = {ft_gflops / max(gemm_backend, gemm_numpy):.0%}, "
          f"pretraining / best GEMM = {pt_gflops / max(gemm_backend, gemm_numpy):.0%}")

    if not args.skip_sequential:
        small = SAAConfig(hidden_units=tuple(args.small_hidden), pretrain_epochs=1,
                          finetune_max_epochs=2, batch_size=args.small_batch_size,
                          patience_epochs=100)
        xs, ys, rs = synthetic_problem(args.small_cells, args.folds, seed=1)
        seconds = {}
        for engine in ("batched", "sequential"):
            start = time.perf_counter()
            train_folds(xs, ys, rs, N_CLASSES, small, engine=engine, progress=False)
            seconds[engine] = time.perf_counter() - start
        print(f"3. small network {N_FEATURES}-{'-'.join(map(str, args.small_hidden))}-{N_CLASSES}, "
              f"{args.folds} folds, {args.small_cells} cells, batch {args.small_batch_size}, 1 "
              f"pretraining epoch per layer + 2 fine-tuning epochs: batched {seconds['batched']:.1f} s, "
              f"sequential {seconds['sequential']:.1f} s, speed-up {seconds['sequential'] / seconds['batched']:.1f}×")

    def repetition(n_cells: int, n_folds: int, pretrain: bool) -> float:
        """Projected seconds of one LOOCV repetition (compute-bound: time ∝ cells × folds × FLOPs)."""
        cf = n_cells * n_folds
        total = args.assumed_finetune_epochs * 6.0 * finetune_w * cf / (ft_gflops * 1e9)
        if pretrain:
            for k, w_k in enumerate(layer_weights):
                flops = 2.0 * sum(layer_weights[:k]) + 10.0 * w_k
                total += 60 * flops * cf / (pt_gflops * 1e9)
        return total

    bl1 = repetition(args.pset1_cells, 20, True)
    table = 10 * sum(repetition(n, f, bl) for n, f in ((args.pset1_cells, 20), (args.pset2_cells, 18))
                     for bl in (True, False, False, False, False))
    sources = sum(repetition(n, 1, True) for n in (args.pset1_cells, args.pset2_cells))
    print(f"4. projection at the measured rates ({args.assumed_finetune_epochs} fine-tuning epochs "
          f"assumed, 60 pretraining epochs per layer, training cells ≈ all cells of the Pset):")
    print(f"   BL Pset1, one repetition ({args.pset1_cells} cells, 20 folds): {bl1 / 3600:.1f} h "
          f"(fine-tuning {args.pset1_cells * 20 / (cell_folds / ft_epoch):.0f} s/epoch, pretraining "
          f"layer 1 {args.pset1_cells * 20 / (cell_folds / pt_epoch):.0f} s/epoch)")
    print(f"   Table 1 (BL + DTL_1-4 × 2 directions × 10 repetitions) + 2 source models: "
          f"{(table + sources) / 3600:.1f} h")

    if args.measure_repetition:
        # The paper's profile (SAAConfig defaults: 7 × 500, 60 pretraining epochs, ≤ 1000
        # fine-tuning epochs under the patience rule) on a Pset1-sized problem, 20 folds at once.
        paper = SAAConfig(batch_size=args.batch_size, dtype=args.dtype)
        xr, yr, rr = synthetic_problem(args.pset1_cells, 20, seed=2)
        start = time.perf_counter()
        ensemble = train_folds(xr, yr, rr, N_CLASSES, paper, progress=False)
        wall = time.perf_counter() - start
        print(f"   measured: BL Pset1-sized repetition ({args.pset1_cells} cells, 20 folds, 7 × 500, "
              f"batch {args.batch_size}, {args.dtype}): {wall:.1f} s wall (pretraining "
              f"{ensemble.timings['pretrain_seconds']:.1f} s, fine-tuning "
              f"{ensemble.timings['finetune_seconds']:.1f} s, {ensemble.epochs_run.mean():.0f} "
              f"fine-tuning epochs per fold on average); peak device memory {peak_device_memory()}")

def measure_mlp(args: argparse.Namespace) -> None:
    """The MLP learner in the batched engine: fine-tuning (AdamW, dropout) and denoising
    pretraining of layer 1, against the GEMM bound of its shapes; projection to paper scale."""
    config = MLPConfig(hidden_units=tuple(args.mlp_hidden), batch_size=args.mlp_batch_size,
                       dropout=args.mlp_dropout, layer_norm=args.mlp_layer_norm,
                       activation=args.mlp_activation, dtype=args.dtype)
    x, y, roles = synthetic_problem(args.cells, args.folds)
    weights = initial_weights_mlp(N_FEATURES, N_CLASSES, args.folds, config)
    weights.mean, weights.inv_sd = fit_standardization(x, roles == 1)
    network = FoldMLP(weights, config.activation, dtype=config.dtype)
    cells = ResidentCells(x, y)
    keys = np.arange(args.folds)[:, None]
    n_hidden = len(config.hidden_units)
    n_train = int((roles == 1).sum(axis=0).max())
    cell_folds = n_train * args.folds
    sizes = [N_FEATURES, *config.hidden_units]
    layer_weights = [sizes[k] * sizes[k + 1] for k in range(n_hidden)]
    finetune_w = sum(layer_weights) + sizes[-1] * N_CLASSES

    network.set_trainable(range(n_hidden + 1))
    steps = FoldSteps(args.folds, n_hidden)
    finetune = MLPFinetuneStage(network, cells, N_CLASSES, config.dropout, steps)
    ft_epoch = timed_epochs(finetune, FoldBatches(roles == 1, config.batch_size, 0, keys, n_hidden),
                            args.epochs, FoldAdamW(config.learning_rate, config.weight_decay, steps.gate))
    ft_gflops = 6.0 * finetune_w * cell_folds / ft_epoch / 1e9

    network.set_trainable([0])
    steps = FoldSteps(args.folds, 1)
    pretrain = DenoisingStage(network, cells, 0, config.corruption, steps)
    pt_epoch = timed_epochs(pretrain, FoldBatches(roles == 1, config.batch_size, 0, keys, 0),
                            args.epochs, FoldAdamW(config.pretrain_learning_rate, 0.0, steps.gate))
    pt_gflops = 10.0 * layer_weights[0] * cell_folds / pt_epoch / 1e9

    shapes = [(sizes[k], sizes[k + 1]) for k in range(n_hidden)] + [(sizes[-1], N_CLASSES)]
    gemm = max(gemm_gflops(shapes, args.folds, config.batch_size))
    print(f"\nMLP {N_FEATURES}-{'-'.join(map(str, config.hidden_units))}-{N_CLASSES} "
          f"({config.activation}, layer norm {'on' if config.layer_norm else 'off'}, dropout "
          f"{config.dropout}), {args.folds} folds, {n_train} training cells per fold (largest), "
          f"batch {config.batch_size}, {config.dtype}, batched engine")
    print(f"M1. fine-tuning (AdamW): {ft_epoch:.2f} s/epoch, {cell_folds / ft_epoch:,.0f} "
          f"cell-folds/s, {ft_gflops:.1f} GFLOP/s (6 × {finetune_w:,} weights per cell per fold), "
          f"{ft_gflops / gemm:.0%} of the best GEMM ({gemm:.1f} GFLOP/s, same shapes and batch)")
    print(f"M2. denoising pretraining layer 1 (Adam): {pt_epoch:.2f} s/epoch, "
          f"{cell_folds / pt_epoch:,.0f} cell-folds/s, {pt_gflops:.1f} GFLOP/s (10 × "
          f"{layer_weights[0]:,} weights per cell per fold), {pt_gflops / gemm:.0%} of the best GEMM")
    rate = cell_folds / ft_epoch
    for name, n_cells, n_folds in (("Pset1", args.pset1_cells, 20), ("Pset2", args.pset2_cells, 18)):
        epoch = n_cells * n_folds / rate
        pretraining = config.pretrain_epochs * sum(
            (2.0 * sum(layer_weights[:k]) + 10.0 * w_k) * n_cells * n_folds / (pt_gflops * 1e9)
            for k, w_k in enumerate(layer_weights))
        print(f"M3. {name} one repetition ({n_cells} cells, {n_folds} folds) at these rates: "
              f"{epoch:.0f} s per fine-tuning epoch, {args.mlp_assumed_epochs * epoch / 3600:.2f} h "
              f"for {args.mlp_assumed_epochs} epochs (assumed); denoising pretraining of every "
              f"layer ({config.pretrain_epochs} epochs each) adds {pretraining / 3600:.2f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", nargs="+", choices=("saa", "mlp"), default=["saa", "mlp"])
    parser.add_argument("--cells", type=int, default=4096, help="cells of the throughput problem")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500] * 7)
    parser.add_argument("--folds", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per stage")
    parser.add_argument("--small-hidden", type=int, nargs="+", default=[64] * 3)
    parser.add_argument("--small-cells", type=int, default=8000)
    parser.add_argument("--small-batch-size", type=int, default=128)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--pset1-cells", type=int, default=60000)
    parser.add_argument("--pset2-cells", type=int, default=88649)
    parser.add_argument("--assumed-finetune-epochs", type=int, default=150,
                        help="fine-tuning epochs the patience rule typically runs (assumption)")
    parser.add_argument("--measure-repetition", action="store_true",
                        help="also train one BL Pset1 repetition at paper scale and time it (GPU: "
                             "seconds to minutes; 2 CPU cores: hours)")
    parser.add_argument("--mlp-hidden", type=int, nargs="+", default=list(MLPConfig().hidden_units))
    parser.add_argument("--mlp-batch-size", type=int, default=256)
    parser.add_argument("--mlp-dropout", type=float, default=MLPConfig().dropout)
    parser.add_argument("--mlp-layer-norm", action="store_true")
    parser.add_argument("--mlp-activation", default="relu", choices=("relu", "gelu"))
    parser.add_argument("--mlp-assumed-epochs", type=int, default=60,
                        help="fine-tuning epochs the MLP's patience rule typically runs (assumption)")
    args = parser.parse_args()

    print(f"backend: {keras_backend()}   device: {device_description()}")
    if "saa" in args.learners:
        measure_saa(args)
    if "mlp" in args.learners:
        measure_mlp(args)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak host memory (ru_maxrss) {rss:.2f} GiB; peak device memory {peak_device_memory()}")


if __name__ == "__main__":
    main()
