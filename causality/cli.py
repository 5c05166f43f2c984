r"""The ``causality`` command: attribute files, list models, run the demo.

Examples
--------
::

    causality demo
    causality models
    causality attribute events.csv --model linear --ci-level 0.8 --format json
    causality attribute Data.csv --model last_click \\
        --column conversions=total_conversions --column value=total_conversion_value \\
        --column nulls=total_null
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from causality.errors import CausalityError, ConfigurationError

# Modules that add their own subcommands through ``add_commands(subparsers)``. Each must import
# cheaply: heavy dependencies (FastAPI, matplotlib) load inside the command's ``run``.
_COMMAND_MODULES: tuple[str, ...] = ("causality.reports.cli", "causality.api.cli")

_EVENT_ROLES = ("user", "anonymous", "timestamp", "event_type", "channel", "value", "offline")
_PATH_ROLES = ("path", "conversions", "value", "nulls")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input or usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.run(args)
    except CausalityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        return 0
    return 0


def _parser() -> argparse.ArgumentParser:
    from causality import __version__

    parser = argparse.ArgumentParser(
        prog="causality", description="Causal marketing attribution with intervals."
    )
    parser.add_argument("--version", action="version", version=f"causality {__version__}")
    sub = parser.add_subparsers(title="commands")

    attribute = sub.add_parser(
        "attribute",
        help="attribute an event log or path table (CSV/Parquet) with one model",
        description="Attribute conversions in an event log (or a path table: a file with a "
        "'path' column) and print the channel table with intervals.",
    )
    attribute.add_argument("file", help="events or path table: .csv, .csv.gz, .parquet")
    attribute.add_argument("--model", default="last_click", help="model name (see `models`)")
    attribute.add_argument("--lookback", default="30D", help="lookback window, e.g. 30D or none")
    attribute.add_argument("--ci-level", type=float, default=0.9, help="interval level")
    attribute.add_argument("--seed", type=int, default=0)
    attribute.add_argument("--n-bootstrap", type=int, default=None, help="bootstrap replicates")
    attribute.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="model parameter (repeatable), e.g. --param half_life=7D",
    )
    attribute.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="map an input column (repeatable), e.g. --column user=uid; roles: "
        + ", ".join(sorted(set(_EVENT_ROLES + _PATH_ROLES))),
    )
    attribute.add_argument("--sep", default=None, help="CSV field separator (default: sniffed)")
    attribute.add_argument("--format", choices=("table", "csv", "json"), default="table")
    attribute.set_defaults(run=_run_attribute)

    models = sub.add_parser("models", help="list every registered model")
    models.set_defaults(run=_run_models)

    demo = sub.add_parser(
        "demo", help="every installed model on the example data, side by side with intervals"
    )
    demo.add_argument("--n-bootstrap", type=int, default=200)
    demo.set_defaults(run=_run_demo)

    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(sub)
    return parser


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"{flag} expects NAME=VALUE; got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_journeys(args: argparse.Namespace) -> Any:
    """Journeys from ``args.file``: a path table when it has a path column, else events.

    Reads ``args.column`` (ROLE=NAME pairs), ``args.sep`` and ``args.lookback``; shared by
    every command that takes an input file.
    """
    from causality.io import read_table
    from causality.journeys import Journeys

    columns = _pairs(args.column, "--column")
    frame = read_table(args.file, sep=args.sep)
    is_paths = columns.get("path", "path") in frame.columns
    roles = _PATH_ROLES if is_paths else _EVENT_ROLES
    unknown = sorted(set(columns) - set(roles))
    if unknown:
        kind = "a path table" if is_paths else "an event log"
        raise ConfigurationError(
            f"unknown --column role(s) {unknown} for {kind}; valid: {list(roles)}"
        )
    if is_paths:
        return Journeys.from_paths(frame, **columns)
    lookback = None if args.lookback.strip().lower() in ("none", "") else args.lookback
    return Journeys.from_events(frame, lookback=lookback, **columns)


def _run_attribute(args: argparse.Namespace) -> None:
    from causality.attribution import attribute

    journeys = read_journeys(args)
    params = {k: _parse_value(v) for k, v in _pairs(args.param, "--param").items()}
    params.update(ci_level=args.ci_level, seed=args.seed)
    if args.n_bootstrap is not None:
        params["n_bootstrap"] = args.n_bootstrap
    result = attribute(journeys, args.model, **params)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=1))
    elif args.format == "csv":
        print(result.to_frame().to_csv(index=False), end="")
    else:
        print(result.summary())


def _run_models(args: argparse.Namespace) -> None:
    from causality.registry import describe_models

    table = describe_models()
    width = max(len(name) for name in table.index)
    for name, row in table.iterrows():
        source = "" if row["source"] == "built-in" else f"  [{row['source']}]"
        print(f"{name:<{width}}  {row['kind']:<14}  {row['description']}{source}")


def _run_demo(args: argparse.Namespace) -> None:
    from causality.attribution import attribute
    from causality.datasets import load_example
    from causality.journeys import Journeys
    from causality.registry import available_models
    from causality.results.compare import compare

    journeys = Journeys.from_events(load_example(), lookback="30D")
    print(f"Example data: {journeys!r}\n")
    from causality.registry import get_model

    results = []
    for name in available_models():
        cls = get_model(name)
        accepted = getattr(cls, "param_names", lambda: ())()
        params = {"seed": 0}
        if "n_bootstrap" in accepted:
            params["n_bootstrap"] = args.n_bootstrap
        print(f"fitting {name}...", file=sys.stderr, flush=True)
        try:
            results.append(attribute(journeys, name, **params))
        except ImportError as exc:  # an optional extra is not installed
            print(f"skipped {name}: {exc}", file=sys.stderr)
        except CausalityError as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
    frame = compare(results)
    shown = frame.xs("estimate", axis=1, level="field").round(1).astype(object)
    for label in shown.columns:
        lo = frame[(label, "lower")].round(1)
        hi = frame[(label, "upper")].round(1)
        shown[label] = [
            f"{e:.1f} [{a:.1f}, {b:.1f}]" for e, a, b in zip(shown[label], lo, hi, strict=True)
        ]
    level = results[0].ci_level if results else 0.9
    print(f"Conversions credited per channel, estimate [{level:.0%} interval]:")
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(shown.to_string())
    for result in results:
        if result.baseline is not None:
            b = result.baseline
            print(
                f"\n{result.model}: organic baseline {b['conversions']:.1f} "
                f"[{b['conversions_lower']:.1f}, {b['conversions_upper']:.1f}] of "
                f"{result.total_conversions + result.unattributed_conversions:.0f} conversions"
            )
    print(
        "\nAllocation models split every attributed conversion among channels; they describe "
        "journeys and are not causal. incrementality estimates what each channel adds over "
        "the organic baseline.\nSee the README: 'Which model should I use?'"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
