"""Plain-words explanations of each model and of how its intervals were computed."""

from __future__ import annotations

from typing import Any

from causality.results.result import AttributionResult

#: What each built-in model does, for readers who are not statisticians. Models without an
#: entry (plug-ins) are explained by their registry description alone.
PLAIN_WORDS: dict[str, str] = {
    "last_click": (
        "Every conversion goes entirely to the last channel the person touched before "
        "converting. It is what most analytics tools report by default; it ignores everything "
        "earlier in the journey and does not measure what a channel caused."
    ),
    "first_click": (
        "Every conversion goes entirely to the first channel of the journey, which favours "
        "channels that introduce people to the brand."
    ),
    "linear": (
        "Each touch of the journey gets an equal part of the conversion; a channel touched "
        "twice gets two parts."
    ),
    "position_based": (
        "A U-shaped split: most credit to the first and last touches (40% each by default), "
        "the rest shared among the touches in between."
    ),
    "time_decay": (
        "Touches closer to the conversion get more credit: a touch's weight halves for every "
        "half-life it lies before the conversion."
    ),
    "last_non_direct": (
        "Like last click, but a Direct visit only gets the credit when the journey has no "
        "other channel, because typing the address in is usually the result of earlier "
        "marketing."
    ),
    "markov": (
        "Journeys are read as a chain of steps from channel to channel, ending in a conversion "
        "or not. A channel's removal effect is how much the chance of converting drops when "
        "every journey that reaches that channel is stopped there; conversions are shared in "
        "proportion to the removal effects. The chain is solved exactly, without simulation."
    ),
    "shapley": (
        "Channels are treated as players in a game whose payoff is the conversion rate of "
        "journeys with a given set of channels; each channel gets its average extra payoff "
        "over every order in which the channels could join (its Shapley value). "
        "Non-converting journeys count, so a channel whose presence goes with lower "
        "conversion rates can receive negative credit."
    ),
    "incrementality": (
        "A Bayesian model of each person's daily chance of converting, which rises above an "
        "organic baseline with recent exposure to each channel (exposure effects fade day by "
        "day). A channel's credit is the conversions it added: those expected as observed "
        "minus those expected had its exposures not happened. Conversions that would have "
        "happened anyway stay with the baseline instead of being handed to a channel."
    ),
}

KIND_WORDS: dict[str, str] = {
    "allocation": (
        "Allocation model: it splits 100% of the attributed conversions among channels. It "
        "describes journeys; it does not measure what a channel caused."
    ),
    "incrementality": (
        "Incrementality model: it estimates the conversions each channel caused over an "
        "organic baseline; credit does not sum to all conversions."
    ),
}


def describe_intervals(result: AttributionResult) -> str:
    """One sentence on how ``result``'s intervals were computed.

    Examples
    --------
    >>> import causality as ca
    >>> journeys = ca.Journeys.from_events(ca.datasets.load_example())
    >>> describe_intervals(ca.attribute(journeys, "linear", n_bootstrap=50))
    '90% percentile intervals from 50 Poisson bootstrap replicates over journeys (seed 0).'
    """
    level = f"{result.ci_level:.0%}"
    seed = f" (seed {result.seed})" if result.seed is not None else ""
    diagnostics = result.diagnostics
    if "n_draws_total" in diagnostics:
        return (
            f"{level} equal-tailed posterior intervals from "
            f"{int(diagnostics['n_draws_total']):,} posterior draws{seed}."
        )
    n_bootstrap = diagnostics.get("n_bootstrap", result.params.get("n_bootstrap"))
    if n_bootstrap == 0:
        return "No intervals were computed (n_bootstrap=0)."
    if n_bootstrap is not None:
        return (
            f"{level} percentile intervals from {int(n_bootstrap):,} Poisson bootstrap "
            f"replicates over journeys{seed}."
        )
    return f"{level} intervals, computed by the model{seed}."


def model_description(name: str) -> str:
    """The registry's one-line description of model ``name``, or '' when not registered here."""
    from causality.errors import ModelNotFoundError
    from causality.registry import get_model

    try:
        return str(get_model(name).description)
    except (ModelNotFoundError, ImportError):
        return ""


def methods_entry(label: str, result: AttributionResult) -> dict[str, Any]:
    """Everything the methods section says about one result, as plain strings."""
    description = model_description(result.model)
    return {
        "label": label,
        "model": result.model,
        "kind": result.kind,
        "description": description,
        "plain_words": PLAIN_WORDS.get(result.model, ""),
        "kind_words": KIND_WORDS.get(result.kind, ""),
        "intervals": describe_intervals(result),
        "params": dict(result.params),
    }
