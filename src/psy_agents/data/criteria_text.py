"""The nine DSM-5 major-depression criteria A.1-A.9: release label -> criterion id and the project's own wording.

The descriptions are short paraphrases written for this project (the DSM text itself is copyrighted). They are the
"question" side of every criteria/evidence example, so they are data: groundtruth copies them into the examples.
"""

from __future__ import annotations

NO_SYMPTOMS = "NO_SYMPTOMS"

# Release label -> (criterion id, description). Order is A.1..A.9 and is the class order everywhere.
CRITERIA: dict[str, tuple[str, str]] = {
    "DEPRESSED_MOOD": ("A.1", "Feeling sad, empty, hopeless or down most of the day, nearly every day."),
    "ANHEDONIA": ("A.2", "Lost interest or pleasure in almost all activities, including things once enjoyed."),
    "APPETITE_CHANGE": ("A.3", "A clear change in appetite or weight: eating much less or much more than usual."),
    "SLEEP_ISSUES": ("A.4", "Sleeping far too little or far too much: insomnia, waking at night, or oversleeping."),
    "PSYCHOMOTOR": ("A.5", "Movement or speech slowed down, or restless agitation that others can notice."),
    "FATIGUE": ("A.6", "Tiredness or loss of energy nearly every day; even small tasks feel exhausting."),
    "WORTHLESSNESS": ("A.7", "Feeling worthless, or excessive and inappropriate guilt and self-blame."),
    "COGNITIVE_ISSUES": ("A.8", "Trouble thinking, concentrating, remembering or making decisions."),
    "SUICIDAL_THOUGHTS": ("A.9", "Recurrent thoughts of death, wishing to be dead, suicidal ideas, plans or attempts."),
}

SYMPTOMS: tuple[str, ...] = tuple(CRITERIA)
# Post-level label set of the ReDSM5 reference protocol: nine symptoms + NO_SYMPTOMS.
POST_LABELS: tuple[str, ...] = SYMPTOMS + (NO_SYMPTOMS,)


def criterion_id(symptom: str) -> str:
    return CRITERIA[symptom][0]


def description(symptom: str) -> str:
    return CRITERIA[symptom][1]
