"""The word lists and what undoes obfuscation: normalization, word boundaries, benign idioms, minors."""

from __future__ import annotations

import pytest

from bostonia.moderation.normalize import normalize
from bostonia.moderation.rules import RuleSet, bundled_rules, masked_variant, term_pattern


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("F.U.C.K you", "fuck you"),
        ("f u c k", "fuck"),
        ("k-i-l-l", "kill"),
        ("k\u200bi\u200cl\u200dl", "kill"),  # zero-width space, non-joiner, joiner
        ("\ufeffh\u2060ate", "hate"),  # BOM, word joiner
        ("kіll", "kill"),  # Cyrillic і
        ("ѕех", "sex"),  # Cyrillic ѕ, е, х
        ("h4te", "hate"),
        ("n1gg3r", "nigger"),
        ("$lut", "slut"),
        ("sh!t", "shit"),
        ("FÜCK", "fuck"),
        ("ｆｕｃｋ", "fuck"),  # full-width letters (NFKC)
    ],
)
def test_normalize_undoes_obfuscation(typed: str, read: str) -> None:
    assert normalize(typed) == read


def test_normalize_leaves_numbers_and_punctuation_alone() -> None:
    assert normalize("In 2024 I paid $5 for it!") == "in 2024 i paid $5 for it!"
    assert normalize("I will win!") == "i will win!"  # a word-final "!" is punctuation, not an "i"


def test_terms_match_repeated_letters_but_not_shorter_words() -> None:
    import re

    ass = re.compile(rf"\b{term_pattern('ass')}\b")
    assert ass.search("what an asssss")
    assert not ass.search("as i said")  # squeezing letters would have made "ass" match "as"
    assert re.fullmatch(term_pattern("kill yourself"), "kiiill   yourselfff")
    assert re.fullmatch(term_pattern("masturbat*"), "masturbation")
    assert masked_variant("fuck") == "fck" and masked_variant("bitch") == "btch" and masked_variant("kys") is None


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("fuuuuck yoooou", "harassment"),
        ("F.U.C.K you", "harassment"),
        ("y0u are a st*pid c*nt", "harassment"),
        ("k y s", "harassment"),
        ("i w4nt to k1ll mys3lf", "self_harm"),
        ("kіll myself", "self_harm"),
        ("n1gg3rs", "hate"),
        ("all imm1grants are vermin", "hate"),
        ("how do i c00k meth", "illegal"),
        ("b l o w j o b", "sexual"),
        ("she sucked his c0ck", "sexual"),
        ("I will s\u200blit your throat", "violence"),
    ],
)
def test_obfuscated_text_is_caught(text: str, category: str) -> None:
    found = bundled_rules().match(text)
    assert found.scores[category] >= 0.5, (text, found.hits)


@pytest.mark.parametrize(
    "text",
    [
        "The knight drew his sword and cut down the orc.",
        "That comedian absolutely killed it last night.",
        "How do I kill a Python process that's stuck?",
        "Killer whales hunt in pods.",
        "I bombed the exam, ugh.",
        "She graduated summa cum laude.",
        "Bake the chicken breast for twenty minutes.",
        "We went to Scunthorpe and Essex on holiday.",  # words inside words never match
        "The cocktail party was in the cockpit bar.",
        "Hitler committed suicide in his bunker in 1945.",
        "She blushed when he kissed her goodnight.",
        "My cat is a fluffy pussy cat.",  # an ambiguous word alone stays below the flag
    ],
)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    found = bundled_rules().match(text)
    assert max(found.scores.values()) < 0.5, (text, found.hits)


def test_clinical_questions_weigh_sexual_words_less() -> None:
    rules = bundled_rules()
    assert rules.match("Is oral sex safe during pregnancy? My doctor was vague.").scores["sexual"] < 0.5
    assert rules.match("Let's have oral sex").scores["sexual"] < 0.5  # ambiguous alone: other signals decide


def test_sexual_content_with_a_minor_is_sexual_minors_even_when_the_age_is_in_the_context() -> None:
    rules = bundled_rules()
    assert rules.match("She's 14 and he fucked her hard.").scores["sexual_minors"] >= 0.9
    later = rules.match("He fucked her hard on the bed.", context="She told him she is only fifteen.")
    assert later.minors and later.scores["sexual_minors"] >= 0.9
    assert rules.match("He fucked her hard on the bed.").scores["sexual_minors"] == 0.0
    # A minor and an ordinary sentence: nothing.
    assert rules.match("The 12 year old played football after school.").scores["sexual_minors"] == 0.0


def test_hits_name_their_category_and_words() -> None:
    found = bundled_rules().match("Go fuck yourself, you worthless idiot")
    assert ("harassment", 0.7, "go fuck yourself") in found.hits or any(h[0] == "harassment" for h in found.hits)
    assert found.second_person


def test_a_rule_file_with_an_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown moderation category"):
        RuleSet.from_text('[[rule]]\ncategory = "rudeness"\nweight = 0.9\nterms = ["meanie"]\n')


def test_benign_phrases_are_removed_before_matching() -> None:
    rules = RuleSet.from_text(
        '[benign]\nphrases = ["kill the lights"]\n[[rule]]\ncategory = "violence"\nweight = 0.8\nterms = ["kill"]\n'
    )
    assert rules.match("please kill the lights").scores["violence"] == 0.0
    assert rules.match("I will kill").scores["violence"] == 0.8
