"""``controlplane bench anomalies``: run a streaming detector over a NAB corpus and score it.

Owns: reading the Numenta Anomaly Benchmark layout (``data/**/*.csv``,
``labels/combined_windows.json``, ``profiles.json``), writing NAB-format
result files, and printing normalised scores beside the published ones.
The scoring maths lives in :mod:`controlplane.evaluation.nab`.

Detection never sees the labels: each file's ``timestamp,value`` rows are fed
in order to a fresh detector, and the labels are read only afterwards, to
score the written results. NAB data: numenta/NAB, MIT licence.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from controlplane.bench._nab_files import epoch_s, ordered_profiles, parse_time, read_series

__all__ = ["register", "run", "PUBLISHED"]



# NAB scoreboard figures (numenta/NAB): the full 58-file corpus (standard
# profile), and the published detectors' raw outputs scored with NAB's own
# scorer on the 41-file subset kept beside this repository (standard, low FP,
# low FN).
PUBLISHED: dict[str, dict[str, Any]] = {
    "CAD OSE": {"full_standard": 69.9, "subset41": (75.9, 72.4, 79.2)},
    "Numenta HTM": {"full_standard": 70.1, "subset41": (75.5, 70.7, 79.0)},
    "ARTime": {"full_standard": 74.9, "subset41": (74.6, 66.5, 79.4)},
}


def register(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from controlplane.bench._anomaly_cv import GRIDS
    from controlplane.detect.registry import UNIVARIATE

    p = kinds.add_parser("anomalies", help="streaming detectors on the Numenta Anomaly Benchmark (NAB)")
    p.add_argument("--nab", type=Path, help="NAB directory (data/, labels/, profiles.json)")
    p.add_argument("--out", type=Path, help="directory for result CSVs, summary.json and the --cv cache")
    p.add_argument("--detector", default="ensemble", choices=UNIVARIATE, help="detector to run (default ensemble)")
    p.add_argument("--cv", choices=("category",), help="leave-one-category-out cross-validation of the ensemble")
    p.add_argument("--grid", default="default", choices=GRIDS, help="--cv: candidate settings (default: default)")
    p.add_argument("--select", default="fit", choices=("fit", "transfer"),
                   help="--cv: rank settings by their fit on the training categories, or by an inner "
                        "leave-one-category-out there (default fit)")
    p.add_argument("--incidents", action="store_true",
                   help="the anomaly advisor against injected serving faults on replayed traffic (no data needed)")
    p.add_argument("--days", type=float, default=2.0, help="--incidents: simulated days per scenario (default 2)")
    p.add_argument("--rate", type=float, default=6.0,
                   help="--incidents: mean arrival rate of the synthetic traffic, req/s (default 6)")
    p.add_argument("--seed", type=int, default=0, help="--incidents: seed of fault times, kinds, sizes and traffic")
    p.add_argument("--azure", type=Path, default=None,
                   help="--incidents: Azure LLM code trace CSV for a second scenario "
                        "(default ../shared/data/traces/azure_llm_2023_code.csv when it exists)")
    p.set_defaults(func=_main)


def detect_file(detector_name: str, stamps: list[datetime], values: list[float]) -> list[float]:
    """Scores of a fresh detector fed the rows one by one (labels are not an input)."""
    from controlplane.detect.registry import make_detector

    detector = make_detector(detector_name)
    return [detector.update(epoch_s(d), v) for d, v in zip(stamps, values, strict=True)]


def run(nab_dir: Path, out_dir: Path, detector_name: str = "ensemble") -> dict[str, Any]:
    """Detect over every data file, write results, then score them; returns the summary."""
    from controlplane.evaluation import nab

    data_dir = nab_dir / "data"
    files = sorted(p for p in data_dir.rglob("*.csv"))
    if not files:
        raise ValueError(f"--nab: no CSV files under {data_dir}")
    series: dict[str, tuple[list[datetime], list[float]]] = {}
    scores: dict[str, list[float]] = {}
    started = time.process_time()
    wall = time.perf_counter()
    for path in files:
        rel = path.relative_to(data_dir).as_posix()
        raw, stamps, values = read_series(path, rel)
        # Scored exactly as written (6 decimals), so rescoring the files gives the same figures.
        result = [round(s, 6) for s in detect_file(detector_name, stamps, values)]
        series[rel], scores[rel] = (stamps, values), result
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value", "anomaly_score"])
            w.writerows(zip(raw, values, (f"{s:.6f}" for s in result), strict=True))
    cpu_s = time.process_time() - started
    wall_s = time.perf_counter() - wall

    # Labels and profiles are read only now, after every file was detected.
    labels = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    profiles = nab.parse_profiles(json.loads((nab_dir / "profiles.json").read_text()))
    corpus = []
    for rel, (stamps, _) in series.items():
        windows = [(parse_time(a, f"labels {rel}"), parse_time(b, f"labels {rel}")) for a, b in labels.get(rel, [])]
        swept = nab.sweep_file(len(stamps), nab.window_rows(stamps, windows, rel), rel)
        corpus.append((swept, scores[rel]))
    results = {name: nab.score_corpus(corpus, profiles[name]) for name in ordered_profiles(profiles)}
    return {
        "detector": detector_name,
        "files": len(files),
        "rows": sum(len(v) for _, v in series.values()),
        "windows": sum(s.windows for s, _ in corpus),
        "detect_cpu_s": round(cpu_s, 3),
        "detect_wall_s": round(wall_s, 3),
        "profiles": {
            name: {"normalised": round(r.normalised, 2), "threshold": r.threshold, "raw": round(r.raw, 4),
                   "null": r.null, "perfect": r.perfect, "tp": r.tp, "fp": r.fp, "fn": r.fn,
                   "per_file": {k: round(v, 4) for k, v in r.per_file.items()}}
            for name, r in results.items()
        },
        "published": {k: {"full_standard": v["full_standard"], "subset41": list(v["subset41"])}
                      for k, v in PUBLISHED.items()},
    }


def render(summary: dict[str, Any]) -> str:
    names = list(summary["profiles"])
    short = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
    head = f"{'detector':<34}" + "".join(f"{short.get(n, n):>10}" for n in names)
    lines = [
        f"NAB: {summary['files']} files, {summary['rows']} rows, {summary['windows']} windows",
        head,
        f"{summary['detector'] + ' (this run)':<34}"
        + "".join(f"{summary['profiles'][n]['normalised']:>10.1f}" for n in names),
    ]
    if summary["files"] == 41:
        for det, pub in PUBLISHED.items():
            lines.append(f"{det + ' (published, 41 files)':<34}" + "".join(f"{v:>10.1f}" for v in pub["subset41"]))
    lines.append("published full-corpus standard: "
                 + ", ".join(f"{k} {v['full_standard']}" for k, v in PUBLISHED.items()))
    for n in names:
        p = summary["profiles"][n]
        lines.append(f"{short.get(n, n)}: threshold {p['threshold']:.6g}, raw {p['raw']:.3f} "
                     f"(null {p['null']:.1f}, perfect {p['perfect']:.1f}), TP {p['tp']} FP {p['fp']} FN {p['fn']}")
    lines.append(f"detection runtime: {summary['detect_cpu_s']:.2f} s CPU, {summary['detect_wall_s']:.2f} s wall "
                 f"for {summary['rows']} rows (one core)")
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    if args.incidents:
        from controlplane.bench._anomaly_incidents import AZURE_CODE, render_incidents, run_incidents

        incidents = run_incidents(args.days, args.seed, args.azure or AZURE_CODE, args.rate)
        print(render_incidents(incidents))
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "incidents.json").write_text(json.dumps(incidents, indent=2, sort_keys=True) + "\n")
        return 0
    if args.nab is None:
        raise ValueError("--nab: required (a NAB directory with data/, labels/, profiles.json)")
    if args.cv:
        from controlplane.bench._anomaly_cv import render_cv, run_cv

        cache = args.out / "cache" if args.out is not None else None
        cv = run_cv(args.nab, cache, args.grid, args.select)
        print(render_cv(cv))
        if args.out is not None:
            target = args.out / f"cv-{args.grid}-{args.select}.json"
            target.write_text(json.dumps(cv, indent=2, sort_keys=True) + "\n")
            print(f"cross-validation written to {target}")
        return 0
    if args.out is None:
        raise ValueError("--out: required with --nab (where result CSVs and summary.json go)")
    summary = run(args.nab, args.out, args.detector)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(render(summary))
    print(f"results and summary.json written under {args.out}")
    return 0
