r"""``causality report``: fit several models on one file and write a report.

Examples
--------
::

    causality report events.csv --models last_click,markov,shapley,incrementality \\
        --out report.html
    causality report events.parquet --column user=uid --lookback 14D --out credit.csv
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from causality.errors import ConfigurationError, EstimationError, JourneyValidationError

#: Output formats by file suffix.
FORMATS = {".html": "html", ".htm": "html", ".csv": "csv", ".json": "json", ".pdf": "pdf"}
DEFAULT_MODELS = "last_click,linear,markov,shapley"


def add_commands(subparsers: Any) -> None:
    """Add the ``report`` subcommand to the ``causality`` command line."""
    from causality.cli import _EVENT_ROLES, _PATH_ROLES

    cmd = subparsers.add_parser(
        "report",
        help="fit several models on an event log or path table and write a report "
        "(HTML, CSV, JSON or PDF)",
        description="Fit each model on the same journeys and write one report comparing "
        "them: credit per channel with intervals, last click versus the others, top paths, "
        "diagnostics and methods. The format follows the suffix of --out.",
    )
    cmd.add_argument("file", help="events or path table: .csv, .csv.gz, .parquet")
    cmd.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated model names (see `causality models`); default {DEFAULT_MODELS}",
    )
    cmd.add_argument(
        "--out", required=True, help="output file: .html, .csv, .json or .pdf (sets the format)"
    )
    cmd.add_argument("--title", default=None, help="report title")
    cmd.add_argument("--lookback", default="30D", help="lookback window, e.g. 30D or none")
    cmd.add_argument("--ci-level", type=float, default=0.9, help="interval level")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument(
        "--n-bootstrap", type=int, default=None, help="bootstrap replicates (models that take it)"
    )
    cmd.add_argument("--n-paths", type=int, default=10, help="top converting paths to show")
    cmd.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="map an input column (repeatable), e.g. --column user=uid; roles: "
        + ", ".join(sorted(set(_EVENT_ROLES + _PATH_ROLES))),
    )
    cmd.add_argument("--sep", default=None, help="CSV field separator (default: sniffed)")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Read the file, fit the models, write the report (errors are `CausalityError`)."""
    from causality.cli import read_journeys
    from causality.registry import get_model
    from causality.reports import report

    out = Path(args.out)
    fmt = _output_format(out)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise ConfigurationError("--models is empty. Fix: e.g. --models last_click,markov")
    classes = {name: get_model(name) for name in names}  # unknown names fail before any work
    journeys = read_journeys(args)
    results = [r for r in (_fit(journeys, name, cls, args) for name, cls in classes.items()) if r]
    if not results:
        raise ConfigurationError(
            f"no model could be fitted (tried {', '.join(names)}); see the messages above."
        )
    rep = report(results, title=args.title, journeys=journeys, n_paths=args.n_paths)
    if fmt == "html":
        rep.to_html(out)
    elif fmt == "csv":
        rep.to_csv(out)
    elif fmt == "json":
        rep.to_json(out)
    else:
        rep.to_pdf(out)
    print(f"wrote {out} ({', '.join(rep.labels)}; {len(rep.order)} channels)", file=sys.stderr)


def _output_format(out: Path) -> str:
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigurationError(
            f"cannot tell the report format from --out {str(out)!r}. Fix: end it with "
            f"{', '.join(FORMATS)}."
        )
    if fmt in ("html", "pdf") and importlib.util.find_spec("matplotlib") is None:
        raise ConfigurationError(
            f"{fmt.upper()} reports draw charts with matplotlib, which is not installed. "
            "Fix: pip install 'causality[plot]', or write .csv or .json."
        )
    if not out.parent.is_dir():
        raise ConfigurationError(f"--out folder {str(out.parent)!r} does not exist.")
    return fmt


def _fit(journeys: Any, name: str, cls: type, args: argparse.Namespace) -> Any:
    """Fit one model; None (with a message) when its extra is missing or the data do not suit."""
    from causality.attribution import attribute

    params: dict[str, Any] = {"ci_level": args.ci_level, "seed": args.seed}
    accepted = getattr(cls, "param_names", lambda: ())()  # plug-ins may lack it
    if args.n_bootstrap is not None and "n_bootstrap" in accepted:
        params["n_bootstrap"] = args.n_bootstrap
    print(f"fitting {name}...", file=sys.stderr, flush=True)
    try:
        return attribute(journeys, name, **params)
    except ImportError as exc:  # an optional extra is not installed
        print(f"skipped {name}: {exc}", file=sys.stderr)
    except (JourneyValidationError, EstimationError) as exc:  # e.g. no timestamps for the model
        print(f"skipped {name}: {exc}", file=sys.stderr)
    return None
