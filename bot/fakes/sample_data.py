"""Sample content for the Hedy stand-in: a believable two weeks of meetings, and one huge one.

Everything here is plain data in Hedy's own field names, fed to `FakeHedy.add_topic` and
`FakeHedy.add_session`. Times are relative to `now` so the demo always looks recent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TOPICS: list[dict[str, Any]] = [
    {"id": "topic_product", "name": "Product Team", "description": "Weekly syncs, planning and reviews",
     "color": "#4F46E5", "iconName": "rocket"},
    {"id": "topic_customers", "name": "Customer Calls", "description": "Onboarding, renewals and feedback",
     "color": "#059669", "iconName": "users"},
    {"id": "topic_one_on_ones", "name": "1:1s", "description": None, "color": "#D97706", "iconName": "chat"},
]


def _minutes(title: str, decisions: list[str], notes: list[str], link: tuple[str, str]) -> str:
    """Markdown the way Hedy writes minutes: headings, bold lead-ins, bullets, the odd link."""
    label, url = link
    lines = [f"# {title}", "", "## Key Decisions"]
    lines += [f"- **{d.split(':')[0]}**:{d.split(':', 1)[1]}" if ":" in d else f"- {d}" for d in decisions]
    lines += ["", "## Discussion"]
    lines += [f"- {n}" for n in notes]
    lines += ["", "## Resources", f"- [{label}]({url})"]
    return "\n".join(lines)


def _transcript(lines: list[tuple[str, str]]) -> str:
    return "\n".join(f"{speaker}: {text}" for speaker, text in lines)


def demo_sessions(now: datetime) -> list[dict]:
    """Twelve sessions over the last two weeks, newest last; `add_session` overrides."""
    day = timedelta(days=1)

    # Every session starts and ends before 17:00, so anchoring on today only once 17:00 has
    # passed (yesterday otherwise) keeps them all in the past and in the listed order,
    # whatever the time of day the demo or the tests run at.
    anchor = now if now.hour >= 17 else now - day

    def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
        return (anchor - days_ago * day).replace(hour=hour, minute=minute, second=0, microsecond=0)

    return [
        {
            "sessionId": "sess_demo_01", "title": "Sprint Planning", "startTime": at(13, 9),
            "duration": 3600, "topic": "topic_product",
            "recap": "Planned sprint 42: onboarding revamp first, billing fixes second.",
            "meeting_minutes": _minutes(
                "Sprint Planning",
                ["Scope: onboarding revamp is the sprint goal", "Billing fixes move to the second half"],
                ["Capacity is down one engineer for the first week",
                 "**Risk**: the payments sandbox is flaky; Sam will pair with QA"],
                ("Sprint board", "https://example.com/boards/sprint-42")),
            "highlights": [
                {"title": "Sprint goal agreed", "rawQuote": "so um the goal is basically onboarding, yeah",
                 "cleanedQuote": "The goal is onboarding.", "mainIdea": "Onboarding revamp is the sprint goal",
                 "aiInsight": "A single goal keeps the sprint focused.", "offset": 420},
            ],
            "user_todos": [
                {"text": "Break the onboarding epic into stories", "dueDate": "Tomorrow", "completed": True},
                {"text": "Ask QA about the payments sandbox", "dueDate": "2026-12-01"},
            ],
        },
        {
            "sessionId": "sess_demo_02", "title": "Acme Corp onboarding call", "startTime": at(12, 15, 30),
            "duration": 2700, "topic": "topic_customers",
            "recap": "Acme wants SSO before rolling out to 400 seats.",
            "meeting_minutes": _minutes(
                "Acme Corp onboarding",
                ["Rollout: pilot with the support team (25 seats)", "SSO is a blocker for the full rollout"],
                ["Acme uses Okta; SCIM would be nice but is not required",
                 "They asked for a **data processing agreement** before the pilot"],
                ("Acme account notes", "https://example.com/crm/acme")),
            "highlights": [
                {"title": "SSO is the blocker", "rawQuote": "we can't roll it out without SSO, that's a hard no",
                 "cleanedQuote": "We can't roll it out without SSO.", "mainIdea": "SSO gates the rollout",
                 "aiInsight": "Prioritise the Okta integration to unlock 400 seats.", "offset": 910},
                {"title": "DPA request", "rawQuote": "legal will want the DPA first",
                 "cleanedQuote": "Legal will want the DPA first.", "mainIdea": "Legal paperwork before pilot",
                 "aiInsight": None, "offset": 1500},
            ],
            "user_todos": [
                {"text": "Send Acme the DPA", "dueDate": "Tomorrow"},
                {"text": "Share the SSO roadmap with Acme", "dueDate": "next Monday"},
            ],
        },
        {
            "sessionId": "sess_demo_03", "title": "1:1 with Dana", "startTime": at(11, 11),
            "duration": 1800, "topic": "topic_one_on_ones",
            "recap": "Dana wants to lead the design system work next quarter.",
            "meeting_minutes": _minutes(
                "1:1 with Dana",
                ["Growth: Dana leads the design system in Q3"],
                ["Feels stretched by on-call; swap rota with Lee", "Interested in the *mentoring* programme"],
                ("Career ladder", "https://example.com/wiki/career-ladder")),
            "highlights": [],
            "user_todos": [{"text": "Swap Dana's on-call week with Lee", "dueDate": None, "completed": True}],
        },
        {
            "sessionId": "sess_demo_04", "title": "Design Review: onboarding flow", "startTime": at(10, 14),
            "duration": 2400, "topic": "topic_product",
            "recap": "The three-step onboarding flow is approved with two copy changes.",
            "meeting_minutes": _minutes(
                "Design Review",
                ["Approved: three-step flow", "Copy: replace 'workspace' with 'team' throughout"],
                ["Empty states need illustrations", "Mobile layout to be checked on small screens"],
                ("Figma file", "https://example.com/figma/onboarding")),
            "highlights": [
                {"title": "Flow approved", "rawQuote": "ok I think we're good, ship it",
                 "cleanedQuote": "I think we're good. Ship it.", "mainIdea": "Design approved",
                 "aiInsight": "Copy changes are small; no second review needed.", "offset": 2100},
            ],
            "user_todos": [
                {"text": "Update copy in the onboarding mockups", "dueDate": "Friday"},
                {"text": "Commission empty-state illustrations", "dueDate": "in 3 days"},
            ],
        },
        {
            "sessionId": "sess_demo_05", "title": "Customer call: Globex renewal", "startTime": at(9, 16),
            "duration": 2100, "topic": "topic_customers",
            "recap": "Globex renews for two years if we cap the price increase at 5%.",
            "meeting_minutes": _minutes(
                "Globex renewal",
                ["Pricing: offer a 5% cap for a two-year term"],
                ["Globex usage grew 40% this year", "They want a **quarterly business review**"],
                ("Renewal proposal", "https://example.com/docs/globex-renewal")),
            "highlights": [
                {"title": "Two-year term on the table", "rawQuote": "if you cap it at five we'd sign for two years",
                 "cleanedQuote": "If you cap it at five percent, we'd sign for two years.",
                 "mainIdea": "Price cap for a longer term", "aiInsight": "A good trade: revenue certainty.",
                 "offset": 1260},
            ],
            "user_todos": [
                {"text": "Draft the two-year Globex proposal", "dueDate": "2026-03-10", "completed": True},
                {"text": "Schedule the first QBR with Globex", "dueDate": "March 15"},
            ],
        },
        {
            "sessionId": "sess_demo_06", "title": "Incident retro: API latency", "startTime": at(8, 10),
            "duration": 2700, "topic": "topic_product",
            "recap": "A missing index caused the latency spike; the fix is deployed.",
            "meeting_minutes": _minutes(
                "Incident retro",
                ["Root cause: missing index on sessions.user_id", "Alerting: page on p95 above 800 ms"],
                ["Detection took 25 minutes", "The runbook was out of date"],
                ("Incident doc", "https://example.com/incidents/2026-017")),
            "highlights": [
                {"title": "Root cause found", "rawQuote": "it was the index, the user id index wasn't there",
                 "cleanedQuote": "It was the index: the user ID index wasn't there.",
                 "mainIdea": "Missing index", "aiInsight": "Add index checks to migration review.",
                 "offset": 600},
            ],
            "user_todos": [
                {"text": "Add p95 latency alert", "dueDate": "Tomorrow", "completed": True},
                {"text": "Update the database runbook", "dueDate": "next week"},
            ],
        },
        {
            "sessionId": "sess_demo_07", "title": "Quick call", "startTime": at(7, 13),
            "duration": 480, "topic": None, "recap": None, "cleaned_transcript": None,
            "meeting_minutes": "- Quick check-in, nothing decided.",
            "transcript": _transcript([("Speaker 1", "Hey, just checking you got my note?"),
                                       ("Speaker 2", "Yes, all good.")]),
            "highlights": [], "user_todos": [],
        },
        {
            "sessionId": "sess_demo_08", "title": "Roadmap Q3 brainstorm", "startTime": at(6, 10),
            "duration": 5400, "topic": "topic_product",
            "recap": "Three themes for Q3: self-serve onboarding, SSO, and reporting.",
            "meeting_minutes": _minutes(
                "Roadmap Q3",
                ["Themes: self-serve onboarding, SSO, reporting", "Deferred: mobile app to Q4"],
                ["Sales asked for **SSO** in every enterprise deal this quarter",
                 "Reporting requests cluster around exports"],
                ("Roadmap draft", "https://example.com/roadmap/q3")),
            "highlights": [
                {"title": "SSO keeps coming up", "rawQuote": "every single enterprise call asks about SSO",
                 "cleanedQuote": "Every enterprise call asks about SSO.", "mainIdea": "SSO demand",
                 "aiInsight": "Matches the Acme call last week.", "offset": 1800},
                {"title": "Mobile deferred", "rawQuote": "let's park mobile till Q4",
                 "cleanedQuote": "Let's park mobile until Q4.", "mainIdea": "Mobile app moves to Q4",
                 "aiInsight": None, "offset": 4200},
            ],
            "user_todos": [
                {"text": "Write the Q3 roadmap one-pager", "dueDate": "next Monday"},
                {"text": "Size the SSO work with engineering", "dueDate": None},
            ],
        },
        {
            "sessionId": "sess_demo_09", "title": "1:1 with Sam", "startTime": at(4, 15),
            "duration": 1500, "topic": "topic_one_on_ones",
            "recap": "Sam is ready to own the billing service.",
            "meeting_minutes": _minutes(
                "1:1 with Sam",
                ["Ownership: Sam owns the billing service from next sprint"],
                ["Wants a conference budget for **PyCon**", "Happy with the new team rituals"],
                ("Conference budget policy", "https://example.com/wiki/conference-budget")),
            "highlights": [],
            "user_todos": [{"text": "Approve Sam's conference budget", "dueDate": "Tomorrow"}],
        },
        {
            "sessionId": "sess_demo_10", "title": "Weekly Product Sync", "startTime": at(3, 9, 30),
            "duration": 1800, "topic": "topic_product",
            "recap": "Onboarding revamp is on track; billing fixes slipped a week.",
            "meeting_minutes": _minutes(
                "Weekly Product Sync",
                ["Billing fixes: slip one week, communicate to support"],
                ["Onboarding revamp on track for the 14th", "Support tickets down 12% week over week"],
                ("Status dashboard", "https://example.com/dashboards/status")),
            "highlights": [
                {"title": "Billing slip", "rawQuote": "billing's gonna slip a week, sorry",
                 "cleanedQuote": "Billing is going to slip a week.", "mainIdea": "Billing fixes delayed",
                 "aiInsight": "Tell support before customers notice.", "offset": 780},
            ],
            "user_todos": [{"text": "Tell support about the billing slip", "dueDate": "today"}],
        },
        {
            "sessionId": "sess_demo_11", "title": "Initech feedback session", "startTime": at(1, 14),
            "duration": 3000, "topic": "topic_customers",
            "recap": "Initech loves the digest but wants it in Slack.",
            "meeting_minutes": _minutes(
                "Initech feedback",
                ["Follow-up: demo the Slack digest to Initech"],
                ["Weekly email digest is **read by 80%** of their team", "They live in Slack, not email"],
                ("Feedback board", "https://example.com/feedback/initech")),
            "highlights": [
                {"title": "Put it in Slack", "rawQuote": "honestly if it was in slack we'd use it daily",
                 "cleanedQuote": "If it were in Slack, we'd use it daily.", "mainIdea": "Slack delivery wanted",
                 "aiInsight": "Strong signal for the Slack integration.", "offset": 1320},
            ],
            "user_todos": [
                {"text": "Book the Slack digest demo with Initech", "dueDate": "2026-12-01"},
                {"text": "Send Initech the feedback summary", "dueDate": "Tomorrow", "completed": True},
            ],
        },
        {
            "sessionId": "sess_demo_12", "title": "Weekly Product Sync", "startTime": at(0, 9, 30),
            "duration": 2100, "topic": "topic_product",
            "recap": "Onboarding revamp ships Thursday; SSO spike starts Monday.",
            "meeting_minutes": _minutes(
                "Weekly Product Sync",
                ["Launch: onboarding revamp ships Thursday behind a flag", "SSO: one-week spike from Monday"],
                ["QA sign-off expected Wednesday", "**Docs** need new screenshots"],
                ("Launch checklist", "https://example.com/launch/onboarding")),
            "highlights": [
                {"title": "Ship date set", "rawQuote": "thursday, we ship thursday",
                 "cleanedQuote": "We ship Thursday.", "mainIdea": "Onboarding launch date",
                 "aiInsight": "Leaves one day of buffer after QA sign-off.", "offset": 300},
            ],
            "user_todos": [
                {"text": "Refresh the docs screenshots", "dueDate": "Wednesday"},
                {"text": "Kick off the SSO spike", "dueDate": "next Monday"},
                {"text": "Post the launch note in #general", "dueDate": None},
            ],
        },
    ]


def huge_session(now: datetime | None = None) -> dict:
    """`add_session` overrides for a meeting that breaks every Block Kit limit:
    ~60 000 characters of minutes, 300 todos and 100 highlights."""
    now = now or datetime.now().astimezone()
    section = _minutes(
        "Workstream",
        ["Decision: keep going with the current plan", "Owner: the platform team"],
        ["A long discussion point " + "with a lot of detail " * 20,
         "Another **important** note that runs on " + "and on " * 30],
        ("Reference", "https://example.com/ref"))
    parts: list[str] = []
    i = 0
    while sum(len(p) for p in parts) < 60_000:
        i += 1
        parts.append(section.replace("# Workstream", f"# Workstream {i}", 1))
    minutes = "\n\n".join(parts)[:60_000]
    return {
        "title": "All-hands planning marathon",
        "startTime": now - timedelta(hours=5),
        "duration": 4 * 3600,
        "recap": "A very long meeting. " * 200,
        "meeting_minutes": minutes,
        "transcript": "Speaker 1: words words words.\n" * 2000,
        "highlights": [
            {"title": f"Highlight {n}: " + "a notable moment " * 5,
             "rawQuote": "um so " + "the quote goes on " * 15, "cleanedQuote": "The quote goes on " * 12,
             "mainIdea": f"Main idea {n}", "aiInsight": "An insight " * 10, "offset": 60 * n}
            for n in range(1, 101)
        ],
        "user_todos": [
            {"text": f"Action item {n}: " + "do the thing carefully " * 4,
             "dueDate": ["Tomorrow", "2026-12-01", "next Monday", None][n % 4], "completed": n % 7 == 0}
            for n in range(1, 301)
        ],
    }
