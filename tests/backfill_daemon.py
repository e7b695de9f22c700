"""`dagster-daemon` for tests, with the backfill daemon's pause between iterations cut
from 30 seconds to a few.

Dagster hard-codes that pause (`dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS`,
read by the backfill loop on every iteration). A backfill of the asset graph takes several
iterations (launch the partitioned runs, see them finish, launch what depends on them), so
at 30 seconds each the backfill tests spent most of their time asleep. Everything else is
the real daemon, run in this process as `dagster-daemon run` runs it.

Usage: python -m tests.backfill_daemon run -m <module> (the dagster-daemon arguments).
"""

import os
import sys

import dagster._daemon.controller as controller
from dagster._daemon.cli import main

INTERVAL_SECONDS = int(os.environ.get("TEST_BACKFILL_DAEMON_INTERVAL_SECONDS", "2"))

if __name__ == "__main__":
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = INTERVAL_SECONDS
    sys.exit(main())
