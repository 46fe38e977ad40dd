"""The opt-in consent manager's policy: allow only what an active, valid consent covers.

Every purpose of the request needs a grant in force (not withdrawn, not expired). A learner's own
consent counts only when their age band is at or above the age of digital consent; a school's
only for the purposes the app lists as educational. Anything else is a deny, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.plugin.records import ConsentRequest, ConsentVerdict

SOURCE = "opt_in_consent"


def verdict(request: ConsentRequest) -> ConsentVerdict:
    """Decide ``request`` from the subject's consent history."""
    from satchel.plugin.records import ConsentVerdict
    from satchel.privacy.consent import active_purposes, may_self_consent  # here: keeps the entry point light

    active = active_purposes(request.history, request.at)
    missing = [p for p in request.purposes if p not in active]
    if missing:
        withdrawn = {p for e in request.history if e.action == "withdrawn" for p in e.purposes}
        why = "withdrawn" if set(missing) <= withdrawn else "never granted or expired"
        return ConsentVerdict(False, f"no active opt-in consent for {', '.join(missing)} ({why})", SOURCE)
    for purpose in request.purposes:
        grant = active[purpose]
        if grant.actor == "self" and not may_self_consent(grant.age_band, request.age_of_digital_consent):
            return ConsentVerdict(
                False,
                f"consent for {purpose} was given by a learner aged {grant.age_band}, "
                f"under the age of digital consent ({request.age_of_digital_consent}); "
                "a guardian must consent",
                SOURCE,
            )
        if grant.actor == "school" and purpose not in request.school_purposes:
            return ConsentVerdict(
                False, f"a school may not consent to {purpose}: not an educational purpose", SOURCE
            )
    return ConsentVerdict(True, "active opt-in consent covers " + ", ".join(request.purposes), SOURCE)


@hookimpl
def satchel_consent_verdict(request: ConsentRequest) -> ConsentVerdict:
    return verdict(request)
