"""Chaos run: deliveries to all six sandbox platforms while workers are
SIGKILLed, about a tenth of the requests fail, PostgreSQL and the sandbox
restart mid-run; then an audit of the database against the fakes.

    python bench/chaos.py                                   # 1,000 deliveries
    python bench/chaos.py --deliveries 120 --size 256K      # a quick run
    nice python bench/chaos.py --deliveries 10000 --concurrency 20 --size 256K

What it does (everything local: a private PostgreSQL cluster and the sandbox
on 127.0.0.1, in a temporary directory; ``pellacia.testing.chaos`` holds the
machinery, shared with ``tests/test_chaos.py``):

1. starts the embedded PostgreSQL (``db up``) and the six fakes (TikTok,
   YouTube, Instagram, Facebook, X, LinkedIn) in this process;
2. signs ``--accounts`` accounts in on each platform through the plugins' own
   sign-in (more when a platform's share exceeds 25 per account, Meta's
   daily budgets) and submits posts through ``create_post``, one account of
   each platform per post (round robin), ``--deliveries`` in all;
3. arms every fault kind on every platform at ``--fault-rate`` of the
   requests in all: 5xx, 429 with a reset, connection resets mid-body, lost
   answers (any call, and the calls that create or finish a post), delays;
   and every platform expires all the tokens it issued each
   ``--expire-every`` seconds (real 401s: the refresh path runs);
4. runs ``--workers`` ``pellacia-dist worker`` processes; SIGKILLs one at
   random every ``--kill-every`` seconds on average and at 12/30/50 % of the
   deliveries finished (restarted at once); stops PostgreSQL at 40 % and the
   sandbox at 65 % for ``--outage`` seconds each (the fakes keep their state
   and port);
5. prints, each ``--window`` deliveries finished, the drain rate and the
   database time of one claim (rolled back, as the queue stands), then the
   audit: the breakdown and one summary line.

Exit status 0 only when nothing is lost or doubled, the database and the
platforms agree, and every manual entry carries its reason.
"""

from __future__ import annotations

import _path  # noqa: F401  first: keeps bench/queue.py from shadowing stdlib queue

# isort: split

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

from pellacia.testing.chaos import ChaosOptions, run_chaos


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def options_from(args: argparse.Namespace) -> ChaosOptions:
    return ChaosOptions(
        deliveries=args.deliveries,
        accounts=args.accounts,
        workers=args.workers,
        concurrency=args.concurrency,
        size=args.size,
        fault_rate=args.fault_rate,
        kill_every=args.kill_every,
        min_kills=3,
        lease=args.lease,
        spacing=args.spacing,
        expire_every=args.expire_every,
        db_restart=not args.no_db_restart,
        sandbox_restart=not args.no_sandbox_restart,
        outage_seconds=args.outage,
        chain=tuple(args.chain.split(",")),
        linkedin_read_scope=not args.no_linkedin_read,
        window=args.window,
        max_minutes=args.max_minutes,
        seed=args.seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--deliveries", "--posts", type=int, default=1000, help="deliveries (posts x platforms)"
    )
    parser.add_argument("--accounts", type=int, default=8, help="accounts per platform (at least)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries per worker")
    parser.add_argument("--size", type=parse_size, default=parse_size("4M"))
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--kill-every", type=float, default=8.0, help="mean seconds between kills")
    parser.add_argument("--lease", type=float, default=5.0, help="lease seconds")
    parser.add_argument("--spacing", type=float, default=0.0, help="min_interval seconds")
    parser.add_argument(
        "--expire-every", type=float, default=15.0, help="seconds between token expiries"
    )
    parser.add_argument(
        "--outage", type=float, default=3.0, help="seconds PostgreSQL / the sandbox stay down"
    )
    parser.add_argument("--no-db-restart", action="store_true")
    parser.add_argument("--no-sandbox-restart", action="store_true")
    parser.add_argument(
        "--no-linkedin-read",
        action="store_true",
        help="LinkedIn sign-ins without r_member_social (reconcile cannot read the posts)",
    )
    parser.add_argument("--chain", default="api,manual", help="fallback chain of every platform")
    parser.add_argument(
        "--window", type=int, default=0, help="deliveries per progress window (0: a fifth)"
    )
    parser.add_argument("--max-minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pellacia-chaos-"))
    # reachable by the database's service user, so the cluster lives (and dies) in here
    tmp.chmod(0o755)
    ok = False
    try:
        result = asyncio.run(run_chaos(options_from(args), tmp, log=lambda s: print(s, flush=True)))
        print(result.summary(), flush=True)
        ok = result.ok
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
