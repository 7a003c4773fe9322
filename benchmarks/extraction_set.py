"""Extraction precision: the bundled model extracts memories from labelled turns; how many are right?

Each turn (what Sam said, what Mira answered) carries the facts it really states. The bundled SmolLM2-135M
runs under the extraction JSON schema (llama.cpp grammar, the way the engine serves `json_schema`), at
temperature 0. A proposed memory counts as right when it is close to a labelled fact (MiniLM cosine
>= 0.6), says it the same way round (no negation or opposite feeling word on one side only) and names no
person, place or number the fact does not. Printed: precision of what the model proposed (raw) and of
what grounding kept, and how many right memories grounding threw away; recall: the share of labelled
facts that some proposed (raw) or kept memory states.

A second, model-free measure: the grounding check alone on labelled candidate memories (true ones and
typical small-model errors), precision and recall of its keep decisions.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from bostonia.memory.extraction import EXTRACTION_SCHEMA, extraction_request, ground, parse_proposals
from bostonia.memory.grounding import check, opposite
from bostonia.memory.records import Turn

NAMES = ("Sam", "Mira")
# (what Sam said, Mira's reply, the facts it states)
TURNS: list[tuple[str, str, list[str]]] = [
    ("I hate spiders, they terrify me.", "I'll catch them for you.", ["Sam hates spiders"]),
    ("We adopted a beagle puppy named Biscuit!", "Biscuit is adorable!", ["Sam adopted a beagle puppy named Biscuit"]),
    (
        "My sister Leah moved to Montreal for her residency.",
        "Montreal is lovely.",
        ["Sam's sister Leah moved to Montreal"],
    ),
    ("I'm allergic to peanuts.", "No peanuts then.", ["Sam is allergic to peanuts"]),
    ("I don't eat meat, I've been vegetarian since I was sixteen.", "Good to know.", ["Sam is vegetarian"]),
    (
        "I work at the aquarium taking care of sea turtles.",
        "What a job!",
        ["Sam works at the aquarium with sea turtles"],
    ),
    (
        "My favourite book is The Left Hand of Darkness.",
        "Le Guin is great.",
        ["Sam's favourite book is The Left Hand of Darkness"],
    ),
    ("I ran my first half marathon on Sunday.", "Congratulations!", ["Sam ran a half marathon"]),
    ("My boyfriend Jonah is a paramedic.", "That's a hard job.", ["Sam's boyfriend Jonah is a paramedic"]),
    ("I can't stand cilantro.", "Noted.", ["Sam dislikes cilantro"]),
    ("I'm learning to play the cello.", "Cello is beautiful.", ["Sam is learning the cello"]),
    ("I grew up in a small town in Nova Scotia.", "By the sea?", ["Sam grew up in Nova Scotia"]),
    ("My birthday is on the ninth of October.", "I'll remember.", ["Sam's birthday is on October 9"]),
    ("I drive an old green Subaru.", "Classic.", ["Sam drives a green Subaru"]),
    ("I quit my job at the bank in January.", "Good for you.", ["Sam quit a job at the bank"]),
    ("My best friend Priya just had twins.", "Twins!", ["Sam's best friend Priya had twins"]),
    ("I never drink coffee, only green tea.", "Tea it is.", ["Sam drinks green tea", "Sam does not drink coffee"]),
    (
        "I'm scared of flying, I always take the train.",
        "Trains are nice.",
        ["Sam is afraid of flying", "Sam takes the train"],
    ),
    ("My dad had knee surgery last week.", "I hope he recovers fast.", ["Sam's dad had knee surgery"]),
    ("We bought a yellow house with a garden.", "How exciting!", ["Sam bought a yellow house with a garden"]),
    ("I love hiking in the mountains on weekends.", "Sounds fun.", ["Sam loves hiking in the mountains"]),
    (
        "My brother Theo runs a ramen shop in Toronto.",
        "I want to go!",
        ["Sam's brother Theo runs a ramen shop in Toronto"],
    ),
    ("I'm not a morning person at all.", "Me neither.", ["Sam is not a morning person"]),
    ("I got engaged to Jonah on the beach!", "Congratulations!", ["Sam got engaged to Jonah"]),
    (
        "I speak Portuguese because my dad is from Brazil.",
        "Que legal!",
        ["Sam speaks Portuguese", "Sam's dad is from Brazil"],
    ),
    ("I have a grey cat called Pickle.", "Pickle!", ["Sam has a grey cat named Pickle"]),
    ("I'm training to become a vet nurse.", "You'll be great.", ["Sam is training to be a vet nurse"]),
    ("I don't like horror movies.", "Comedies then.", ["Sam does not like horror movies"]),
    ("My mom was diagnosed with diabetes.", "I'm sorry.", ["Sam's mom has diabetes"]),
    ("I volunteer at the food bank every Saturday.", "That's kind.", ["Sam volunteers at the food bank"]),
]
# Candidate memories with labels: true statements and typical small-model errors (flipped, invented).
CANDIDATES: list[tuple[str, str, bool]] = [(said, fact, True) for said, _reply, facts in TURNS for fact in facts] + [
    ("I hate spiders, they terrify me.", "Sam loves spiders", False),
    ("I'm allergic to peanuts.", "Sam loves peanuts", False),
    ("I don't eat meat, I've been vegetarian since I was sixteen.", "Sam eats meat", False),
    ("My sister Leah moved to Montreal for her residency.", "Sam's sister Anna moved to Montreal", False),
    ("My sister Leah moved to Montreal for her residency.", "Sam moved to Toronto", False),
    ("I can't stand cilantro.", "Sam likes cilantro", False),
    ("My birthday is on the ninth of October.", "Sam's birthday is on March 3", False),
    ("I'm not a morning person at all.", "Sam is a morning person", False),
    ("I never drink coffee, only green tea.", "Sam drinks coffee every day", False),
    ("I don't like horror movies.", "Sam likes horror movies", False),
    ("We adopted a beagle puppy named Biscuit!", "Sam has a cat named Biscuit", False),
    ("I work at the aquarium taking care of sea turtles.", "Sam works at a bank", False),
    ("My brother Theo runs a ramen shop in Toronto.", "Sam's brother Theo is a doctor in Paris", False),
    ("I ran my first half marathon on Sunday.", "Sam ran a full marathon in 2 hours", False),
    ("I'm scared of flying, I always take the train.", "Sam loves flying", False),
    ("I have a grey cat called Pickle.", "Sam is allergic to cats", False),
    ("I got engaged to Jonah on the beach!", "Sam broke up with Jonah", False),
    ("My dad had knee surgery last week.", "Sam had knee surgery", False),
]
SIMILAR = 0.6
NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][a-z]+|\d+)\b")


def right(memory: str, facts: list[str], vectors: dict[str, Any], embed: Any) -> bool:
    vector = embed([memory])[0]
    for fact in facts:
        if float(vector @ vectors[fact]) < SIMILAR or opposite(fact, memory):
            continue
        # Capitalised words past the first, and numbers: names, places, dates the fact must contain too.
        named = {t for t in NAME_OR_NUMBER.findall(" ".join(memory.split()[1:])) if t not in NAMES}
        if named <= set(NAME_OR_NUMBER.findall(fact)):
            return True
    return False


def grounding_alone() -> str:
    kept = [(truth, check(memory, [said], names=NAMES).kept) for said, memory, truth in CANDIDATES]
    true_kept = sum(1 for truth, keep in kept if truth and keep)
    all_kept = sum(1 for _, keep in kept if keep)
    all_true = sum(1 for truth, _ in kept if truth)
    return (
        f"  (3b) grounding alone on {len(CANDIDATES)} labelled candidates: "
        f"precision {true_kept / max(1, all_kept):.2f}, "
        f"recall {true_kept / max(1, all_true):.2f} (keeps {all_kept}, of which true {true_kept}; {all_true} true)"
    )


def model_generate() -> Any:
    from llama_cpp import Llama, LlamaGrammar

    from bostonia.llm.local import bundled_model_path

    path = bundled_model_path()
    if path is None:
        return None
    llama = Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False)
    grammar = LlamaGrammar.from_json_schema(json.dumps(EXTRACTION_SCHEMA), verbose=False)

    def generate(turn: Turn) -> str:
        request = extraction_request(turn, NAMES)
        result = llama.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            grammar=grammar,
            temperature=0.0,
            max_tokens=request.params.max_tokens,
        )
        return str(result["choices"][0]["message"]["content"] or "")

    return generate


async def run(services: Any) -> None:
    print(grounding_alone())
    generate = model_generate()
    if generate is None:
        print("  (3) extraction precision: the bundled model is not installed")
        return
    embedder = services.memory.embedder
    facts = [fact for _said, _reply, fs in TURNS for fact in fs]
    vectors = dict(zip(facts, embedder.embed(facts), strict=True))
    proposed = proposed_right = kept = kept_right = parsed = 0
    right_dropped = facts_found = facts_kept = 0
    kept_wrong: list[str] = []
    for n, (said, reply, turn_facts) in enumerate(TURNS):
        turn = Turn(reply_id=f"r{n}", reply=reply, prompt_id=f"p{n}", prompt=said, created_at="2026-01-01T00:00:00Z")
        text = await asyncio.to_thread(generate, turn)
        proposals = parse_proposals(text)
        parsed += proposals is not None
        proposals = proposals or []
        # Grounding may also rewrite what it keeps (third person, only the supported sentences): the kept
        # memories are judged as they are stored.
        grounded = [g.proposal.content for g in ground(proposals, turn, NAMES)]
        for fact in turn_facts:
            facts_found += any(right(p.content, [fact], vectors, embedder.embed) for p in proposals)
            facts_kept += any(right(content, [fact], vectors, embedder.embed) for content in grounded)
        raw_right = 0
        for proposal in proposals:
            is_right = right(proposal.content, turn_facts, vectors, embedder.embed)
            proposed += 1
            proposed_right += is_right
            raw_right += is_right
        kept_here = 0
        for content in grounded:
            is_right = right(content, turn_facts, vectors, embedder.embed)
            kept += 1
            kept_right += is_right
            kept_here += is_right
            if not is_right:
                kept_wrong.append(f"{content!r} from {said!r}")
        right_dropped += max(0, raw_right - kept_here)
    print(
        f"  (3) extraction with the bundled model on {len(TURNS)} labelled turns (JSON valid {parsed}/{len(TURNS)}): "
        f"raw precision {proposed_right / max(1, proposed):.2f} ({proposed_right}/{proposed}); after grounding "
        f"{kept_right / max(1, kept):.2f} ({kept_right}/{kept}); right memories dropped by grounding: {right_dropped}; "
        f"recall of the {len(facts)} labelled facts: raw {facts_found / len(facts):.2f}, "
        f"after grounding {facts_kept / len(facts):.2f}"
    )
    for example in kept_wrong[:6]:
        print(f"      kept but judged wrong: {example}")
