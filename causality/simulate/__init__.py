"""Journey simulator with known causal effects, to prove which attribution models work.

``simulate(scenario, n_users=..., n_days=..., seed=..., **overrides)`` returns a
:class:`Simulation` holding an event log and the truth behind it, computed by re-running
the world with channels removed under common random numbers (every draw is a keyed hash of
what it decides, see :mod:`causality.simulate.rng`), so factual and counterfactual worlds
differ only where the removed channel changed something.

The world, per user and day: latent intent drives the organic conversion hazard, site
visits and (by channel) targeting; exposures raise a geometric adstock per channel, whose
saturating response raises the hazard ``base * (1 + sum of lifts)``; one purchase per user,
after which they are no longer at risk (exposures continue and are logged). Channels:
Paid Search Brand, Paid Search Generic, Paid Social, Online Video, Display, Display
Retargeting (a placebo: targeted on intent and visits, zero lift), Email, Affiliates,
Organic Social, Direct. Events carry ``device``, ``region`` and ``prior_visits`` (observed
proxies of intent) on every row of their user, for use as per-journey covariates.

Scenarios
---------
clean
    No confounding and no dynamics: exposure independent of intent and visits, no
    mediation, no carryover beyond the day of exposure (decay 0), linear responses, no
    synergy or cap, so lifts add up in the hazard; intent still drives the baseline.
confounded
    The default: brand search, affiliates, direct, email and the placebo retargeting reach
    high-intent users (retargeting and email also follow intent-driven site visits); intent
    also raises the organic hazard, so naive methods overstate these channels. Moderate
    carryover (decay 0.2-0.7), mild saturation (k = 0.3), no mediation.
mediated
    Confounded plus mediation: Online Video raises later exposure to brand search, generic
    search and Direct, Paid Social to brand search and Direct, and Display feeds the
    retargeting pool; video's own lift is lowered to 0.8, so its total effect
    (``incremental_*``) is about twice its direct effect (``direct_*``).
carryover
    Confounded plus long memory: video decays at 0.95 per day, display and social at 0.9,
    with lifts lowered so totals stay comparable; effects last for weeks.
saturation
    Confounded plus strong diminishing returns (k = 2), a joint cap on the summed lift and
    synergies (video x generic search, social x brand search): effects interact, so
    one-at-a-time effects and Shapley values no longer add up the same way.
tracking_loss
    Confounded plus measurement loss: 10-60% of touches per channel are missing from the log
    while still acting; 30% offline conversions and 50% anonymous browsing. Same truth as
    confounded, a poorer log.

Examples
--------
>>> from causality.simulate import simulate
>>> sim = simulate("clean", n_users=5_000, n_days=30, seed=0)
>>> sorted(sim.truth.columns)[:2]
['direct_conversions', 'direct_value']
"""

from causality.simulate.lift import LIFT_TEST_COLUMNS, LiftTest, lift_tests_frame
from causality.simulate.scenarios import CHANNELS, SCENARIOS
from causality.simulate.simulation import Simulation, simulate

__all__ = [
    "CHANNELS",
    "LIFT_TEST_COLUMNS",
    "SCENARIOS",
    "LiftTest",
    "Simulation",
    "lift_tests_frame",
    "simulate",
]
