"""Default generating parameters and the named scenarios.

Every scenario starts from :data:`DEFAULTS` (which *is* the ``confounded`` world) and applies
its own overrides; ``simulate(..., **overrides)`` then applies the caller's. Per-channel
parameters are dicts keyed by channel name; ``mediation`` and ``synergy`` are nested dicts
``{from_channel: {to_channel: strength}}``.

Parameter meanings (all per day unless said otherwise):

``exposure``       probability that an average-intent user with no recent site visit is
                   exposed to the channel on a day (before targeting and mediation).
``targeting``      log-multiplier of exposure per unit of latent intent (confounding);
                   the multiplier ``exp(k z - k^2 / 2)`` has mean 1 over users.
``visit_boost``    relative rise of exposure when the user visited the site in the last
                   ``visit_window`` days (retargeting pools, abandoned-cart emails).
``mediation``      ``{a: {b: m}}``: exposure to ``b`` is multiplied by
                   ``1 + m * (1 - exp(-adstock_a(yesterday)))``; must be acyclic, m >= 0.
``lift``           relative rise of the daily conversion hazard from one fresh exposure.
``decay``          geometric adstock decay: ``A_t = decay * A_(t-1) + exposed_t``.
``saturation``     ``k`` of ``g(A) = (1 - exp(-k A)) / (1 - exp(-k))`` (``g(1) = 1``;
                   ``k = 0`` is linear, large ``k`` means only the first exposure counts).
``synergy``        ``{a: {b: s}}`` adds ``s * g_a * g_b`` to the summed lift (interaction).
``lift_cap``       if set, the summed lift ``L`` becomes ``cap * (1 - exp(-L / cap))``
                   (joint saturation across channels); ``None`` keeps lifts additive.
``tracking_loss``  share of the channel's touches missing from the event log (they still
                   act causally).
``base_hazard``    mean organic daily conversion hazard; a user's is
                   ``base_hazard * exp(intent_sd * z - intent_sd^2 / 2)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHANNELS", "DEFAULTS", "NESTED", "PER_CHANNEL", "SCENARIOS"]

CHANNELS: tuple[str, ...] = (
    "Paid Search Brand",
    "Paid Search Generic",
    "Paid Social",
    "Online Video",
    "Display",
    "Display Retargeting",
    "Email",
    "Affiliates",
    "Organic Social",
    "Direct",
)

#: Per-channel parameters (dicts keyed by channel); a scalar override sets every channel.
PER_CHANNEL = (
    "exposure",
    "targeting",
    "visit_boost",
    "lift",
    "decay",
    "saturation",
    "tracking_loss",
)
#: Channel-pair parameters ``{from: {to: value}}``.
NESTED = ("mediation", "synergy")


def _per_channel(*values: float) -> dict[str, float]:
    return dict(zip(CHANNELS, values, strict=True))


#                 Brand  Generic Social Video  Display Retarg Email  Affil  OrgSoc Direct
DEFAULTS: dict[str, Any] = {
    "channels": list(CHANNELS),
    "start": "2024-01-01",
    "exposure": _per_channel(0.004, 0.006, 0.012, 0.010, 0.020, 0.002, 0.010, 0.002, 0.004, 0.004),
    "targeting": _per_channel(1.0, 0.4, 0.2, 0.0, 0.2, 0.8, 0.8, 1.0, 0.3, 1.0),
    "visit_boost": _per_channel(0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 1.0, 0.0, 0.0, 0.0),
    # Display Retargeting is the placebo: heavily targeted, zero effect.
    "lift": _per_channel(8.0, 8.0, 3.0, 2.0, 0.7, 0.0, 3.0, 4.0, 2.0, 1.0),
    "decay": _per_channel(0.3, 0.4, 0.6, 0.7, 0.6, 0.5, 0.3, 0.3, 0.5, 0.2),
    "saturation": _per_channel(*[0.3] * 10),
    "tracking_loss": _per_channel(*[0.0] * 10),
    "mediation": {},
    "synergy": {},
    "lift_cap": None,
    "base_hazard": 0.0004,
    "intent_sd": 1.0,
    "visit_rate": 0.03,
    "visit_intent": 1.0,
    "visit_window": 7,
    "prior_window": 30,
    "device_intent": 0.5,
    "region_intent": 0.3,
    "value_mean": 80.0,
    "value_sigma": 0.6,
    "value_intent": 0.2,
    "anonymous_share": 0.3,
    "identify_spread": 1.5,
    "offline_share": 0.1,
    "log_after_conversion": True,
}

_ZERO = dict.fromkeys(CHANNELS, 0.0)

SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {
        "description": (
            "No confounding and no dynamics: every channel's exposure is independent of "
            "intent and of site visits (targeting=0, visit_boost=0), no mediation, no "
            "carryover beyond the day of exposure (decay=0), linear response (saturation=0), "
            "no synergy or cap, so lifts add up in the hazard. Intent still drives the organic "
            "baseline. The world every sound method should get right."
        ),
        "overrides": {
            "targeting": _ZERO,
            "visit_boost": _ZERO,
            "decay": _ZERO,
            "saturation": _ZERO,
        },
    },
    "confounded": {
        "description": (
            "The defaults. Brand search, affiliates, direct, email and the placebo Display "
            "Retargeting reach high-intent users (targeting up to 1.0 log-units per SD of "
            "intent; retargeting and email also follow recent site visits, which are driven "
            "by intent); intent also raises the organic hazard, so naive comparisons "
            "overstate these channels. Moderate carryover (decay 0.2-0.7), mild saturation "
            "(k=0.3), no mediation. Display Retargeting has lift 0."
        ),
        "overrides": {},
    },
    "mediated": {
        "description": (
            "Confounded plus mediation: Online Video raises later exposure to brand search, "
            "generic search and Direct (strengths 6, 4, 3: up to 7x for brand search), Paid "
            "Social to brand search and Direct (2, 1), and Display feeds the retargeting pool "
            "(3), each through 1 - exp(-adstock) of the mediator yesterday. Video's own lift "
            "is lowered to 0.8, so about half of its total effect runs through search: total "
            "(incremental_conversions) and direct effects (direct_conversions) differ."
        ),
        "overrides": {
            "mediation": {
                "Online Video": {
                    "Paid Search Brand": 6.0,
                    "Paid Search Generic": 4.0,
                    "Direct": 3.0,
                },
                "Paid Social": {"Paid Search Brand": 2.0, "Direct": 1.0},
                "Display": {"Display Retargeting": 3.0},
            },
            "lift": {"Online Video": 0.8},
        },
    },
    "carryover": {
        "description": (
            "Confounded plus long memory: upper-funnel channels decay slowly (Online Video "
            "0.95, Display and Paid Social 0.9, search 0.5-0.6), with lifts lowered "
            "so totals stay comparable; an exposure keeps acting for weeks, which punishes "
            "models with a short fixed decay or lookback."
        ),
        "overrides": {
            "decay": {
                "Paid Search Brand": 0.5,
                "Paid Search Generic": 0.6,
                "Paid Social": 0.9,
                "Online Video": 0.95,
                "Display": 0.9,
                "Email": 0.5,
            },
            "lift": {"Paid Social": 0.8, "Online Video": 0.4, "Display": 0.15},
        },
    },
    "saturation": {
        "description": (
            "Confounded plus strong diminishing returns and interactions: per-channel "
            "saturation k=2 (repeat exposures add little), a joint cap on the summed lift "
            "(lift_cap=8, channels substitute for each other) and synergies (Online Video x "
            "Paid Search Generic 4.0, Paid Social x Paid Search Brand 3.0). Shapley values "
            "and one-at-a-time incremental effects no longer sum to the same total."
        ),
        "overrides": {
            "saturation": dict.fromkeys(CHANNELS, 2.0),
            "lift_cap": 8.0,
            "synergy": {
                "Online Video": {"Paid Search Generic": 4.0},
                "Paid Social": {"Paid Search Brand": 3.0},
            },
        },
    },
    "tracking_loss": {
        "description": (
            "Confounded plus measurement loss: a share of touches never reaches the event log "
            "(Online Video 60%, Display 50%, Paid Social 40%, Organic Social 30%, others 10%) "
            "while still acting causally; more offline conversions (30%) and more anonymous "
            "browsing (50% of users). Truth is unchanged from confounded; only the log is."
        ),
        "overrides": {
            "tracking_loss": {
                **dict.fromkeys(CHANNELS, 0.1),
                "Online Video": 0.6,
                "Display": 0.5,
                "Paid Social": 0.4,
                "Organic Social": 0.3,
            },
            "offline_share": 0.3,
            "anonymous_share": 0.5,
        },
    },
}
