"""Label spaces: the ESConv emotion taxonomy, SAD stressor classes, the intensity scale.

Class ids follow the paper's code: classes are numbered in alphabetical order.
ESConv keeps the 7 emotions with at least 15 dialogues (nervousness, pain,
jealousy and guilt are dropped), which leaves 1,284 of the 1,300 dialogues.
"""

from __future__ import annotations

ESCONV_EMOTIONS: tuple[str, ...] = ("anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame")

SAD_LABELS: tuple[str, ...] = tuple(
    sorted(
        [
            "Emotional Turmoil",
            "Everyday Decision Making",
            "Family Issues",
            "Financial Problem",
            "Health, Fatigue, or Physical Pain",
            "Other",
            "School",
            "Social Relationships",
            "Work",
        ]
    )
)

EPITOME_MECHANISMS: tuple[str, ...] = ("emotional_reactions", "interpretations", "explorations")
EPITOME_LEVELS: tuple[str, ...] = ("none", "weak", "strong")
# The empathy-rater report's 4-level scale: the sum of the three mechanism levels, values above 3 folded into 3.
EMPATHY_SCALE: tuple[str, ...] = ("none", "weak", "moderate", "strong")

# Seeker self-report, before and after the chat.
INTENSITY_MIN, INTENSITY_MAX = 1, 5
INTENSITY_TARGETS: tuple[str, ...] = ("initial", "final", "change")

# Anchors shown next to the rating scale, so annotators share one reading of it.
INTENSITY_ANCHORS: dict[int, str] = {
    1: "1 - barely there: mentioned in passing, no sign of distress",
    2: "2 - mild: noticeable but clearly manageable",
    3: "3 - moderate: it colours the conversation and worries them",
    4: "4 - strong: it dominates what they say; they struggle to cope",
    5: "5 - overwhelming: acute distress, they feel unable to cope",
}


def is_valid_intensity(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INTENSITY_MIN <= value <= INTENSITY_MAX
