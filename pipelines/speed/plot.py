"""The throughput plot of a speed benchmark result: training tokens/s against sequence length."""

import io
from pathlib import Path

from ..files import write_bytes
from .config import SCAN_OFF


def plot_throughput(result: dict, path: Path) -> Path:
    """Two panels, one line per size/model: target tokens/s (log scale) and the fraction of the matmul
    ceiling, against source = target length (log2 scale). Written atomically (`pipelines.files`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    series = {}
    for row in result["training"]:
        if row.get("tokens_per_second"):
            series.setdefault(f"{row['size']}/{row['model']}", []).append(
                (row["length"], row["tokens_per_second"], row.get("fraction_of_ceiling"))
            )
    figure, (speed, utilisation) = plt.subplots(1, 2, figsize=(12, 4.8))
    for label, points in sorted(series.items()):
        points.sort()
        lengths = [p[0] for p in points]
        # Dashed: the Transformer; dotted: a minimal cell run step by step (config.SCAN_OFF).
        style = "--" if "transformer" in label else ":" if label.split("/", 1)[1] in SCAN_OFF else "-"
        speed.plot(lengths, [p[1] for p in points], style, marker="o", label=label)
        if all(p[2] is not None for p in points):
            utilisation.plot(lengths, [100 * p[2] for p in points], style, marker="o", label=label)
    environment = result["environment"]
    where = f"{environment['device_name']} ({environment['device']}, {environment['torch_threads']} threads, " \
            f"{environment['precision']})"
    batch_tokens = result["settings"]["batch_tokens"]
    speed.set_title(f"Training throughput, {batch_tokens} target tokens per batch")
    speed.set_ylabel("target tokens / s")
    speed.set_yscale("log")
    ceiling = result.get("ceiling", {})
    utilisation.set_title(f"Model FLOP/s as % of the matmul ceiling ({ceiling.get('gflops_median', 0):.0f} GFLOP/s)")
    utilisation.set_ylabel("% of ceiling")
    lengths = sorted({row["length"] for row in result["training"]})
    for axis in (speed, utilisation):
        axis.set_xscale("log", base=2)
        if lengths:
            axis.set_xticks(lengths, [str(length) for length in lengths])
            axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlabel("source = target length (tokens)")
        axis.grid(True, which="both", alpha=0.3)
    if series:
        speed.legend(fontsize=8)
    figure.suptitle(where, fontsize=9)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    return write_bytes(path, image.getvalue())
