"""Generator of the bundled SYNTHETIC demo corpus (ReDSM5 release format, invented texts).

Every text here was written for this project from phrase banks and templates; nothing comes from ReDSM5 or from
any real person, and the labels mean nothing clinically. The corpus exists so that the pipeline (groundtruth,
splits, training, HPO) runs end to end without the gated dataset, and so that its tests meet the quirks of the real
release (see shared/design/DATA.md):

* posts without any symptom, some without a single annotation row, some with only status-0 rows;
* status-0 rows on negated / resolved / third-person / everyday sentences, and the same kind of sentences left
  unannotated as distractors (also in symptom-free posts);
* sentences carrying two symptoms, posts with two evidence sentences for one symptom;
* long posts (500-900 words) whose evidence sits after word 450 (beyond 512 tokens);
* annotated sentences that are not verbatim in their post (whitespace, quotes, case, a small edit) and two that are
  unrelated to their post;
* exact duplicate rows, one ``LEEP_ISSUES`` typo, two ``SPECIAL_CASE`` rows;
* multi-line quoted fields, ``<URL>``, markdown, emoji, curly quotes.

Deterministic: ``random.Random(seed)`` only, so two runs give byte-identical files::

    python -m psy_agents.data.demo_corpus --out data/demo --seed 13
"""

from __future__ import annotations

import argparse
import csv
import difflib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from psy_agents.data.criteria_text import SYMPTOMS, criterion_id

DEFAULT_OUT = "data/demo"
DEFAULT_SEED = 13
DEFAULT_POSTS = 440

POSTS_FILE = "redsm5_posts.csv"
ANNOTATIONS_FILE = "redsm5_annotations.csv"
POST_COLUMNS = ("post_id", "text")
ANNOTATION_COLUMNS = ("post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status", "explanation")

# Symptom labels, looked up by criterion id so that nothing depends on retyping the release labels.
_BY_ID = {criterion_id(s): s for s in SYMPTOMS}
DEPRESSED_MOOD, ANHEDONIA, APPETITE_CHANGE = _BY_ID["A.1"], _BY_ID["A.2"], _BY_ID["A.3"]
SLEEP_ISSUES, PSYCHOMOTOR, FATIGUE = _BY_ID["A.4"], _BY_ID["A.5"], _BY_ID["A.6"]
WORTHLESSNESS, COGNITIVE_ISSUES, SUICIDAL_THOUGHTS = _BY_ID["A.7"], _BY_ID["A.8"], _BY_ID["A.9"]
TYPO_LABEL = SLEEP_ISSUES[1:]  # "LEEP_ISSUES": the typo of the real release
SPECIAL_CASE = "SPECIAL_CASE"

# ----------------------------------------------------------------------------------------------------------------
# Corpus shape
# ----------------------------------------------------------------------------------------------------------------
NO_SYMPTOM_SHARE = 0.25
NO_ROW_POSTS = 8  # symptom-free posts without a single annotation row
LONG_POST_SHARE = 0.05
LONG_WORDS = (520, 860)  # target length of a long post
LATE_WORD = 460  # evidence of a long post starts after this many words
# (primary weight, extra weight): every symptom post gets one primary symptom, then extras are added on top.
# Shaped like the real release: mood and worthlessness most frequent, psychomotor and appetite rarest.
SYMPTOM_WEIGHTS = {
    DEPRESSED_MOOD: (70, 40),
    ANHEDONIA: (32, 13),
    APPETITE_CHANGE: (21, 6),
    SLEEP_ISSUES: (28, 12),
    PSYCHOMOTOR: (21, 5),
    FATIGUE: (32, 13),
    WORTHLESSNESS: (65, 35),
    COGNITIVE_ISSUES: (23, 7),
    SUICIDAL_THOUGHTS: (38, 17),
}
PAIR_SENTENCE_P = 0.5  # post has both symptoms of a pair -> one sentence carries both
SECOND_EVIDENCE_P = 0.15  # a second evidence sentence for the same symptom
DISTRACTOR_ROW_P = 0.3  # a distractor in a symptom post is annotated status 0
FREE_DISTRACTOR_ROW_P = 0.5  # same in a symptom-free post (which always gets at least one status-0 row)
# Quirk counts.
MUTATIONS = {  # annotated sentence not verbatim in its post, fuzzy-matchable
    "double_space_in_post": 3,
    "double_space_in_annotation": 2,
    "newline_in_post": 3,
    "newline_in_annotation": 1,
    "quotes": 7,
    "case": 5,
    "edit": 7,
}
DUPLICATE_ROWS = 10
SPECIAL_CASE_ROWS = 2
MULTILINE_EXPLANATIONS = 5

# ----------------------------------------------------------------------------------------------------------------
# Evidence banks. "states" take any prefix/suffix; "events" (one-off happenings) only take soft prefixes.
# Cores start lower-case unless they start with the pronoun I; composition capitalises the first letter.
# ----------------------------------------------------------------------------------------------------------------
EVIDENCE: dict[str, dict[str, list[str]]] = {
    DEPRESSED_MOOD: {
        "states": [
            "I feel sad pretty much all day, every day",
            "there's this heavy emptiness in my chest that never really leaves",
            "I cry in the shower most mornings so nobody hears me",
            "everything feels grey and pointless",
            "I've felt hopeless for months now",
            "I'm just so tired of everything",
            "I don't remember the last time I felt genuinely okay",
            "it feels like a dark cloud follows me wherever I go",
            "I feel numb and hollow inside",
            "I'm miserable and I can't shake it",
            "the sadness hits me as soon as I open my eyes",
            "I feel like I'm drowning and nobody notices",
            "the despair is so heavy some days that I can barely breathe",
            "I smile at work and fall apart the second I get home",
            "I feel so low that nothing seems worth it",
            "life feels like one long grey blur",
        ],
        "events": [
            'my mom keeps asking "what is wrong with you" and I just start crying',
            "I broke down crying in the supermarket last week for no reason",
            "I spent my whole birthday feeling empty and pretending to be fine",
        ],
    },
    ANHEDONIA: {
        "states": [
            "I used to love drawing but now I can't even pick up a pencil",
            "nothing is fun anymore, not even the games I used to play for hours",
            "I don't enjoy anything these days",
            "my friends invite me out and I just don't care enough to go",
            "music used to be my whole life and now it's just noise",
            "I've lost interest in basically everything I used to like",
            "even my favourite shows feel boring and flat",
            "I'm tired of everything and none of it matters to me anymore",
            "hobbies feel like chores now",
            "I can't remember the last time something excited me",
            "food, games, going out, none of it gives me any pleasure",
            "I just scroll for hours without actually enjoying any of it",
            "stuff that used to make me happy does nothing for me now",
            "I don't look forward to anything anymore",
        ],
        "events": [
            "I stopped going to football practice because I felt nothing when I played",
            "I quit the band because playing felt empty",
            "I bought a book I was looking forward to and never even opened it",
        ],
    },
    APPETITE_CHANGE: {
        "states": [
            "I barely eat anymore, maybe one meal a day if that",
            "I keep stress eating junk food late at night",
            "food tastes like cardboard so I just skip meals",
            "I forget to eat for entire days",
            "my jeans are falling off me because I've stopped eating properly",
            "I have no appetite at all, even for my favourite dishes",
            "the thought of food makes me feel sick",
            "I can go two days on coffee alone and not notice",
            "I'm constantly raiding the fridge even when I'm not hungry",
            "eating feels like a chore so I mostly don't",
            "I eat a whole family pizza by myself and still want more",
        ],
        "events": [
            "I've lost almost ten kilos without trying",
            "I've gained a lot of weight since this started because eating is my only comfort",
            "I've put on twenty pounds in three months from bingeing",
            "my mom noticed I've gotten really thin",
            "I lost my appetite completely after the breakup",
        ],
    },
    SLEEP_ISSUES: {
        "states": [
            "I can't fall asleep until four or five in the morning",
            "I wake up at 3am every night and just stare at the ceiling",
            "I've been sleeping fourteen hours a day and still want more",
            "my sleep schedule is completely wrecked",
            "I lie awake for hours with my mind racing",
            "I can't get out of bed before noon on most days",
            "insomnia has been kicking my ass for weeks",
            "I sleep through my alarms and miss morning classes",
            "I haven't had a full night's sleep in months",
            "I nap after work and then I'm wide awake the whole night",
            "I keep waking up every hour or two",
            "I only get three or four hours a night now",
            "I spend entire weekends asleep",
            "sleep is the only escape so I sleep as much as I can",
            "I stay up until sunrise because my brain won't shut off",
        ],
        "events": [
            "my doctor gave me sleeping pills but I still can't stay asleep",
        ],
    },
    PSYCHOMOTOR: {
        "states": [
            "I move so slowly that my coworkers keep asking if I'm okay",
            "I can't sit still and I pace around my room for hours",
            "my speech has gotten so slow that people finish my sentences for me",
            "I feel like I'm walking through wet cement all the time",
            "I'm constantly restless and fidgeting, my leg never stops bouncing",
            "it takes me forever to answer even simple questions out loud",
            "my body feels heavy and sluggish, like everything is in slow motion",
            "I keep wringing my hands and can't stay in one spot",
            "my girlfriend says I talk in a flat, slow voice now",
            "I get so agitated that I have to keep getting up and walking around",
            "simple movements like brushing my teeth feel slowed down",
            "I feel jittery and on edge, like I can't stop moving",
            "people notice I shuffle around instead of walking normally",
            "I sit frozen on the couch for long stretches, barely moving",
            "my hands won't stop shaking and I keep pacing the hallway",
        ],
        "events": [],
    },
    FATIGUE: {
        "states": [
            "I'm exhausted all the time, even after doing nothing",
            "I have zero energy to do anything",
            "taking a shower feels like running a marathon",
            "I'm so drained that I come home and lie on the floor",
            "I feel tired down to my bones every single day",
            "even small tasks like doing the dishes wipe me out",
            "I have no energy left by ten in the morning",
            "my body feels like it's running on empty",
            "I'm physically worn out and I don't know why",
            "getting dressed takes all the energy I have",
            "I'm always tired no matter how much I rest",
            "walking to the car exhausts me now",
            "I feel completely burnt out and sluggish",
            "just existing feels like it takes too much effort",
            "I'm too wiped out to even reply to texts",
            "the fatigue is constant and heavy",
        ],
        "events": [],
    },
    WORTHLESSNESS: {
        "states": [
            "I feel completely worthless",
            "I'm a burden to everyone around me",
            "I hate myself for being such a failure",
            "I feel guilty about everything, even things that aren't my fault",
            "I'm useless and everyone would agree if they were honest",
            "I keep blaming myself for my parents' divorce",
            "I'm just a waste of space",
            "I feel like I don't deserve any of the good things in my life",
            "I'm ashamed of who I've become",
            "I'm never good enough no matter what I do",
            "I constantly feel like a disappointment to my family",
            "I hate everything about myself",
            "I feel like a fraud at work who doesn't deserve the job",
            "I ruin everything I touch",
            "I can't stop thinking that it's all my fault",
            "I'm pathetic and I know it",
            "everyone else has actual value and I don't",
        ],
        "events": [],
    },
    COGNITIVE_ISSUES: {
        "states": [
            "I can't concentrate on anything for more than a few minutes",
            "I read the same paragraph five times and nothing sticks",
            "my memory has gotten so bad that I forget conversations from yesterday",
            "even picking what to eat feels like an impossible decision",
            "my brain feels foggy all the time",
            "I zone out in the middle of lectures and lose track completely",
            "I can't focus at work and I keep making dumb mistakes",
            "I can't think straight anymore",
            "I forget appointments constantly now, which never used to happen",
            "making any decision, even a small one, paralyzes me",
            "my thoughts are slow and jumbled",
            "I stare at my screen for hours unable to start anything",
            "I lose my train of thought mid-sentence",
            "studying is impossible because nothing goes in",
            "it's like my head is full of cotton wool",
            "I keep forgetting why I walked into a room",
        ],
        "events": [],
    },
    SUICIDAL_THOUGHTS: {
        "states": [
            "I keep thinking everyone would be better off if I were gone",
            "I've started thinking about ending it",
            "sometimes I wish I could just go to sleep and not wake up",
            "I don't want to be alive anymore",
            "I think about death almost every day",
            "I've been having suicidal thoughts again",
            "if I got hit by a car tomorrow I honestly wouldn't mind",
            "I keep imagining my own funeral",
            "I don't see a reason to keep going",
            "part of me wants to disappear for good",
            "I have a plan and that scares me",
            "dying seems like the only way out",
            "I wish I had never been born",
        ],
        "events": [
            "I've been looking up ways to kill myself",
            "I wrote a goodbye letter last week and hid it in my desk",
            "I stood on the bridge for a long time last night",
            "I tried to overdose last year and the urge is coming back",
        ],
    },
}

# One sentence, two symptoms (both status 1).
PAIR_SENTENCES: dict[tuple[str, str], list[str]] = {
    (DEPRESSED_MOOD, ANHEDONIA): [
        "I'm tired of everything and nothing makes me happy anymore",
        "I feel empty and I don't enjoy a single thing I used to love",
        "everything feels pointless and I can't be bothered with any of my hobbies",
    ],
    (FATIGUE, SLEEP_ISSUES): [
        "I sleep twelve hours and still wake up completely exhausted",
        "I barely sleep and I'm running on no energy at all",
        "I can't sleep at night and then I'm drained all day",
    ],
    (WORTHLESSNESS, SUICIDAL_THOUGHTS): [
        "everyone would be better off without a useless person like me",
        "I'm such a burden that I keep thinking about ending it",
        "I hate myself so much that I don't want to exist anymore",
    ],
    (DEPRESSED_MOOD, WORTHLESSNESS): [
        "I feel empty and like a complete failure",
        "I'm sad all the time and I blame myself for all of it",
        "I feel hopeless and worthless at the same time",
    ],
    (FATIGUE, COGNITIVE_ISSUES): [
        "I'm so drained that I can't think straight",
        "I'm too exhausted to focus on anything at work",
    ],
    (APPETITE_CHANGE, DEPRESSED_MOOD): [
        "I'm so miserable that I haven't eaten properly in days",
        "I feel sad and empty and food has lost all its taste",
    ],
    (SLEEP_ISSUES, SUICIDAL_THOUGHTS): [
        "I lie awake at night thinking about ending it",
        "most nights I can't sleep because I keep thinking about killing myself",
    ],
    (PSYCHOMOTOR, FATIGUE): [
        "I move like I'm underwater and every step takes all my energy",
        "I'm slowed down and exhausted, like my body is made of lead",
    ],
    (COGNITIVE_ISSUES, WORTHLESSNESS): [
        "I can't concentrate at work and I feel like a useless idiot because of it",
    ],
}

TIME_PREFIXES = ["Lately, ", "These days ", "For the past few months ", "Most days ", "Since the start of the year ",
                 "Right now ", "Some weeks "]
SOFT_PREFIXES = ["Honestly, ", "To be honest, ", "And ", "I guess ", "On top of that, ", "Also ", "Idk, "]
SUFFIXES = [" and I don't know why", " and it's getting worse", " no matter what I do", " and I hate it",
            " if that makes sense", " lately", " most of the time"]

# ----------------------------------------------------------------------------------------------------------------
# Distractors: symptom words in a sentence that is not a symptom. (text, kind) with kind neg (denied / resolved),
# other (someone else), normal (everyday context). Used as status-0 rows and as unannotated sentences.
# ----------------------------------------------------------------------------------------------------------------
DISTRACTORS: dict[str, list[tuple[str, str]]] = {
    DEPRESSED_MOOD: [
        ("I'm actually in a pretty good mood today.", "neg"),
        ("I felt a bit sad when the season finale ended, which is normal I guess.", "normal"),
        ("My sister has been really down since her breakup.", "other"),
        ("I'm not depressed, I'm just stressed about exams.", "neg"),
        ("Honestly the last few weeks have been some of the happiest of my life.", "neg"),
        ("I cried at my cousin's wedding but they were happy tears.", "normal"),
        ("My mood has been a lot more stable since I started running.", "neg"),
        ("I used to feel hopeless in high school but that passed years ago.", "neg"),
        ("My dad has depression and I worry about him.", "other"),
        ("It was a gloomy, grey day but we still had fun at the park.", "normal"),
        ("I've been a bit down about my exam results but it's okay.", "normal"),
    ],
    ANHEDONIA: [
        ("We went out for pizza and it was great.", "normal"),
        ("I still love playing guitar on the weekends.", "neg"),
        ("I've been really enjoying the new Zelda game.", "neg"),
        ("I got back into painting and it feels good.", "neg"),
        ("My brother lost interest in football after he got injured.", "other"),
        ("I didn't enjoy the concert much because the sound was bad.", "normal"),
        ("I'm excited about the camping trip next month.", "neg"),
        ("Board game night with friends is the highlight of my week.", "neg"),
        ("I stopped playing the piano because my new job leaves no time for it.", "normal"),
        ("Nothing beats a lazy Sunday with a good book.", "neg"),
    ],
    APPETITE_CHANGE: [
        ("My appetite is back to normal.", "neg"),
        ("I had a huge breakfast because I was starving after the gym.", "normal"),
        ("I'm on a diet for my marathon training.", "normal"),
        ("I lost some weight on purpose by cutting out soda.", "normal"),
        ("My mom cooked lasagna and I had seconds.", "normal"),
        ("I'm eating regular meals again.", "neg"),
        ("My roommate eats nothing but instant noodles.", "other"),
        ("I skipped lunch because the meeting ran over.", "normal"),
        ("We tried a new Thai restaurant and the food was amazing.", "normal"),
        ("My dog has lost weight since the vet changed his food.", "other"),
    ],
    SLEEP_ISSUES: [
        ("I sleep fine now.", "neg"),
        ("I stayed up late playing video games with friends on Saturday.", "normal"),
        ("My cat woke me up at six to be fed.", "normal"),
        ("I've been sleeping well since I stopped drinking coffee after lunch.", "neg"),
        ("The baby next door cries at night but I sleep through it.", "neg"),
        ("I had a weird dream about my old school.", "normal"),
        ("My roommate snores so I bought earplugs.", "other"),
        ("I used to have insomnia as a teenager but it went away.", "neg"),
        ("I took a nap after the long drive.", "normal"),
        ("Night shifts mess with everyone's sleep at my job, it's just part of it.", "normal"),
    ],
    PSYCHOMOTOR: [
        ("I walked slowly because my knee still hurts from football.", "normal"),
        ("I was fidgeting during the interview because I was nervous.", "normal"),
        ("I've been going for a run every morning.", "neg"),
        ("My grandpa moves slowly since his hip surgery.", "other"),
        ("I paced around the kitchen while waiting for my exam results.", "normal"),
        ("I talk really fast when I'm excited about something.", "normal"),
        ("My legs were shaking after the climbing wall.", "normal"),
        ("I danced all night at my friend's birthday.", "neg"),
        ("I can't sit still during long car rides, never could.", "normal"),
    ],
    FATIGUE: [
        ("I'm not tired at all these days.", "neg"),
        ("I was exhausted after the twelve-hour shift, which is fair.", "normal"),
        ("I have way more energy since I started cycling to work.", "neg"),
        ("My mom is always tired because she works two jobs.", "other"),
        ("I was wiped out after moving all the furniture.", "normal"),
        ("I felt sleepy in the afternoon after a big lunch.", "normal"),
        ("My energy is finally back after the flu.", "neg"),
        ("Hiking the whole trail left me tired but happy.", "normal"),
        ("I feel rested and ready for the week.", "neg"),
        ("I've been a little tired lately, probably because of the heat.", "normal"),
    ],
    WORTHLESSNESS: [
        ("I'm proud of how I handled the argument.", "neg"),
        ("I felt guilty for eating the last slice of cake lol.", "normal"),
        ("My boss said I did a great job on the presentation.", "neg"),
        ("My friend always calls himself useless but he's the smartest guy I know.", "other"),
        ("I know I'm a good person even if I mess up sometimes.", "neg"),
        ("I apologised to my sister for missing her birthday.", "normal"),
        ("I used to think I was worthless but therapy helped a lot.", "neg"),
        ("I got a decent grade and felt good about myself for once.", "neg"),
        ("I messed up an order at work and laughed it off with my coworker.", "normal"),
    ],
    COGNITIVE_ISSUES: [
        ("I forgot my keys again, classic me.", "normal"),
        ("I couldn't decide between two pizzas so we got both.", "normal"),
        ("Math was hard today but I got it eventually.", "normal"),
        ("My focus has been great since I started using a planner.", "neg"),
        ("My grandma is getting forgetful but the doctor says it's normal for her age.", "other"),
        ("I studied for six hours straight and it actually went in.", "neg"),
        ("I got distracted by my phone during the lecture.", "normal"),
        ("It took me a while to choose a new laptop.", "normal"),
        ("I'm pretty good at remembering names.", "neg"),
    ],
    SUICIDAL_THOUGHTS: [
        ("My dog died last month and I miss him so much.", "normal"),
        ("My grandfather passed away in the spring.", "normal"),
        ("I'm scared of dying on planes so I always take the train.", "normal"),
        ("I would never hurt myself, I just need to vent.", "neg"),
        ("We watched a documentary about serial killers.", "normal"),
        ("My friend attempted suicide last year and she's doing better now.", "other"),
        ("I used to think about ending it in high school but I'm in a much better place now.", "neg"),
        ("My character keeps dying in Elden Ring.", "normal"),
        ("I went to the funeral of my old teacher.", "normal"),
        ("I want to live a long life and see the world.", "neg"),
    ],
}

# ----------------------------------------------------------------------------------------------------------------
# Neutral narrative.
# ----------------------------------------------------------------------------------------------------------------
WHEN = ["Last weekend", "Yesterday", "On Friday", "A couple of weeks ago", "Over the holidays", "Back in March",
        "This morning", "After my shift", "Two summers ago", "On my day off"]
ACTIVITIES = ["went hiking", "played Mario Kart", "watched a documentary about octopuses",
              "cleaned the whole apartment", "painted the spare room", "drove to my grandparents' place", "went to the farmers market",
              "fixed a flat tyre on my bike", "played board games", "went bowling", "baked banana bread",
              "went to the beach", "built an IKEA wardrobe", "walked the neighbour's dog", "went to a birthday party",
              "watched the football", "went thrift shopping"]
WHO = ["my roommate", "my sister", "a friend from work", "my dad", "my girlfriend", "my boyfriend",
       "two guys from my class", "my cousin", "my neighbours"]
RELATIVES = ["sister", "brother", "mom", "dad", "aunt", "grandma", "roommate", "best friend", "uncle"]
RELATIVE_NEWS = ["just moved to another city for a new job", "is getting married next spring",
                 "works night shifts at the hospital", "started a small bakery", "keeps sending me memes all day",
                 "got a puppy last month", "is studying to be an electrician", "plays in a local cover band",
                 "has been renovating the kitchen for a year", "is visiting us over Easter"]
WORKPLACES = ["a call centre", "a grocery store", "a small law firm", "a warehouse", "a coffee shop",
              "a dental office", "a car dealership", "a garden centre"]
WORK_DETAILS = ["the hours are long but the people are nice", "my manager is fine most of the time",
                "we just got a new scheduling system", "it's about twenty minutes from home",
                "the pay is okay for now", "we are short staffed this month"]
YEARS = ["first", "second", "third", "final"]
SUBJECTS = ["nursing", "computer science", "history", "accounting", "mechanical engineering", "biology",
            "graphic design"]
SCHOOLS = ["a community college", "university", "a state school", "a college two hours from home"]
CHILDHOOD_AGES = ["a kid", "ten", "in middle school", "a teenager", "in high school"]
CHILDHOOD = ["we moved around a lot because of my dad's job", "I spent most summers at my grandparents' house",
             "I was really into drawing comics", "I broke my arm falling off a trampoline",
             "my parents ran a small restaurant", "I played the clarinet in the school orchestra"]
CHANGES = ["graduating", "the move", "my parents' divorce", "I switched jobs", "my best friend moved away",
           "we got the new puppy"]
CONSEQUENCES = ["things got kind of quiet", "I had to find new friends", "I started working full time",
                "we all had to adjust", "I spent more time at home", "my routine changed a lot"]
FILLER_TEMPLATES = [
    "{when} I {activity} with {who}.",
    "{when} {who} and I {activity}.",
    "My {relative} {relative_news}.",
    "I work at {workplace} and {work_detail}.",
    "I'm in my {year} year of {subject} at {school}.",
    "When I was {childhood_age}, {childhood}.",
    "After {change}, {consequence}.",
]
FILLER_SENTENCES = [
    "We've had rain for basically a week straight.",
    "My car needs new brakes and I've been putting it off.",
    "The rent here went up again this year.",
    "I moved into a new apartment in the autumn.",
    "My parents split up when I was twelve but we all get along now.",
    "I have a cat named Pickles who sits on my keyboard.",
    "I've been trying to learn Spanish on an app.",
    "We adopted a rescue dog from the shelter in town.",
    "I started a part-time job at the library.",
    "My team lost the final on penalties.",
    "The neighbours have been renovating for months and it's loud.",
    "I got my driving licence on the second try.",
    "My grandma taught me to knit when I was little.",
    "I've been playing a lot of Stardew Valley with my brother.",
    "There's a new coffee place on my street.",
    "I finally finished the puzzle my aunt gave me.",
    "My phone screen cracked last week.",
    "Our landlord is selling the building.",
    "I switched majors from chemistry to history.",
    "I volunteer at an animal shelter on Sundays.",
    "We spent Christmas at my uncle's farm.",
    "I've been watching a lot of cooking videos.",
    "My roommate is moving out at the end of the month.",
    "I play bass in a band with friends from school.",
    "I got a new laptop for my birthday.",
    "Work has been busy because two people quit.",
    "The bus to campus takes almost an hour.",
    "My sister had a baby in January.",
    "I've lived in the same small town my whole life.",
    "I recently started seeing a counsellor through my school.",
    "I'm on a waiting list to see a psychiatrist.",
    "My parents don't really believe in mental health stuff.",
    "I've never posted on Reddit before.",
    "My best friend moved abroad last year.",
    "I have exams in two weeks.",
    "I tried yoga once and fell over.",
    "My dad and I don't talk much but it's not a bad relationship.",
    "I got promoted to shift lead in the summer.",
    "We have a group chat that's mostly memes.",
    "I'm the oldest of four kids.",
    "My roommate calls my room “the cave” because the blinds are always shut.",
    "My dad always says “it builds character” about everything.",
    "The sign at my gym says “no excuses” which is a bit much.",
]
INTRO_FIXED = [
    "Throwaway because my family knows my main account.",
    "Long time lurker, first time posting.",
    "Not really sure where else to post this.",
    "On mobile so sorry about the formatting.",
    "I don't usually post stuff like this.",
    "This is going to be a bit of a ramble.",
]
AGES = [16, 17, 19, 20, 21, 23, 24, 26, 28, 31, 34, 38, 42, 47]
ROLES = ["college student", "nurse", "warehouse worker", "dad of two", "software tester", "high school senior",
         "barista", "stay at home mom", "line cook", "grad student"]
SITUATIONS = ["I live with my parents", "I just finished my first year of college", "I work full time in retail",
              "I moved to a new city for work last year", "I'm in my last year of high school",
              "I share a flat with two friends", "I've been married for three years"]
CLOSINGS = [
    "Thanks for reading if you got this far.",
    "I don't really know what I'm asking for.",
    "Any advice would mean a lot.",
    "Sorry for the wall of text.",
    "I just needed to get this off my chest.",
    "Has anyone else been through something like this?",
    "**Edit:** thanks for the replies, I'm reading all of them.",
    "**Edit:** formatting.",
]
URL_SENTENCES = [
    "Someone linked me this <URL> and I'm still reading it.",
    "I found this thread <URL> which helped me put it into words.",
    "Here's the article my counsellor sent me: <URL>",
]
LIST_HEADERS = ["Stuff I've tried so far:", "Things that happened this year:", "My week so far:"]
LIST_ITEMS = ["**therapy** (a few sessions)", "journaling before bed", "cutting down on caffeine", "going for walks",
              "a meditation app", "talking to my GP", "a new gym routine", "moving flats", "**finals**",
              "a new job"]
EMOJI = [" 🙃", " 😅", " 🙂", " 😔"]

# ----------------------------------------------------------------------------------------------------------------
# Explanations (one short sentence per row).
# ----------------------------------------------------------------------------------------------------------------
EXPLAIN_LEADS = ["The writer", "The author", "The poster", "This person", "The user", "Here the writer"]
EXPLAIN_VERBS = ["describes", "reports", "talks about", "openly mentions", "points to", "hints at"]
EXPLAIN_TAILS = ["which fits criterion {cid}", "consistent with {cid}", "so the symptom is marked present",
                 "a clear sign for {cid}", "counted as evidence for {cid}"]
GLOSS = {
    DEPRESSED_MOOD: ["a sad, empty mood that does not lift", "persistent sadness and hopelessness",
                     "feeling low most of the day"],
    ANHEDONIA: ["losing interest in things once enjoyed", "no pleasure in usual activities",
                "hobbies that no longer mean anything"],
    APPETITE_CHANGE: ["a marked change in eating", "weight change tied to eating habits", "appetite going off track"],
    SLEEP_ISSUES: ["badly disturbed sleep", "insomnia or oversleeping", "a broken sleep pattern"],
    PSYCHOMOTOR: ["slowed movement or speech", "restlessness others can see", "agitation or slowing of the body"],
    FATIGUE: ["constant tiredness", "a lack of energy for small tasks", "exhaustion without a clear cause"],
    WORTHLESSNESS: ["feeling worthless", "heavy guilt and self-blame", "a harsh, negative view of themselves"],
    COGNITIVE_ISSUES: ["trouble concentrating", "memory and decision problems", "foggy, slow thinking"],
    SUICIDAL_THOUGHTS: ["thoughts of death or dying", "suicidal ideas", "wishing not to be alive"],
}
TOPIC = {
    DEPRESSED_MOOD: "their mood", ANHEDONIA: "hobbies or fun", APPETITE_CHANGE: "food or eating",
    SLEEP_ISSUES: "sleep", PSYCHOMOTOR: "how they move", FATIGUE: "energy or tiredness",
    WORTHLESSNESS: "guilt or self-image", COGNITIVE_ISSUES: "focus or memory", SUICIDAL_THOUGHTS: "death",
}
REASONS = {
    "neg": ["but says it is fine now", "but denies having a problem", "but describes it as resolved"],
    "other": ["but it is about someone else", "but the person affected is not the writer"],
    "normal": ["but in an ordinary, short-lived context", "but nothing points to a lasting change",
               "but it reads as everyday life rather than a symptom"],
}
EXPLAIN_ADDENDA = ["Second rater agreed.", "Borderline; kept after discussion.",
                   "Context: the rest of the post supports this reading."]
SPECIAL_CASE_EXPLANATION = "Flagged for review: the sentence is ambiguous and fits no single criterion."

# Annotated sentences unrelated to their post (annotation mix-ups; the pipeline cannot match and must drop them).
# (text, symptom, status); each goes to a post that already has verbatim evidence for that symptom.
UNRELATED_ROWS = [
    ("Ever since the greenhouse flooded I have felt like a hollow shell of a person.", DEPRESSED_MOOD, 1),
    ("Our accordion teacher retired and the lessons stopped, which was fine by me.", ANHEDONIA, 0),
]
DROPPABLE_WORDS = ("just", "really", "so", "even", "all", "completely", "honestly", "actually", "now", "still")
WORD_SWAPS = {"I'm": "I am", "can't": "cannot", "don't": "do not", "really": "very", "every": "each"}
EDIT_MIN_CHARS = 60
EDIT_MIN_RATIO = 0.95


# ----------------------------------------------------------------------------------------------------------------
# Data model
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    unit: int  # index of the sentence in the post: sentence_id = f"{post_id}_{unit}"
    symptom: str
    status: int
    explanation: str
    text: str | None = None  # annotated text when it differs from the post's sentence
    tag: str = ""  # quirk applied to this row (for the manifest)


@dataclass
class Post:
    post_id: str
    symptoms: tuple[str, ...]
    long: bool
    units: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # intro / filler / evidence / distractor / closing / extra
    rows: list[Row] = field(default_factory=list)
    seps: list[str] = field(default_factory=list)

    def add(self, text: str, kind: str) -> int:
        self.units.append(text)
        self.kinds.append(kind)
        return len(self.units) - 1

    def words(self) -> int:
        return sum(len(u.split()) for u in self.units)

    def text(self) -> str:
        out = self.units[0]
        for sep, unit in zip(self.seps, self.units[1:]):
            out += sep + unit
        return out


# ----------------------------------------------------------------------------------------------------------------
# Sentence builders
# ----------------------------------------------------------------------------------------------------------------
def _capitalise(s: str) -> str:
    return s[0].upper() + s[1:]


def compose(core: str, rng: random.Random, event: bool = False) -> str:
    """Evidence sentence from a core clause: optional prefix, optional suffix, end punctuation."""
    prefix = ""
    if rng.random() < 0.45:
        prefix = rng.choice(SOFT_PREFIXES if event else TIME_PREFIXES + SOFT_PREFIXES)
    suffix = rng.choice(SUFFIXES) if not event and rng.random() < 0.35 else ""
    end = "!" if rng.random() < 0.05 else "."
    return _capitalise(prefix + core + suffix) + end


def evidence_sentence(symptom: str, rng: random.Random, avoid: set[str]) -> str:
    bank = EVIDENCE[symptom]
    for _ in range(50):
        event = bool(bank["events"]) and rng.random() < 0.2
        core = rng.choice(bank["events" if event else "states"])
        if not any(core[1:-1] in used for used in avoid):  # same core twice in a post makes matching ambiguous
            return compose(core, rng, event)
    raise RuntimeError(f"phrase bank for {symptom} exhausted")


def filler_sentence(rng: random.Random) -> str:
    if rng.random() < 0.45:
        return rng.choice(FILLER_SENTENCES)
    return rng.choice(FILLER_TEMPLATES).format(
        when=rng.choice(WHEN), activity=rng.choice(ACTIVITIES), who=rng.choice(WHO),
        relative=rng.choice(RELATIVES), relative_news=rng.choice(RELATIVE_NEWS),
        workplace=rng.choice(WORKPLACES), work_detail=rng.choice(WORK_DETAILS), year=rng.choice(YEARS),
        subject=rng.choice(SUBJECTS), school=rng.choice(SCHOOLS), childhood_age=rng.choice(CHILDHOOD_AGES),
        childhood=rng.choice(CHILDHOOD), change=rng.choice(CHANGES), consequence=rng.choice(CONSEQUENCES),
    )


def fresh_filler(rng: random.Random, avoid: list[str]) -> str:
    for _ in range(50):
        sentence = _capitalise(filler_sentence(rng))
        if sentence not in avoid:
            return sentence
    raise RuntimeError("filler bank exhausted")


def intro_sentence(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return rng.choice(INTRO_FIXED)
    if r < 0.7:
        return f"I'm {rng.choice(AGES)} and {rng.choice(SITUATIONS)}."
    return f"{rng.choice(AGES)}{rng.choice('MF')}, {rng.choice(ROLES)}."


def list_unit(rng: random.Random) -> str:
    items = rng.sample(LIST_ITEMS, rng.randint(2, 4))
    return rng.choice(LIST_HEADERS) + "".join(f"\n- {item}" for item in items)


def explain(symptom: str, status: int, kind: str, rng: random.Random) -> str:
    lead = rng.choice(EXPLAIN_LEADS)
    cid = criterion_id(symptom)
    if status == 1:
        tail = rng.choice(EXPLAIN_TAILS).format(cid=cid)
        return f"{lead} {rng.choice(EXPLAIN_VERBS)} {rng.choice(GLOSS[symptom])}, {tail}."
    return f"{lead} mentions {TOPIC[symptom]} {rng.choice(REASONS[kind])}, so {cid} is not met."


# ----------------------------------------------------------------------------------------------------------------
# Corpus plan and post builder
# ----------------------------------------------------------------------------------------------------------------
def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    raw = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_symptoms(n_posts: int, rng: random.Random) -> list[tuple[str, ...]]:
    """Symptom set of every post (in SYMPTOMS order); () for a symptom-free post."""
    n_free = round(n_posts * NO_SYMPTOM_SHARE)
    n_sym = n_posts - n_free
    primary_w = [SYMPTOM_WEIGHTS[s][0] for s in SYMPTOMS]
    primaries = [s for s, c in zip(SYMPTOMS, _largest_remainder(n_sym, primary_w)) for _ in range(c)]
    rng.shuffle(primaries)
    sets = [{s} for s in primaries]
    scale = n_sym / sum(primary_w)
    for s in SYMPTOMS:
        candidates = [i for i, chosen in enumerate(sets) if s not in chosen]
        for i in rng.sample(candidates, round(SYMPTOM_WEIGHTS[s][1] * scale)):
            sets[i].add(s)
    plan = [tuple(s for s in SYMPTOMS if s in chosen) for chosen in sets] + [()] * n_free
    rng.shuffle(plan)
    return plan


def _distractor(rng: random.Random, post: Post) -> tuple[str, str, str]:
    for _ in range(50):
        symptom = rng.choice(SYMPTOMS)
        text, kind = rng.choice(DISTRACTORS[symptom])
        if text not in post.units:
            return symptom, text, kind
    raise RuntimeError("distractor bank exhausted")


def build_post(post: Post, rng: random.Random, annotate_free: bool) -> None:
    """Fill post.units/rows. Middle sentences are shuffled; a long post keeps its evidence after LATE_WORD words."""
    # Evidence: list of (sentence, [symptoms]).
    evidence: list[tuple[str, list[str]]] = []
    todo = list(post.symptoms)
    used: set[str] = set()
    for pair, sentences in PAIR_SENTENCES.items():
        if pair[0] in todo and pair[1] in todo and rng.random() < PAIR_SENTENCE_P:
            sentence = compose(rng.choice(sentences), rng)
            evidence.append((sentence, list(pair)))
            used.add(sentence)
            todo = [s for s in todo if s not in pair]
    for symptom in todo:
        for _ in range(2 if rng.random() < SECOND_EVIDENCE_P else 1):
            sentence = evidence_sentence(symptom, rng, used)
            evidence.append((sentence, [symptom]))
            used.add(sentence)
    for pair_sentence, pair in list(evidence):  # sometimes also a single-symptom sentence next to a pair one
        if len(pair) == 2 and rng.random() < SECOND_EVIDENCE_P:
            symptom = rng.choice(pair)
            sentence = evidence_sentence(symptom, rng, used)
            evidence.append((sentence, [symptom]))
            used.add(sentence)

    # Distractors: (sentence, symptom, kind).
    n_distract = rng.randint(1, 4) if not post.symptoms else rng.choice([0, 0, 1, 1, 2])
    distractors = []
    for _ in range(n_distract):
        symptom, text, kind = _distractor(rng, post)
        if text not in (d[0] for d in distractors):
            distractors.append((text, symptom, kind))

    # Middle: evidence + distractors + fillers (+ extras), shuffled.
    middle: list[tuple[str, str, object]] = [(s, "evidence", syms) for s, syms in evidence]
    middle += [(t, "distractor", (sym, kind)) for t, sym, kind in distractors]
    n_fill = rng.randint(3, 8) if not post.symptoms else rng.randint(2, 7)
    if rng.random() < 0.07:
        middle.append((list_unit(rng), "extra", None))
    if rng.random() < 0.06:
        middle.append((rng.choice(URL_SENTENCES), "extra", None))

    if rng.random() < 0.75:
        post.add(intro_sentence(rng), "intro")
    if post.long:
        target = rng.randint(*LONG_WORDS)
        while post.words() < LATE_WORD:
            post.add(fresh_filler(rng, post.units), "filler")
        late = [m for m in middle if m[1] in ("evidence", "distractor")]
        rng.shuffle(late)
        tail_fill: list[tuple[str, str, object]] = []
        while post.words() + sum(len(m[0].split()) for m in late + tail_fill) < target - 15:
            tail_fill.append((fresh_filler(rng, post.units + [m[0] for m in tail_fill]), "filler", None))
        ordered = late + tail_fill[: len(tail_fill) // 2] + [m for m in middle if m[1] == "extra"]
        ordered += tail_fill[len(tail_fill) // 2:]
    else:
        for _ in range(n_fill):
            middle.append((fresh_filler(rng, post.units + [m[0] for m in middle]), "filler", None))
        rng.shuffle(middle)
        ordered = middle
    for text, kind, info in ordered:
        i = post.add(text, kind)
        if kind == "evidence":
            for symptom in info:
                post.rows.append(Row(i, symptom, 1, explain(symptom, 1, "", rng)))
        elif kind == "distractor":
            symptom, dkind = info
            p_row = DISTRACTOR_ROW_P if post.symptoms else FREE_DISTRACTOR_ROW_P * annotate_free
            if rng.random() < p_row:
                post.rows.append(Row(i, symptom, 0, explain(symptom, 0, dkind, rng)))
    if not post.symptoms and annotate_free and not post.rows:  # at least one status-0 row
        i = next(k for k, kind in enumerate(post.kinds) if kind == "distractor")
        symptom, dkind = next(d[1:] for d in distractors if d[0] == post.units[i])
        post.rows.append(Row(i, symptom, 0, explain(symptom, 0, dkind, rng)))
    if rng.random() < 0.5 or post.long:
        closing = rng.choice(CLOSINGS)
        if rng.random() < 0.15:
            closing += rng.choice(EMOJI)
        post.add(closing, "closing")
    elif rng.random() < 0.1:
        k = rng.randrange(len(post.units))
        if post.kinds[k] == "filler":
            post.units[k] += rng.choice(EMOJI)

    # Separators: a space, or paragraph breaks in ~70% of posts.
    paragraphs = rng.random() < 0.7
    for _ in range(len(post.units) - 1):
        r = rng.random()
        if paragraphs and r < 0.18:
            post.seps.append("\n\n")
        elif paragraphs and r < 0.26:
            post.seps.append("\n")
        else:
            post.seps.append(" ")


def curlify(s: str) -> str:
    out, opening = [], True
    for ch in s.replace("'", "’"):
        if ch == '"':
            out.append("“" if opening else "”")
            opening = not opening
        else:
            out.append(ch)
    return "".join(out)


def straighten(s: str) -> str:
    return s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


# ----------------------------------------------------------------------------------------------------------------
# Quirks applied after building
# ----------------------------------------------------------------------------------------------------------------
def _single_row_units(post: Post) -> set[int]:
    counts = Counter(r.unit for r in post.rows)
    return {u for u, c in counts.items() if c == 1}


def _space_positions(s: str) -> list[int]:
    spaces = [i for i, ch in enumerate(s) if ch == " "]
    return spaces[1:-1] or spaces


def _edit(s: str, rng: random.Random) -> str | None:
    words = s.split(" ")
    drops = [i for i, w in enumerate(words) if w.lower() in DROPPABLE_WORDS and 0 < i < len(words) - 1]
    swaps = [i for i, w in enumerate(words) if straighten(w) in WORD_SWAPS]
    if drops and (not swaps or rng.random() < 0.6):
        i = rng.choice(drops)
        return " ".join(words[:i] + words[i + 1:])
    if swaps:
        i = rng.choice(swaps)
        return " ".join(words[:i] + [WORD_SWAPS[straighten(words[i])]] + words[i + 1:])
    return None


def mutate(kind: str, unit: str, rng: random.Random) -> tuple[str, str] | None:
    """(new post sentence, annotated text) for one non-verbatim quirk, or None if the sentence does not suit it."""
    if len(unit) < 40 or "\n" in unit:
        return None
    spaces = _space_positions(unit)
    i = rng.choice(spaces)
    if kind == "double_space_in_post":
        return unit[:i] + "  " + unit[i + 1:], unit
    if kind == "double_space_in_annotation":
        return unit, unit[:i] + "  " + unit[i + 1:]
    if kind == "newline_in_post":
        return unit[:i] + "\n" + unit[i + 1:], unit
    if kind == "newline_in_annotation":
        return unit, unit[:i] + "\n" + unit[i + 1:]
    if kind == "quotes":
        if straighten(unit) != unit:
            return unit, straighten(unit)
        return (unit, curlify(unit)) if curlify(unit) != unit else None
    if kind == "case":
        return (unit, unit.lower()) if unit.lower() != unit else None
    if kind == "edit":  # only on long sentences, so one changed word keeps the similarity well above 90%
        edited = _edit(unit, rng) if len(unit) >= EDIT_MIN_CHARS else None
        if edited and difflib.SequenceMatcher(None, unit, edited).ratio() >= EDIT_MIN_RATIO:
            return unit, edited
        return None
    raise ValueError(kind)


def apply_quirks(posts: list[Post], rng: random.Random) -> dict[str, list[str]]:
    """Typo label, SPECIAL_CASE, non-verbatim sentences, unrelated rows, multi-line explanations, duplicates.

    Returns the manifest: quirk -> list of "post_id/sentence_id" (or post ids) it was applied to.
    """
    manifest: dict[str, list[str]] = {}
    touched: set[str] = set()  # posts that already carry a row-level quirk (keeps quirks independent)
    normal = [p for p in posts if not p.long]

    def note(quirk: str, post: Post, row: Row | None) -> None:
        manifest.setdefault(quirk, []).append(f"{post.post_id}_{row.unit}" if row else post.post_id)
        touched.add(post.post_id)

    # Typo label: the only sleep row of a post (the post is SLEEP_ISSUES only if the pipeline maps the typo).
    for post in rng.sample(normal, len(normal)):
        sleep = [r for r in post.rows if r.symptom == SLEEP_ISSUES]
        if len(sleep) == 1 and sleep[0].status == 1 and sleep[0].unit in _single_row_units(post):
            sleep[0].symptom, sleep[0].tag = TYPO_LABEL, "typo"
            note("typo_label", post, sleep[0])
            break
    # SPECIAL_CASE: status-1 rows on unannotated sentences of symptom posts.
    for post in rng.sample(normal, len(normal)):
        if len(manifest.get("special_case", [])) == SPECIAL_CASE_ROWS:
            break
        free = [i for i, k in enumerate(post.kinds) if k in ("distractor", "filler")
                and i not in {r.unit for r in post.rows}]
        if post.symptoms and free and post.post_id not in touched:
            row = Row(rng.choice(free), SPECIAL_CASE, 1, SPECIAL_CASE_EXPLANATION, tag="special")
            post.rows.append(row)
            note("special_case", post, row)
    # Non-verbatim but fuzzy-matchable sentences.
    for kind, count in MUTATIONS.items():
        done = 0
        for post in rng.sample(normal, len(normal)):
            if done == count:
                break
            if post.post_id in touched:
                continue
            singles = _single_row_units(post)
            candidates = [r for r in post.rows if r.unit in singles and not r.tag]
            if not candidates:
                continue
            row = rng.choice(candidates)
            result = mutate(kind, post.units[row.unit], rng)
            if result is None:
                continue
            post.units[row.unit], annotated = result
            row.text = annotated if annotated != post.units[row.unit] else None
            row.tag = kind
            note(f"not_verbatim:{kind}", post, row)
            done += 1
    # Unrelated sentences: an extra row (sentence ordinal one past the post's last sentence) in a post that already
    # has verbatim evidence for the same symptom, so dropping it changes no post label.
    for sentence, symptom, status in UNRELATED_ROWS:
        for post in rng.sample(normal, len(normal)):
            if post.post_id in touched or symptom not in post.symptoms:
                continue
            row = Row(len(post.units), symptom, status, explain(symptom, status, "normal", rng),
                      text=sentence, tag="unrelated")
            post.rows.append(row)
            note("unrelated", post, row)
            break
    # Multi-line explanations.
    for post in rng.sample(normal, MULTILINE_EXPLANATIONS * 3):
        if len(manifest.get("multiline_explanation", [])) == MULTILINE_EXPLANATIONS:
            break
        plain = [r for r in post.rows if not r.tag]
        if plain:
            row = plain[0]
            row.explanation += "\n" + rng.choice(EXPLAIN_ADDENDA)
            row.tag = "multiline"  # not duplicated below, so exactly MULTILINE_EXPLANATIONS rows carry a newline
            manifest.setdefault("multiline_explanation", []).append(f"{post.post_id}_{row.unit}")
    # Exact duplicate rows (copied right after the original).
    for post in rng.sample(normal, len(normal)):
        if len(manifest.get("duplicate", [])) == DUPLICATE_ROWS:
            break
        plain = [r for r in post.rows if not r.tag]
        if post.post_id in touched or not plain:
            continue
        row = rng.choice(plain)
        post.rows.insert(post.rows.index(row) + 1, Row(row.unit, row.symptom, row.status, row.explanation,
                                                        tag="duplicate"))
        note("duplicate", post, row)
    return manifest


# ----------------------------------------------------------------------------------------------------------------
# Generation and writing
# ----------------------------------------------------------------------------------------------------------------
def generate(seed: int = DEFAULT_SEED, n_posts: int = DEFAULT_POSTS) -> tuple[list[Post], dict[str, list[str]]]:
    rng = random.Random(seed)
    plan = plan_symptoms(n_posts, rng)
    ids = [f"demo_{i:04d}" for i in range(1, n_posts + 1)]
    symptom_idx = [i for i, s in enumerate(plan) if s]
    free_idx = [i for i, s in enumerate(plan) if not s]
    long_idx = set(rng.sample(symptom_idx, round(n_posts * LONG_POST_SHARE)))
    no_row_idx = set(rng.sample(free_idx, min(NO_ROW_POSTS, len(free_idx))))
    posts = []
    for i, (post_id, symptoms) in enumerate(zip(ids, plan)):
        post = Post(post_id, symptoms, long=i in long_idx)
        build_post(post, rng, annotate_free=i not in no_row_idx)
        if rng.random() < 0.35:  # writer uses curly apostrophes and quotes
            post.units = [curlify(u) for u in post.units]
        posts.append(post)
    manifest = apply_quirks(posts, rng)
    for post in posts:
        post.rows.sort(key=lambda r: r.unit)  # stable: pair rows and duplicates keep their order
    return posts, manifest


def write(posts: list[Post], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / POSTS_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(POST_COLUMNS)
        for post in posts:
            writer.writerow((post.post_id, post.text()))
    with open(out / ANNOTATIONS_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ANNOTATION_COLUMNS)
        for post in posts:
            for row in post.rows:
                text = row.text if row.text is not None else post.units[row.unit]
                writer.writerow((post.post_id, f"{post.post_id}_{row.unit}", text, row.symptom, row.status,
                                 row.explanation))


def summary(posts: list[Post], manifest: dict[str, list[str]]) -> str:
    rows = [r for p in posts for r in p.rows]
    per_symptom = Counter(s for p in posts for s in p.symptoms)
    words = [p.words() for p in posts]
    lines = [
        f"posts: {len(posts)}  rows: {len(rows)}  status 1: {sum(r.status for r in rows)}  "
        f"status 0: {sum(1 - r.status for r in rows)}",
        f"posts without symptoms: {sum(not p.symptoms for p in posts)} "
        f"(no row at all: {sum(not p.rows for p in posts)})  long posts: {sum(p.long for p in posts)}",
        f"words per post: mean {sum(words) / len(words):.1f}, max {max(words)}",
        "posts per symptom (planned): " + ", ".join(f"{s} {per_symptom[s]}" for s in SYMPTOMS),
    ]
    lines += [f"{quirk}: {len(items)} {' '.join(items) if len(items) <= 12 else ''}".rstrip()
              for quirk, items in sorted(manifest.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic ReDSM5-format demo corpus.")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    posts, manifest = generate(args.seed, args.posts)
    write(posts, args.out)
    if not args.quiet:
        print(summary(posts, manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
