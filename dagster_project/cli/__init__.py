"""``cdp``: the command line. ``parser`` reads the arguments, ``runner`` runs imports through the
same Dagster assets in-process, on the same instance as the UI (every CLI import is a run you can
open in ``dagster dev``), ``queries`` reads the warehouse and ``rendering`` prints what they return.

Heavy modules are imported inside the commands, so ``cdp --help`` starts quickly.

Exit codes: 0 done (a warning may be on stderr); 2 the input was refused (a rejected file, an
``--out`` path, a query, an unknown batch: fix the input); 3 the machine or CDP_HOME is at fault
(disk full, a file-size limit, a damaged or read-only warehouse, Dagster's storage unwritable,
no warehouse yet: fix the environment, then run the same command again); 4 ``cdp check`` found a
blocking data-quality check failing (the warehouse needs looking at); 1 an unexpected error
(a traceback: a bug to report). Every refusal and fault is one line on stderr.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from dagster_project.cli import checks, queries, runner
from dagster_project.cli.exit_codes import EXIT_ENVIRONMENT, EXIT_REJECTED, Refused
from dagster_project.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cdp_pipeline.errors import EnvironmentFault, FileRejected, environment_faults, masked_errors
    from cdp_pipeline.owner_only import owner_only_umask
    from cdp_pipeline.settings import cdp_home

    try:
        # an error that quotes cells leaves the CLI with them masked; one of the machine as one
        # line; everything cdp creates (Dagster's storage too) is owner-only
        with masked_errors(), environment_faults(f"a file in {cdp_home()}"), owner_only_umask():
            try:
                return _command(args)
            except Refused as refused:  # masked already: handled before masked_errors sees it
                print(f"cdp: refused: {refused}", file=sys.stderr)
                return EXIT_REJECTED
    except FileRejected as rejected:
        print(f"cdp: rejected {rejected}", file=sys.stderr)
        return EXIT_REJECTED
    except EnvironmentFault as fault:
        nothing = "; nothing was imported, run it again once fixed" if args.command == "import" else ""
        print(f"cdp: error: {fault}{nothing}", file=sys.stderr)
        return EXIT_ENVIRONMENT


# What each command runs, by command and, for the import commands, kind.
COMMANDS = {
    ("import", "customers"): runner.import_customers,
    ("import", "tmall"): runner.import_tmall,
    ("backfill", "tmall"): runner.backfill_tmall,
    ("batches", None): queries.show_batches,
    ("overview", None): queries.show_overview,
    ("failures", None): queries.export_failures,
    ("sql", None): queries.run_sql_query,
    ("check", None): checks.check_warehouse,
}


def _command(args: argparse.Namespace) -> int:
    return COMMANDS[args.command, getattr(args, "kind", None)](args)


def run() -> None:
    """The ``cdp`` command: ``main``, then leave without tearing down the interpreter.

    Tearing down Dagster, pandas and pyarrow at exit (finalising thousands of modules and
    objects) takes 1-1.5 s, more than a one-row import's own work. Everything ``cdp`` writes is
    committed and closed before ``main`` returns, so it flushes its streams and logs and exits.
    An exception still leaves the ordinary way, with its traceback.
    """
    # Importing Dagster, pandas and pandera makes a few million objects; at the default threshold
    # (700 allocations) the collector walks that growing heap thousands of times: a sixth of a
    # one-row import's CPU (3.12 -> 2.59 s with collection off). Cycles are still collected,
    # less often; rows never become Python objects (they stay in DuckDB), so memory is unchanged.
    gc.set_threshold(100_000, 50, 100)
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`cdp batches | head`): not an error of cdp. Exit as a tool killed by
        # SIGPIPE does, with nothing more written to the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + 13
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
