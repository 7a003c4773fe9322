"""A long multi-session chat with planted, annotated facts: the recall benchmark's data set.

Sam (the user) talks with Mira (the character) over 30 sessions spread across eight months. Facts are
planted in user turns, sometimes as the answer to Mira's question (the answer alone says little:
"Biscuit, after my grandpa's dog"), sometimes changed later ("actually we went with..."), often echoed
by Mira's reply (which is not the evidence), and surrounded by small talk and distractors on the same
topics with other details. Each question names the turns that answer it; most are phrased without the
evidence's words ("my pet" for "the beagle puppy"), some name a month ("in March").

Everything is generated from a fixed seed, so every run measures the same chat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

USER, CHARACTER = "Sam", "Mira"


@dataclass(frozen=True)
class Plant:
    says: str  # the user's answer-bearing turn
    asks: tuple[str, ...]  # questions it answers
    lead: str = ""  # Mira's line just before (the user answers it)
    reply: str = ""  # Mira's reply (echoes the topic; not the evidence)
    later: str = ""  # a change of mind in a later session: then only this turn answers
    later_reply: str = ""
    when: tuple[str, ...] = ()  # questions that name the session's month: "{month}" is filled in


# fmt: off
PLANTS: list[Plant] = [
    Plant("We finally adopted a beagle puppy this weekend! He chews absolutely everything.",
          ("What kind of pet did I get?",
           "Do you remember which breed my dog is?",
           "How old was the beagle when we got him?"),
          reply="A beagle! Puppies are pure chaos, I bet your shoes are doomed."),
    Plant("Biscuit, after my grandpa's old dog. It just felt right.",
          ("What did I name my dog?", "What's my puppy called?"),
          lead="So what did you end up naming the little guy?",
          reply="That's so sweet, a name with a story behind it."),
    Plant("I got the job at the aquarium! I'll be caring for the sea turtles starting next month.",
          ("Where do I work now?", "What's my new job about?"),
          lead="Wait, didn't you have that interview on Thursday? How did it go?",
          reply="Sea turtles! That's a dream job, honestly.",
          when=("What good news did I share in {month}?",)),
    Plant("My sister Leah is moving to Montreal for her residency, I'm going to miss her so much.",
          ("Which city is my sister relocating to?", "Why is Leah leaving?", "What is Leah doing in Montreal?"),
          reply="Montreal is beautiful, and you can visit her. Residency is a big step."),
    Plant("I'm allergic to peanuts, like seriously allergic, I carry an EpiPen everywhere.",
          ("Is there any food I can't eat?", "What do I need to avoid eating?", "Do I have a nut allergy?"),
          reply="Noted, no peanut anything when I cook for you, promise."),
    Plant("Honestly I can't stand cilantro, it tastes like soap to me.",
          ("Which herb do I hate?", "What flavour do I find disgusting?"),
          reply="You're one of those people! The soap gene is real."),
    Plant("I've started learning the cello. My teacher says my bowing is terrible but improving.",
          ("What instrument am I studying?",
           "Which musical instrument have I taken up?",
           "How is my cello bowing coming along?"),
          reply="Cello is such a warm sound. Bowing takes ages to get right."),
    Plant("I ran my first half marathon on Sunday, two hours and eleven minutes!",
          ("What was my finishing time for the race?", "How long did the running event take me?"),
          lead="Wasn't the big race this weekend?",
          reply="Two eleven on your first one is really respectable!",
          when=("What did I accomplish in {month}?",)),
    Plant("My favourite book is still The Left Hand of Darkness, I reread it every winter.",
          ("Which novel do I love most?",
           "What do I read again every year?",
           "When do I reread The Left Hand of Darkness?"),
          reply="Le Guin! That one stays with you."),
    Plant("We're planning a trip to Kyoto in the autumn to see the maple leaves.",
          ("Where am I travelling this fall?", "Which destination did I pick for my holiday?"),
          reply="Kyoto in autumn is supposed to be unreal.",
          later="Change of plans, we're doing Lisbon instead of Japan, the flights were way cheaper.",
          later_reply="Lisbon is lovely, and the pastries alone are worth it."),
    Plant("I drive a beat-up green Subaru, she's called Olive and she has 300k kilometres on her.",
          ("What car do I have?", "What vehicle do I get around in?", "How many kilometres does my Subaru have?"),
          reply="Olive sounds like a survivor."),
    Plant("I grew up in a tiny town in Nova Scotia, right by the ocean.",
          ("Where am I from originally?", "Where was my childhood home?"),
          reply="That explains your love for the sea!"),
    Plant("My partner Jonah is a paramedic, he works nights most of the week.",
          ("What does my boyfriend do for a living?", "Who is Jonah?", "When does Jonah work his paramedic shifts?"),
          reply="That's a tough job, nights especially."),
    Plant("I'm vegetarian, have been since I was sixteen.",
          ("Do I eat meat?", "What's my diet like?"),
          reply="Then I'll recommend the mushroom place next time."),
    Plant("Coffee, black, no sugar. Three cups before noon, don't judge me.",
          ("How do I take my coffee?", "How much caffeine do I have in the morning?"),
          lead="How do you even function this early?",
          reply="No judgement, just mild concern."),
    Plant("My best friend Priya just had twins, a boy and a girl!",
          ("What happened to my best friend recently?",
           "Who became a mother of two at once?",
           "Did Priya have a boy or a girl?"),
          reply="Twins! She's going to need all the help she can get."),
    Plant("I broke my wrist skateboarding when I was twelve and it still aches when it rains.",
          ("Have I ever had a serious injury?", "What old injury bothers me in bad weather?"),
          reply="Ouch. Weather-joints are real."),
    Plant("My birthday is on the ninth of October, I'm turning thirty this year.",
          ("When is my birthday?", "How old will I be?"),
          reply="Thirty! We need to plan something."),
    Plant("I'm terrified of spiders. Like, I leave the room and call Jonah terrified.",
          ("What am I afraid of?", "Which creature gives me a phobia?", "Who do I call when I see a spider?"),
          reply="I'll be on spider duty when Jonah isn't around."),
    Plant("I volunteer at the food bank every Saturday morning, sorting donations.",
          ("What do I do on weekends to help out?", "Where do I give my time for free?"),
          reply="That's such a good way to start a weekend."),
    Plant("I've been saving up for a proper telescope, I want to photograph Saturn's rings.",
          ("What am I saving money for?", "Which planet do I want to take pictures of?", "Why do I want a telescope?"),
          reply="Saturn through your own lens would be incredible."),
    Plant("My mom was diagnosed with type 2 diabetes, so the whole family is changing how we eat.",
          ("Does anyone in my family have a health condition?", "What illness does my mother have?"),
          reply="I'm sorry, that's a lot. It's good you're all doing it together."),
    Plant("I speak Portuguese because my dad is from Brazil, but my Spanish is awful.",
          ("What languages do I know?", "Where is my father's family from?", "Do I speak Spanish well?"),
          reply="Obrigada! Spanish will come if you want it."),
    Plant("I quit my job at the bank in January, the commute was killing me.",
          ("Why did I leave my previous employer?", "What was my old job?"),
          reply="Life's too short for a two-hour commute."),
    Plant("We're repainting the living room a deep teal, Jonah wanted grey but I won.",
          ("What colour are we painting the walls?",
           "Who picked the new paint?",
           "What colour did Jonah want for the living room?"),
          reply="Teal is a bold choice, I love it."),
    Plant("I'm reading everything I can about octopus intelligence for a talk I'm giving at work.",
          ("What is my presentation about?", "Which animal am I researching?"),
          reply="Octopuses are basically aliens, that talk will be great."),
    Plant("My favourite band is Fleetwood Mac, Rumours is the perfect album.",
          ("Which group's music do I like best?", "What record do I think is flawless?"),
          reply="Rumours holds up, every single track."),
    Plant("I got a tattoo of a lighthouse on my ankle, for my hometown.",
          ("Do I have any ink?", "What did I get on my leg?", "Where is my lighthouse tattoo?"),
          reply="A lighthouse is a lovely symbol for home."),
    Plant("Jonah proposed on the beach at sunset! I said yes obviously.",
          ("Am I engaged?", "How did my partner pop the question?"),
          lead="You look like you're hiding something. Spill.",
          reply="Congratulations!! I want every detail.",
          when=("What big life event happened to me in {month}?",)),
    Plant("We set the wedding for next June, at my aunt's farm outside Halifax.",
          ("When and where is the ceremony going to be?", "Where are we getting married?"),
          reply="A farm wedding in June sounds perfect.",
          later="We moved the wedding to September, the farm was double-booked in June.",
          later_reply="September's nicer anyway, less heat."),
    Plant("I'm lactose intolerant so I switched to oat milk.",
          ("What do I put in my cereal instead of dairy?", "Why do I avoid cheese?"),
          reply="Oat milk froths really well too."),
    Plant("I've been having nightmares about the exam, the licensing one for veterinary nursing.",
          ("What test am I stressed about?",
           "What certification am I working towards?",
           "What are my exam nightmares about?"),
          reply="You've studied so hard, you'll be fine."),
    Plant("Passed! I'm officially a registered vet nurse.",
          ("Did I pass my licensing exam?", "What qualification did I earn?"),
          lead="Results were supposed to come today, right?",
          reply="I knew it! Registered! We're celebrating.",
          when=("What did I find out in {month}?",)),
    Plant("My grandmother taught me to knit, I'm making Priya's twins matching hats.",
          ("Who showed me how to knit?", "What am I making for the babies?"),
          reply="Matching hats for twins, that's adorable."),
    Plant("I can't whistle, never could, it's my great shame.",
          ("What simple skill am I unable to do?",),
          reply="Honestly, a very minor shame."),
    Plant("I lost my wallet on the bus yesterday, had to cancel all my cards.",
          ("What did I misplace?", "Why did I need new bank cards?", "Where did I lose my wallet?"),
          reply="Ugh, that's the worst kind of errand.",
          when=("What went wrong for me in {month}?",)),
    Plant("My go-to karaoke song is Dancing Queen, no shame at all.",
          ("What do I sing when we go out to sing?", "Which ABBA track is my favourite to perform?"),
          reply="A classic for a reason."),
    Plant("I'm trying to cut back on screen time, I deleted Instagram last week.",
          ("Which social media app did I get rid of?",
           "How am I trying to spend less time on my phone?",
           "When did I delete Instagram?"),
          reply="Good for you, that's hard to do."),
    Plant("We adopted a second pet, a grey cat named Pickle who bosses Biscuit around.",
          ("Do I have more than one animal at home?",
           "Who rules the house, the dog or the other one?",
           "What colour is Pickle the cat?"),
          reply="Pickle the tiny tyrant, I love her already."),
    Plant("My dad had knee surgery on Tuesday, he's recovering at our place.",
          ("Who is staying with me and why?",
           "What operation did my father have?",
           "How is my dad recovering from the knee surgery?"),
          reply="I hope the recovery is quick. Tell him I said hi.",
          when=("Who in my family was in hospital in {month}?",)),
    Plant("I hate flying, I take the train whenever I can, even if it takes all day.",
          ("How do I prefer to travel?", "What form of transport do I dread?", "Do I like taking the train?"),
          reply="Trains are more civilised anyway."),
    Plant("I've been playing chess online every night, my rating is finally over 1500.",
          ("What game am I getting good at?",
           "What's my current level in that board game?",
           "What is my online chess rating?"),
          reply="1500 is solid, you're beating most casual players."),
    Plant("Jonah's mother doesn't like me, she keeps calling me Samantha even though my name is Sam.",
          ("How do I get along with my future mother-in-law?", "What does my partner's mom get wrong?"),
          reply="That's so passive aggressive, I'm sorry."),
    Plant("I want to open a small bakery someday, sourdough and cardamom buns.",
          ("What's my long-term dream business?",
           "What would I sell if I ran my own shop?",
           "What kind of buns would my bakery sell?"),
          reply="I'd be your first customer, every morning."),
    Plant("We bought a house! It's a little yellow one with a garden, we move in next month.",
          ("Did I buy property?", "Where are we going to live?"),
          lead="You said you had news about the apartment hunt?",
          reply="A yellow house with a garden, that's a storybook.",
          when=("What did we purchase in {month}?",)),
    Plant("I'm growing tomatoes and basil in the new garden, and one sad zucchini.",
          ("What vegetables am I growing?", "What's planted in my yard?", "How is the zucchini in my garden doing?"),
          reply="One sad zucchini is the most relatable gardening story."),
    Plant("My favourite movie is Spirited Away, I cry every single time.",
          ("Which film always makes me emotional?", "What's my top animated movie?"),
          reply="The train scene gets me too."),
    Plant("I have a scar on my chin from falling off a trampoline at my cousin's party.",
          ("How did I get the mark on my face?",),
          reply="Trampolines are a menace."),
    Plant("I just finished a pottery course, I made six wonky mugs.",
          ("What class did I complete?",
           "What did I make with clay?",
           "How many mugs did I make in the pottery course?"),
          reply="Wonky mugs have the most character."),
    Plant("I think I want to go back to school for marine biology, part time.",
          ("What subject am I considering studying?", "Am I thinking about more education?"),
          reply="With your aquarium work, that makes so much sense.",
          later="I enrolled! Two evening courses in marine biology this term.",
          later_reply="You did it! Evening classes and the turtles, busy busy."),
    Plant("My brother Theo is a chef in Toronto, he runs a tiny ramen place.",
          ("What does my brother do?",
           "Which relative cooks for a living?",
           "What kind of restaurant does Theo run in Toronto?"),
          reply="Ramen in Toronto, I need the address."),
    Plant("I get migraines when I don't sleep enough, had a bad one all day today.",
          ("What health problem do I have when I'm tired?", "Why do I get bad headaches?"),
          reply="Please rest tonight. Dark room, water, no screens."),
    Plant("The landlord finally fixed the heating after three weeks of us freezing.",
          ("Was there a problem with our apartment?", "How long were we without warmth at home?"),
          reply="Three weeks! That's ridiculous."),
    Plant("I got promoted to senior keeper, I'm in charge of the whole turtle rehab programme now.",
          ("Did I move up at work?",
           "What am I responsible for at the aquarium now?",
           "What does a senior keeper do in the turtle programme?"),
          reply="Senior keeper! They'd be lucky to have anyone else half as dedicated.",
          when=("What happened at my job in {month}?",)),
    Plant("I did a silent meditation retreat for three days, no phones, no talking.",
          ("Have I tried any mindfulness practices?", "Where did I go with no talking allowed?"),
          reply="Three days without talking, I could never."),
    Plant("My favourite season is autumn, the smell of wet leaves and woodsmoke.",
          ("What time of year do I like most?",),
          reply="Autumn people are the best people."),
    Plant("I've never seen snow in the Alps but it's on my bucket list, skiing in Switzerland.",
          ("What's something I want to do before I die?", "Which country do I dream of skiing in?"),
          reply="Switzerland in winter, I'm adding it to your list."),
    Plant("Jonah and I had a huge fight about money, we're seeing a counsellor now.",
          ("Are my partner and I having problems?",
           "What did we argue about?",
           "Why are Jonah and I seeing a counsellor?"),
          reply="It takes courage to get help. I'm glad you are."),
    Plant("I started therapy for my anxiety, every Wednesday at five.",
          ("When are my appointments for my mental health?", "What am I getting help with?"),
          reply="Proud of you. Wednesdays at five, I'll remember."),
    Plant("I'm a night owl, my best ideas come at 2 am.",
          ("When am I most creative?", "Am I a morning person?", "What happens at 2 am for me?"),
          reply="The 2 am brain is wild."),
    Plant("We named the garden gnome Gerald, he guards the zucchini.",
          ("What did we call the ornament in the garden?",),
          reply="Gerald takes his job very seriously, I assume."),
    Plant("I donated blood for the first time and nearly fainted, they gave me two cookies.",
          ("Did I do anything for the hospital?",
           "What happened when I gave blood?",
           "How many cookies did I get after donating blood?"),
          reply="Two cookies is the correct reward for bravery."),
]

# Said by Sam about the same topics with other details: near misses a retriever must rank below the evidence.
DISTRACTORS = [
    "My neighbour's husky howled all night again, I swear that dog never sleeps.",
    "Priya's cat knocked a whole plant off the shelf during our video call.",
    "Jonah's coworker is doing a marathon in Boston, he's been training for a year.",
    "I watched a documentary about whales last night, the blue whale heart is the size of a car.",
    "My cousin got a job at a bank downtown, she loves it somehow.",
    "Theo says the restaurant next to his is closing, rent got too high.",
    "Leah sent me pictures of snow, it's already freezing over there.",
    "Someone at work brought peanut butter cookies and I just stared at them sadly.",
    "Jonah tried to learn guitar once, lasted about two weeks.",
    "I saw an ad for flights to Tokyo, so tempting but no.",
    "My aunt's farm has goats now, apparently they eat everything.",
    "We watched Howl's Moving Castle last night, it's good but not my favourite.",
    "The food bank is short on canned beans this month, if anyone asks.",
    "My dad keeps sending me articles about cholesterol.",
    "Priya's husband is a nurse too, they met at the hospital.",
    "Jonah's sister has a golden retriever named Maple, total sweetheart.",
    "The aquarium got a new shark exhibit, everyone's obsessed with it.",
    "I read half of a thriller on the bus but I already forgot the title.",
    "My friend Dana got engaged too, there's something in the water.",
    "A coworker is selling her old car, a red Honda, if you know anyone.",
    "Leah's roommate plays cello at two in the morning apparently.",
    "Mom is trying a new recipe with lentils tonight.",
    "The bakery on our corner closed, which is tragic.",
    "Theo wants to visit in the summer and cook for everyone.",
]

USER_SMALL_TALK = [
    "Hey! Long day, but I'm here.", "Morning! Barely awake.", "Hi Mira, missed talking to you.",
    "Ugh, Mondays.", "It's pouring rain here again.", "Finally some sunshine today!",
    "I had the weirdest dream last night but I already forgot it.", "Work was fine, nothing exciting.",
    "I made pasta for dinner, nothing fancy.", "Can't believe how fast this week went.",
    "I'm so tired, I might fall asleep mid-sentence.", "Traffic was a nightmare this morning.",
    "What have you been up to?", "Tell me something fun.", "I need a distraction, honestly.",
    "Haha yes exactly.", "That's fair.", "Lol true.", "Mhm.", "Okay okay, you win.",
    "I'm procrastinating on laundry right now.", "The neighbours are having a party, it's so loud.",
    "I binged a whole season of a baking show yesterday.", "I tried a new tea, it was too flowery.",
    "Do you ever just stare at the ceiling for an hour?", "My phone screen cracked again, of course.",
    "I need to call my mom back, I keep forgetting.", "The heating is making weird noises.",
    "I think I'm getting a cold.", "Grocery shopping took forever today.",
    "Jonah's snoring on the couch right now, it's very cute and very loud.",
    "I finally cleaned the fridge, found things that should not exist.",
    "Anyway, enough about me.", "Sorry, I got distracted by a video.", "I'm back, sorry!",
    "That reminds me, I need to buy stamps.", "It's so quiet today.", "What a week.",
    "I'm eating cereal for dinner, living my best life.", "The bus was late again.",
    "Okay I have to go soon, but I wanted to say hi.", "Goodnight Mira!", "Talk tomorrow?",
    "That's such a Mira thing to say.", "You always know how to cheer me up.",
    "Honestly I just want a nap.", "Someone left a shopping cart in our driveway.",
    "The sunset was ridiculous tonight, all pink.", "I have so many tabs open.",
]

CHARACTER_SMALL_TALK = [
    "Hey you! I'm all ears.", "Tell me everything.", "Aw, I missed you too.", "That sounds exhausting.",
    "Get some rest, okay?", "Ha! Classic.", "Oh no, that's annoying.", "I love that for you.",
    "You deserve a quiet evening.", "Mm, I was just reading by the window.", "Rain days are for blankets.",
    "Sunshine suits you.", "I'm proud of you, you know.", "Oh, I've been baking bread, badly.",
    "That's the spirit.", "Hmm, tell me more.", "Want to hear a terrible joke?", "Fair enough!",
    "You're doing great, seriously.", "Ooh, drama.", "I'd have done the same.", "Sleep well!",
    "Of course, talk tomorrow.", "Ha, you're impossible.", "Deep breaths.", "I'm here whenever.",
    "That's such a you thing.", "Honestly? Iconic.", "Go do your laundry, I'll wait.",
    "How are you feeling about it?", "What would make today better?", "I'm listening.",
]

# Later mentions of planted things that answer none of the questions: same topic, other details.
FOLLOW_UPS = [
    "Biscuit ate one of Jonah's socks, we spent the evening watching him very closely.",
    "Took the puppy to the vet for his shots, he cried the whole time, poor baby.",
    "The dog park was packed today, Biscuit made three new friends.",
    "Work at the aquarium was chaos, one of the pumps broke and we were bailing water for hours.",
    "We released one of the rehabbed turtles today, I cried on the beach like an idiot.",
    "Leah called from her new apartment, it's tiny but she likes it.",
    "Cello practice went badly, the neighbours probably hate me now.",
    "My teacher gave me a new piece, some Bach, it's way too hard.",
    "My knees are still sore from the race, I'm walking like a penguin.",
    "Jonah got home at 7 am after a brutal shift, he's asleep now.",
    "Priya sent me a video of the babies sleeping, I melted.",
    "Olive made a horrible grinding noise on the highway, I think it's the brakes.",
    "Mom's doing better with the new meal plan, she even likes the brown rice.",
    "Chess was rough tonight, lost five games in a row.",
    "We put up shelves in the new house, only one is crooked.",
    "The tomatoes are finally turning red!",
    "Pickle knocked my coffee off the table this morning, on purpose, I'm sure of it.",
    "Theo sent me a photo of a new ramen special with corn and butter.",
    "Counselling was hard this week but I think it helped.",
    "Therapy was good today, we talked about work stress.",
    "Wedding planning is eating my whole brain, so many spreadsheets.",
    "Dad's walking with a cane now, he hates it.",
    "My marine biology reading for this week is all about coral.",
    "I knitted half a hat and then realised it's way too big.",
    "Telescope fund update: I'm about halfway there.",
]
# Said before or after a planted line in the same turn: real people wrap news in chatter.
OPENERS = ["Okay so, news. ", "Guess what? ", "Oh! I forgot to tell you. ", "", "", "", "Honestly? ", "So. "]
CLOSERS = ["", "", "", " Anyway, how was your day?", " Crazy, right?", " I'm still processing it.",
           " Sorry, random, but I had to tell someone.", " Okay, that's my update."]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
# fmt: on


@dataclass
class Turn:
    role: str  # "user" | "assistant"
    content: str
    at: datetime


@dataclass
class Question:
    text: str
    evidence: list[int]  # indexes into the turns
    kind: str  # "fact" | "answer" | "update" | "when"


@dataclass
class Chat:
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    sessions: int = 0


def build(seed: int = 7, sessions: int = 30) -> Chat:
    """The chat: `sessions` sessions of ~20-30 turns, every plant placed once (changes of mind later)."""
    rng = random.Random(seed)
    chat = Chat(sessions=sessions)
    plants = list(PLANTS)
    rng.shuffle(plants)
    # Every plant goes in some session; its change of mind (if any) 2-8 sessions later.
    placed: dict[int, list[tuple[Plant, bool]]] = {s: [] for s in range(sessions)}
    for index, plant in enumerate(plants):
        session = index * (sessions - 4) // len(plants)
        placed[session].append((plant, False))
        if plant.later:
            placed[min(sessions - 1, session + rng.randint(2, 8))].append((plant, True))
    follow_ups: dict[int, list[str]] = {s: [] for s in range(sessions)}
    for text in FOLLOW_UPS:
        follow_ups[rng.randint(sessions // 3, sessions - 1)].append(text)
    distractors = list(DISTRACTORS)
    rng.shuffle(distractors)
    evidence: dict[int, int] = {}  # plant index -> turn index of its current evidence
    month_of: dict[int, str] = {}
    start = datetime(2026, 1, 6, 19, 0)
    for session in range(sessions):
        day = start + timedelta(days=session * 8 + rng.randint(0, 3), minutes=rng.randint(0, 180))
        clock = [day]

        def say(role: str, text: str, clock: list[datetime] = clock) -> int:
            clock[0] += timedelta(seconds=rng.randint(20, 240))
            chat.turns.append(Turn(role, text, clock[0]))
            return len(chat.turns) - 1

        beats: list[tuple[str, object]] = [("plant", p) for p in placed[session]]
        beats += [("distractor", distractors.pop())] if distractors and rng.random() < 0.8 else []
        beats += [("follow", f) for f in follow_ups[session]]
        beats += [("small", None)] * rng.randint(6, 10)
        rng.shuffle(beats)
        say("user", rng.choice(USER_SMALL_TALK[:3]))
        say("assistant", rng.choice(CHARACTER_SMALL_TALK[:3]))
        for kind, item in beats:
            if kind == "small":
                say("user", rng.choice(USER_SMALL_TALK))
                say("assistant", rng.choice(CHARACTER_SMALL_TALK))
            elif kind in ("distractor", "follow"):
                say("user", str(item))
                say("assistant", rng.choice(CHARACTER_SMALL_TALK))
            else:
                plant, is_later = item  # type: ignore[misc]
                key = plants.index(plant)
                if is_later:
                    evidence[key] = say("user", plant.later)
                    say("assistant", plant.later_reply or rng.choice(CHARACTER_SMALL_TALK))
                    continue
                if plant.lead:
                    say("user", rng.choice(USER_SMALL_TALK))
                    say("assistant", plant.lead)
                evidence[key] = say("user", rng.choice(OPENERS) + plant.says + rng.choice(CLOSERS))
                month_of[key] = MONTHS[chat.turns[evidence[key]].at.month - 1]
                say("assistant", plant.reply or rng.choice(CHARACTER_SMALL_TALK))
        say("user", rng.choice(USER_SMALL_TALK[-8:]))
        say("assistant", rng.choice(CHARACTER_SMALL_TALK[-8:]))
    for key, plant in enumerate(plants):
        kind = "update" if plant.later else ("answer" if plant.lead else "fact")
        for text in plant.asks:
            # A third of the questions ask about Sam by name, as a benchmark reader (LoCoMo's style) would.
            chat.questions.append(Question(third_person(text) if rng.random() < 0.33 else text, [evidence[key]], kind))
        for text in plant.when:
            chat.questions.append(Question(text.format(month=month_of[key]), [evidence[key]], "when"))
    return chat


THIRD_PERSON = [
    (" do I ", " does Sam "),
    (" did I ", " did Sam "),
    (" am I ", " is Sam "),
    (" have I ", " has Sam "),
    (" I'm ", " Sam is "),
    (" I ", " Sam "),
    (" me ", " Sam "),
    (" me?", " Sam?"),
]


def third_person(question: str) -> str:
    """ "What did I name my dog?" -> "What did Sam name their dog?" (good enough English for retrieval)."""
    text = f" {question} "
    for first, third in THIRD_PERSON:
        text = text.replace(first, third)
    text = text.replace(" my ", " Sam's ", 1).replace(" my ", " their ").replace(" My ", " Sam's ")
    return text.strip()


def summary(chat: Chat) -> str:
    kinds: dict[str, int] = {}
    for question in chat.questions:
        kinds[question.kind] = kinds.get(question.kind, 0) + 1
    spread = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return f"{len(chat.turns)} turns in {chat.sessions} sessions, {len(chat.questions)} questions ({spread})"


# Narration that says nothing a question asks about, for `with_narration`.
NARRATION = [
    "The kettle ticks as it cools on the stove, and the afternoon light slides slowly across the floorboards.",
    "Outside, a bus sighs at the corner and pulls away, its windows fogged from the inside.",
    "A fly circles the lamp twice before settling on the curtain rail, unbothered by anyone.",
    "The radio in the other room murmurs about traffic on the ring road and a delay on the northern line.",
    "Somewhere upstairs a door closes softly, then the pipes knock as someone runs a bath.",
    "The clock above the fridge runs a few minutes fast, as it has for years, and nobody fixes it.",
    "A draught finds its way under the window and lifts the corner of a paper napkin.",
    "The streetlights flicker on one by one along the avenue, orange against the grey.",
    "There is a faint smell of toast and something sweet, cinnamon perhaps, drifting from the kitchen.",
    "The sofa creaks as weight shifts on it, a familiar complaint from the old springs.",
    "Rain begins, first a few heavy drops on the glass, then a steady patter that fills the silence.",
    "A neighbour's television laughs at a joke through the wall, muffled and far away.",
    "The houseplant by the window leans toward the light, its leaves dusty and patient.",
    "Cars hiss past on the wet road below, headlights sweeping across the ceiling now and then.",
]


def with_narration(chat: Chat, *, after: bool, seed: int = 5) -> Chat:
    """The same chat with ~1,000 characters of roleplay narration around every turn: before what it says
    (past what the embedding model reads of a message: 256 word pieces) or `after` it."""
    rng = random.Random(seed)

    def padded(text: str) -> str:
        narration = " ".join(rng.sample(NARRATION, 10))
        return f"{text} {narration}" if after else f"{narration} {text}"

    turns = [Turn(turn.role, padded(turn.content), turn.at) for turn in chat.turns]
    return Chat(turns=turns, questions=chat.questions, sessions=chat.sessions)
