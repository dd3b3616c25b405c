"""``pgqrs bench churn``: producers and consumers together at a steady offered rate for minutes
(the README's figures: at least 15), reported per interval, optionally with a "horizon holder"
(a transaction left open that holds back vacuum) in the middle of the run.

The other benchmarks measure one operation at a time on a settled table; this one measures what
a production queue lives through: months of churn, dead tuples, autovacuum, a long transaction
elsewhere.  Its targets are ratios within one run (docs/contract.md, Performance targets), so
they hold on a noisy machine.

The modules, by job: :mod:`.settings` (what one run does), :mod:`.load` (the producers,
consumers and the holder), :mod:`.sample` (what the server says per interval), :mod:`.run`
(the run itself), :mod:`.verdict` (the targets), :mod:`.report` (Markdown and JSON) and
:mod:`.cli` (the command).
"""

from .report import churn_markdown
from .run import ChurnRun, run_churn
from .sample import Interval
from .settings import ChurnSettings
from .verdict import Verdict, judge

__all__ = [
    "ChurnRun",
    "ChurnSettings",
    "Interval",
    "Verdict",
    "churn_markdown",
    "judge",
    "run_churn",
]
