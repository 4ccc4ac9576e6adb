"""Leaderboards, held-out evaluation, analyses, figures and documents of a run."""


def __getattr__(name: str):
    # build_report pulls in matplotlib and the figures: only when asked for
    if name == "build_report":
        from orchestrator.report.build import build_report

        return build_report
    raise AttributeError(name)
