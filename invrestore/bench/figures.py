"""Figures of a benchmark run (matplotlib, optional): quality vs time, example restorations.

Both functions return the written file names and write nothing (returning ``[]``) when
matplotlib is not installed. They use the object-oriented API with the Agg canvas, so they
never touch pyplot's global state or need a display.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .report import level_label, summarize

__all__ = ["example_figures", "quality_vs_time"]


def _figure(w, h):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def quality_vs_time(doc, path):
    """Mean PSNR against mean seconds per image, one panel per task, one point per method."""
    summary = [s for s in summarize(doc) if s.get("n")]
    tasks = [t for t in doc.get("tasks", {}) if any(s["task"] == t for s in summary)]
    if not tasks:
        return []
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = _figure(4.2 * cols, 3.4 * rows)
    if fig is None:
        return []
    methods = sorted({s["method"] for s in summary})
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    markers = "osD^v<>pP*X"
    for k, tid in enumerate(tasks):
        ax = fig.add_subplot(rows, cols, k + 1)
        t = doc["tasks"][tid]
        for s in (s for s in summary if s["task"] == tid):
            i = methods.index(s["method"])
            ax.scatter(max(s["seconds"], 1e-4), s["psnr"], color=colors[s["method"]],
                       marker=markers[i // 10 % len(markers)], label=s["method"])
            ax.annotate(s["method"], (max(s["seconds"], 1e-4), s["psnr"]), fontsize=6,
                        xytext=(3, 2), textcoords="offset points")
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter

        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
        ax.set_title(f"{t['dataset']} {t['family']} {level_label(t['family'], t['level'])}",
                     fontsize=8)
        ax.set_xlabel("seconds / image", fontsize=7)
        ax.set_ylabel("PSNR (dB)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return [Path(path).name]


def _show(ax, img, title):
    img = np.clip(np.asarray(img, dtype=np.float64), 0, 1)
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_axis_off()


def _centre(img, size):
    h, w = img.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[top:top + size, left:left + size]


def example_figures(examples, doc, folder, prefix, *, per_row=6, crop=192):
    """One figure per task: clean, degraded and every method's output on the first image
    (the central ``crop x crop`` pixels; PSNR in the titles is over the whole image)."""
    from ..metrics import psnr

    names = []
    for tid, ex in examples.items():
        if not ex["outputs"]:
            continue
        clean = ex["clean"]
        panels = [("clean: " + ex["image"], _centre(clean, crop)),
                  ("degraded", _centre(ex["degraded"], crop))]
        for m, out in ex["outputs"].items():
            panels.append((f"{m} {psnr(out, clean):.2f} dB", _centre(out, crop)))
        cols = min(per_row, len(panels))
        rows = math.ceil(len(panels) / cols)
        fig = _figure(2.3 * cols, 2.6 * rows + 0.4)
        if fig is None:
            return []
        for k, (title, img) in enumerate(panels):
            _show(fig.add_subplot(rows, cols, k + 1), img, title)
        t = doc["tasks"].get(tid, {})
        cropped = max(clean.shape[:2]) > crop
        fig.suptitle(t.get("label", tid) + (f" (central {crop} x {crop} pixels)" if cropped
                                            else ""), fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.6 * rows + 0.4)), h_pad=1.2)
        name = f"{prefix}-example-{_slug(tid)}.png"
        fig.savefig(Path(folder) / name)
        names.append(name)
    return names
