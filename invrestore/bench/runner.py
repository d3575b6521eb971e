"""Run tasks x methods, one image at a time, saving as it goes.

For each task the runner lists its image set (a missing set is reported and the task
skipped), reads and degrades each image (an unreadable image is reported and skipped, the
others still run) and hands the case to every method that applies. The first time a method
meets a task family it runs on a 48 x 48 crop (compilation, weight loading: kept out of
time and memory); on the first image of each task it then runs once untimed with allocation
tracing, which gives its peak memory (:func:`~invrestore.bench.measure.measure` with
``trace=True``). Then every image is timed (wall and CPU seconds) and scored (PSNR,
SSIM). The JSON file is rewritten atomically after every image, so an interrupted run keeps
what it did, and ``resume=True`` continues it.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .measure import max_rss_bytes, measure
from .tasks import NOT_IN_FIGURES, QUICK, kernels_for, list_set, load_case

__all__ = ["SCHEMA", "Results", "machine_info", "run"]

SCHEMA = 1
WARMUP_CROP = 48


def machine_info():
    """CPU model, core count and library versions."""
    import numba
    import scipy
    import skimage

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from .. import __version__

    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "skimage": skimage.__version__,
            "numba": numba.__version__, "invrestore": __version__,
            "platform": platform.platform()}


def _finite(v):
    return None if v is None or not math.isfinite(v) else float(v)


class Results:
    """The JSON document of a run, saved atomically on every change."""

    def __init__(self, path, meta, *, resume=False):
        self.path = Path(path)
        self.doc = None
        if resume and self.path.is_file():
            try:
                doc = json.loads(self.path.read_text())
                if doc.get("schema") == SCHEMA:
                    self.doc = doc
            except (OSError, ValueError):
                self.doc = None
        if self.doc is not None:
            for key in ("quick", "crop", "max_images", "seed"):
                if self.doc.get(key) != meta.get(key):
                    raise ValueError(f"cannot resume {self.path}: it was run with {key} = "
                                     f"{self.doc.get(key)!r}, this run has {meta.get(key)!r}")
        if self.doc is None:
            self.doc = {"schema": SCHEMA, **meta, "tasks": {}, "methods": {}, "records": [],
                        "skipped": [], "unavailable": []}
        else:
            self.doc.update({k: v for k, v in meta.items() if k not in ("started",)})
        self.doc["finished"] = False
        self._index = {(r["task"], r["image"], r["method"]): i
                       for i, r in enumerate(self.doc["records"])}
        self._done = {k for k, i in self._index.items() if "error" not in self.doc["records"][i]}

    def done(self, task_id, image, method):
        return (task_id, image, method) in self._done

    def add(self, record):
        key = (record["task"], record["image"], record["method"])
        if key in self._index:  # a resumed run retrying an earlier error
            self.doc["records"][self._index[key]] = record
        else:
            self._index[key] = len(self.doc["records"])
            self.doc["records"].append(record)
        if "error" not in record:
            self._done.add(key)

    def skip(self, entry):
        if entry not in self.doc["skipped"]:
            self.doc["skipped"].append(entry)

    def save(self):
        from .report import summarize

        self.doc["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
        self.doc["summary"] = summarize(self.doc)
        self.doc["max_rss_mb"] = max_rss_bytes() / 2**20
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=1))
        os.replace(tmp, self.path)


class _Log:
    def __init__(self, stream):
        self.stream = stream
        self.t0 = time.perf_counter()

    def __call__(self, msg):
        el = time.perf_counter() - self.t0
        print(f"[{int(el // 60):3d}:{el % 60:04.1f}] {msg}", file=self.stream, flush=True)


def run(tasks, methods, *, data_root, json_path, quick=False, resume=False, max_images=None,
        crop=None, seed=0, meta=None, stream=None, examples=None, on_task_done=None):
    """Run ``methods`` on ``tasks``; return the results document.

    Parameters
    ----------
    tasks, methods : lists of Task / Method
    data_root : pathlib.Path or None
        Data folder; None skips every task with a message.
    json_path : path
        Results file, rewritten after every image.
    quick : bool
        :data:`~invrestore.bench.tasks.QUICK` sizes: few images, centre crops, 2 kernels.
    resume : bool
        Keep the records of an earlier run in ``json_path`` and skip what they cover.
    max_images, crop : int, optional
        Override the number of images per task and the centre crop.
    seed : int
        Added to every noise and mask seed of the protocols (another realisation).
    meta : dict
        Extra fields stored in the document (command line, ...).
    examples : dict, optional
        Filled with ``task_id -> {"image", "clean", "degraded", "outputs"}`` (float32) for
        the figures.
    on_task_done : callable, optional
        ``on_task_done(task_id, doc)`` after each task that ran (e.g. to write its figure
        and free its examples).
    """
    stream = stream or sys.stdout
    log = _Log(stream)
    if quick:
        max_images = QUICK["images"] if max_images is None else max_images
        crop = QUICK["crop"] if crop is None else crop
    info = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_info(), "quick": bool(quick), "data": str(data_root),
            "max_images": max_images, "crop": crop, "seed": seed, **(meta or {})}
    res = Results(json_path, info, resume=resume)
    for t in tasks:
        res.doc["tasks"][t.id] = t.as_dict()
    for m in methods:
        res.doc["methods"][m.name] = m.as_dict()
    res.save()
    warmed = set()
    try:
        for ti, task in enumerate(tasks):
            todo = [m for m in methods if m.applies(task)]
            head = f"task {ti + 1}/{len(tasks)} {task.id} ({task.label})"
            if not todo:
                log(f"{head}: no selected method applies, skipped")
                continue
            if data_root is None:
                log(f"{head}: skipped, no data folder")
                res.skip({"task": task.id, "reason": "no data folder"})
                continue
            try:
                paths = list_set(data_root, task.dataset)
                kernels = None
                if task.family.startswith("deblur"):
                    kernels = kernels_for(task, data_root)
                    if quick:
                        kernels = kernels[:2]
            except (FileNotFoundError, ValueError, OSError, ImportError) as exc:
                log(f"{head}: skipped, {exc}")
                res.skip({"task": task.id, "set": task.dataset, "reason": str(exc)})
                res.save()
                continue
            if max_images is not None:
                paths = paths[:max_images]
            log(f"{head}: {len(paths)} images x {len(todo)} methods "
                f"({', '.join(m.name for m in todo)})")
            _run_task(task, todo, paths, kernels, data_root, crop, seed, res, log, examples,
                      warmed)
            if on_task_done is not None:
                on_task_done(task.id, res.doc)
        res.doc["finished"] = True
    finally:
        res.save()
    return res.doc


def _memory_run(method, case, log):
    """Untimed first run with allocation tracing: compiles, loads, gives peak memory."""
    try:
        _, seconds, peak, _ = measure(lambda: method.run(case), trace=True)
        return {"memory_mb": peak, "first_run_s": seconds}
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 (the timed run records the error)
        log(f"  {case.name:<14s} {method.name:<18s} untimed first run failed: {exc}")
        return {}


def _warm_up(method, task, root, index, path, kernels, log):
    try:
        case = load_case(task, root, index, path, crop=WARMUP_CROP,
                         kernels=None if kernels is None else kernels[:1])[0]
        method.run(case)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 (the timed run records the error)
        log(f"  warm-up of {method.name} failed: {exc}")


def _run_task(task, methods, paths, kernels, root, crop, seed, res, log, examples, warmed):
    first = set()
    for index, path in enumerate(paths):
        try:
            cases = load_case(task, root, index, path, crop=crop, kernels=kernels, seed=seed)
        except (ValueError, OSError) as exc:
            log(f"  {path.name}: skipped, cannot use the image: {exc}")
            res.skip({"task": task.id, "set": task.dataset, "file": path.name,
                      "reason": str(exc)})
            res.save()
            continue
        for case in cases:
            keep = (examples is not None and task.id not in examples
                    and (task.dataset, path.name) not in NOT_IN_FIGURES)
            if keep:
                examples[task.id] = {"image": case.name,
                                     "clean": case.x.astype(np.float32),
                                     "degraded": case.shown().astype(np.float32),
                                     "outputs": {}}
            for m in methods:
                if res.done(task.id, case.name, m.name):
                    continue
                rec = {"task": task.id, "image": case.name, "method": m.name}
                if m.name not in first:
                    first.add(m.name)
                    if (m.name, task.family, task.color) not in warmed:
                        warmed.add((m.name, task.family, task.color))
                        _warm_up(m, task, root, index, path, kernels, log)
                    rec.update(_memory_run(m, case, log))
                try:
                    x_hat, seconds, rss, cpu = measure(lambda m=m, case=case: m.run(case))
                    if tuple(np.shape(x_hat)) != tuple(case.x.shape):
                        raise ValueError(f"output shape {np.shape(x_hat)} != image shape "
                                         f"{case.x.shape}")
                    p, s = case.score(x_hat)
                    rec.update(psnr=_finite(p), ssim=_finite(s), seconds=seconds,
                               cpu_s=cpu, rss_mb=rss)
                    mem = rec.get("memory_mb")
                    log(f"  {case.name:<14s} {m.name:<18s} PSNR {p:6.2f}  SSIM {s:.4f}  "
                        f"{seconds:8.3f} s" + (f"  {mem:7.1f} MB" if mem is not None else ""))
                    if keep:
                        examples[task.id]["outputs"][m.name] = np.clip(
                            np.asarray(x_hat, dtype=np.float32), 0, 1)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 (recorded; the other methods go on)
                    rec["error"] = f"{type(exc).__name__}: {exc}"
                    log(f"  {case.name:<14s} {m.name:<18s} error: {rec['error']}")
                res.add(rec)
            res.save()
