"""Summaries and the Markdown report of a benchmark results document.

Examples
--------
>>> from invrestore.bench.report import summarize
>>> doc = {"records": [{"task": "denoise:Set12:25", "image": "01.png", "method": "tv",
...                     "psnr": 29.0, "ssim": 0.8, "seconds": 0.1, "memory_mb": 3.0}],
...        "tasks": {"denoise:Set12:25": {"family": "denoise", "dataset": "Set12",
...                                        "level": 25}}}
>>> summarize(doc)[0]["psnr"]
29.0
"""

from __future__ import annotations

import statistics

from .references import SOURCES, label_for, published, source

__all__ = ["FAMILY_TITLES", "level_label", "render_markdown", "render_sections", "summarize"]

FAMILY_TITLES = {
    "denoise": "Denoising",
    "deblur_levin": "Deblurring: Levin et al. images and kernels",
    "deblur_gauss": "Deblurring: Gaussian blur",
    "sr": "Super-resolution (bicubic degradation)",
    "inpaint": "Inpainting",
    "all_in_one": "All at once: blur + x2 decimation + missing pixels + noise",
}


def level_label(family, level):
    if family == "denoise":
        return f"sigma {level:g}"
    if family.startswith("deblur"):
        return f"noise {level:g}/255"
    if family == "sr":
        return f"x{level:g}"
    if family == "inpaint":
        return f"{level:g}% missing"
    return f"all at once, noise {level:g}/255"


def summarize(doc):
    """Mean PSNR/SSIM, mean and median seconds, max peak memory per (task, method).

    The published number for the same algorithm (and our difference to it) is added when
    the run used whole images of the whole set (not ``--quick``, ``--crop``,
    ``--max-images``).
    """
    groups = {}
    for r in doc.get("records", []):
        groups.setdefault((r["task"], r["method"]), []).append(r)
    comparable = not (doc.get("quick") or doc.get("crop") or doc.get("max_images"))
    # another noise realisation (--seed) is still comparable: the published means are too
    out = []
    for (tid, method), rs in groups.items():
        ok = [r for r in rs if "error" not in r and r.get("psnr") is not None]
        row = {"task": tid, "method": method, "n": len(ok), "errors": len(rs) - len(ok)}
        if ok:
            secs = [r["seconds"] for r in ok]
            row.update(psnr=statistics.fmean(r["psnr"] for r in ok),
                       ssim=statistics.fmean(r["ssim"] for r in ok),
                       seconds=statistics.fmean(secs), seconds_median=statistics.median(secs),
                       peak_mb=max([r["memory_mb"] for r in rs if "memory_mb" in r]
                                   + [r.get("rss_mb", 0.0) for r in ok]))
        task = doc.get("tasks", {}).get(tid)
        if task and ok and comparable:
            label = label_for(method, task["family"], task["dataset"])
            ref = published(task["family"], task["dataset"]).get(label, {}).get(task["level"])
            if ref is not None:
                row.update(published=ref, published_method=label, delta=row["psnr"] - ref)
        out.append(row)
    return out


def _fmt_time(s):
    if s is None:
        return "-"
    return f"{s:.3f}" if s < 0.1 else f"{s:.2f}" if s < 100 else f"{s:.0f}"


def _table(doc, family, dataset, tasks, summary, compact=False):
    levels = sorted(tasks, key=lambda t: t["level"])
    ids = [t["id"] for t in levels]
    rows = {}
    for s in summary:
        if s["task"] in ids:
            rows.setdefault(s["method"], {})[s["task"]] = s
    method_order = [m for m in doc.get("methods", {}) if m in rows] + \
        [m for m in rows if m not in doc.get("methods", {})]
    counts = [s["n"] for r in rows.values() for s in r.values()]
    full_n = max(counts) if counts else 0
    head = ["method"] + [level_label(family, t["level"]) for t in levels]
    head += ["s / image"] + ([] if compact else ["peak MB"]) + ["vs published"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in method_order:
        cells, times, deltas, peak = [m], [], [], 0.0
        for tid in ids:
            s = rows[m].get(tid)
            if s is None or s["n"] == 0:
                cells.append("error" if s is not None and s["errors"] else "-")
                times.append(None)
                continue
            c = f"{s['psnr']:.2f}" if compact else f"{s['psnr']:.2f} / {s['ssim']:.3f}"
            if s["n"] != full_n:
                c += f" (n={s['n']})"
            if s["errors"]:
                c += f" ({s['errors']} failed)"
            cells.append(c)
            times.append(s["seconds"])
            peak = max(peak, s["peak_mb"])
            if "delta" in s:
                deltas.append(f"{s['delta']:+.2f}")
        cells.append(" / ".join(_fmt_time(t) for t in times))
        if not compact:
            cells.append(f"{peak:.0f}" if peak else "-")
        cells.append(" / ".join(deltas) if deltas else "")
        lines.append("| " + " | ".join(cells) + " |")
    refs = published(family, dataset)
    notes = []
    for name, values in refs.items():
        cells = [f"*published {name}*"]
        cells += [f"*{values[t['level']]:.2f}*" if t["level"] in values else "-" for t in levels]
        cells += [""] * (2 if compact else 3)
        lines.append("| " + " | ".join(cells) + " |")
        key = source(family, dataset, name)
        if key not in notes:
            notes.append(key)
    return lines, notes


def render_sections(doc, *, compact=False, heading="##"):
    """The per-family tables of a results document: ``(lines, source keys)``.

    ``compact``: PSNR only (no SSIM, no memory), for the README.
    """
    out = []
    summary = summarize(doc)
    tasks = doc.get("tasks", {})
    by_family = {}
    for tid, t in tasks.items():
        by_family.setdefault(t["family"], {}).setdefault(t["dataset"], []).append(
            {**t, "id": tid})
    all_notes = []
    for family, title in FAMILY_TITLES.items():
        if family not in by_family:
            continue
        sets = by_family[family]
        if not any(s["task"] in {t["id"] for ts in sets.values() for t in ts}
                   for s in summary):
            continue
        out += ["", f"{heading} {title}", ""]
        first = next(iter(sets.values()))[0]
        out += [f"Protocol: {first['protocol']}.", ""]
        for dataset, ts in sets.items():
            lines, notes = _table(doc, family, dataset, ts, summary, compact)
            if len(lines) <= 2:
                continue
            out += [f"**{dataset}**" + (" (colour)" if ts[0].get("color") else ""), ""]
            out += lines + [""]
            all_notes += [n for n in notes if n not in all_notes]
    return out, all_notes


def render_markdown(doc, *, figures=()):
    """The report of a results document (Markdown text)."""
    m = doc.get("machine", {})
    out = ["# invrestore benchmark results", ""]
    out.append(f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores (Numba threads "
               f"{m.get('numba_threads', '?')}), Python {m.get('python', '?')}, NumPy "
               f"{m.get('numpy', '?')}, scikit-image {m.get('skimage', '?')}, invrestore "
               f"{m.get('invrestore', '?')}. Run {doc.get('started', '?')} to "
               f"{doc.get('updated', '?')}{'' if doc.get('finished') else ' (not finished)'}.")
    if doc.get("command"):
        out.append(f"Command: `{doc['command']}`.")
    if doc.get("seed"):
        out.append(f"Every noise and mask seed of the protocols is offset by {doc['seed']} "
                   "(another realisation).")
    out += ["", ("Timings are wall-clock seconds per image on the machine above (shared with "
            "other work while measured): compare them as ratios between rows, not across "
            "machines. Each method first runs on a small crop (compilation, weight loading), "
            "then once untimed on the first image of each task with allocation tracing: peak "
            "memory is the larger of the tracemalloc peak and the resident-set increase during "
            "that run (or any timed run). Cells: mean PSNR "
            "(dB) / mean SSIM over the images; `vs published`: our PSNR minus the published "
            "one for the same algorithm or weights.")]
    if doc.get("quick"):
        out += ["", (f"**Quick mode**: at most {doc.get('max_images')} images per set, centre "
                f"crops of {doc.get('crop')} pixels, 2 Levin kernels: not comparable with "
                "published numbers.")]
    sections, all_notes = render_sections(doc)
    out += sections
    if all_notes:
        out += ["## Published numbers", ""]
        out += [f"- {key}: {SOURCES[key]}" for key in all_notes]
    methods = doc.get("methods", {})
    if methods:
        out += ["", "## Methods", ""]
        out += [f"- `{name}` ({info.get('kind')}): {info.get('description')}"
                for name, info in methods.items()]
    if doc.get("unavailable"):
        out += ["", "Not available here (package or weights missing): "
                + ", ".join(f"`{n}`" for n in doc["unavailable"]) + "."]
    if doc.get("skipped"):
        out += ["", "## Skipped", ""]
        for s in doc["skipped"]:
            what = s.get("file") or s.get("set") or s.get("task")
            out.append(f"- {s.get('task', '')} {what}: {s['reason']}")
    errors = {}
    for r in doc.get("records", []):
        if "error" in r:
            errors.setdefault((r["task"], r["method"]), r["error"])
    if errors:
        out += ["", "## Errors", ""]
        out += [f"- {t} `{mth}`: {e}" for (t, mth), e in errors.items()]
    if figures:
        out += ["", "## Figures", ""]
        out += [f"![{f}]({f})" for f in figures]
    return "\n".join(out) + "\n"
