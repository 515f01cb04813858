"""`manage.py evals run AGENT [--version N] [--trials K] [--junit PATH]`: play an agent's suite
here and now, with no worker, print each result, write JUnit XML, and exit 1 on any failure or
error (2 when the run could not start), for a team's own CI."""

from pathlib import Path
from typing import Any
from uuid import UUID
from xml.etree import ElementTree as ET

from django.core.management.base import BaseCommand, CommandError, CommandParser

from activity.services import Actor
from agents.models import Agent, AgentKind
from parley.errors import ParleyError

from ...models import EvalResult, EvalRun, ResultStatus
from ...selectors import run_rates, run_results
from ...services import MAX_TRIALS, eval_run_play, eval_run_start

MARKS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}


def _agent(given: str) -> Agent:
    """By id, or by name when exactly one permanent agent has it."""
    agents = Agent.objects.filter(kind=AgentKind.PERMANENT)
    try:
        found = list(agents.filter(pk=UUID(given)))
    except ValueError:
        found = list(agents.filter(name=given)[:2])
    if len(found) != 1:
        if not found:
            raise CommandError(f"No agent has the id or name {given!r}.", returncode=2)
        raise CommandError(f"Several agents are named {given!r}: give its id.", returncode=2)
    return found[0]


def junit(run: EvalRun, results: list[EvalResult]) -> ET.ElementTree:
    """One test suite, one test case per scenario x trial: a failed check is a failure, a
    check that could not be judged (or a conversation not played) an error."""
    root = ET.Element("testsuites", name="parley-evals")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"{run.agent.name} v{run.version_number}",
        tests=str(len(results)),
        failures=str(run.failed),
        errors=str(run.errors),
        time=f"{(run.duration_ms or 0) / 1000:.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"evals.{run.agent.name}",
            name=f"{result.scenario_name} #{result.trial}",
            time=f"{(result.duration_ms or 0) / 1000:.3f}",
        )
        bad = [c for c in result.checks if c["outcome"] != "passed"]
        text = "\n".join(f"{c['outcome']}: {c['name']}: {c['reason']}" for c in bad)
        if result.status == ResultStatus.ERROR:
            message = result.error or "a check could not be judged"
            ET.SubElement(case, "error", message=message).text = text
        elif result.status == ResultStatus.FAILED:
            ET.SubElement(case, "failure", message=f"{len(bad)} check(s) failed").text = text
        if result.session_id:
            ET.SubElement(case, "system-out").text = f"session {result.session_id}"
    return ET.ElementTree(root)


class Command(BaseCommand):
    help = "Play an agent's eval suite and report: exits non-zero when anything fails."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        run = commands.add_parser("run", help="Play the agent's suite against a version.")
        run.add_argument("agent", help="The agent's id, or its name.")
        run.add_argument("--version", type=int, help="The version's number (default: the draft).")
        run.add_argument("--trials", type=int, default=1, help=f"1 to {MAX_TRIALS}.")
        run.add_argument("--junit", type=Path, help="Write the results as JUnit XML here.")

    def handle(self, *args: Any, **options: Any) -> None:
        agent = _agent(options["agent"])
        try:
            run = eval_run_start(
                agent=agent,
                actor=Actor(),
                version=options["version"],
                trials=options["trials"],
                dispatch=False,
            )
        except ParleyError as exc:
            raise CommandError(exc.message, returncode=2) from None
        played = f"{agent.name} v{run.version_number}"
        self.stdout.write(f"Playing {run.total} scenario trial(s) of {played}")
        run = eval_run_play(run=run)
        results = run_results(run=run)
        for result in results:
            self._report(result)
        for rate in run_rates(run=run, results=results):
            if rate.flaky:
                self.stdout.write(f"FLAKY {rate.name}: {rate.passed} of {len(rate.results)} passed")
        if options["junit"]:
            junit(run, results).write(options["junit"], encoding="utf-8", xml_declaration=True)
        summary = f"{run.passed} passed, {run.failed} failed, {run.errors} error(s); run {run.id}"
        if run.passed != run.total:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))

    def _report(self, result: EvalResult) -> None:
        mark = MARKS.get(result.status, result.status)
        self.stdout.write(f"{mark} {result.scenario_name} #{result.trial}")
        if result.error:
            self.stdout.write(f"    {result.error}")
        for check in result.checks:
            if check["outcome"] != "passed":
                self.stdout.write(f"    {check['outcome']}: {check['name']}: {check['reason']}")
