# ruff: noqa: E501
"""Hand-written topics -> ``pairs.jsonl``, the calibration and held-out set that ships with rerankrt.

Every query and passage below was written for this project (no public dataset was fetched or copied). Each topic
block gives a query, passages that answer it (``[+]``) and same-topic passages that do not (``[-]``, hard
negatives). The generator adds, deterministically:

* two easy negatives per query: passages of other topics in the same language;
* medium-length articles (``ART: +`` / ``ART: -``): a few paragraphs of the same domain, with or without the
  topic's answer;
* long multi-section handbooks (`LONG_DOCUMENTS`), each built from every paragraph of one domain but one topic,
  so that it is relevant to one query and a long on-topic hard negative for another;
* the split: within each language (and each English domain) a quarter of the groups, ranked by SHA-256 of the
  group name, are held out.

Run ``python rerankrt/calibration/data/make_pairs.py`` to rewrite ``pairs.jsonl``; the output is byte-identical
on every run. Block format::

    === group-id | lang | domain
    T: section title used when the topic's paragraphs appear in an article
    Q: the query
    I: an optional instruction
    ART: + or -
    [+] relevant passage (lines that follow, up to the next marker, belong to it: code keeps its newlines)
    [-] hard negative
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "pairs.jsonl"
HELDOUT_FRACTION = 0.25
EASY_NEGATIVES = 2
SHORT_ANSWER_CHARS = 40  # a shorter passage without final punctuation is an answer ("Canberra"), not a paragraph
ARTICLE_EVERY = 3  # besides the explicit ART: flags, about one group in ARTICLE_EVERY gets a medium article

BLOCKS: list[str] = []


@dataclass
class Topic:
    """One query with its hand-written passages."""

    group: str
    lang: str
    domain: str
    title: str = ""
    query: str = ""
    instruction: str = ""
    article: str = ""
    passages: list[tuple[str, int]] = field(default_factory=list)

    @property
    def paragraphs(self) -> list[str]:
        return [text for text, _ in self.passages if not is_short_answer(text)]


def is_short_answer(text: str) -> bool:
    return len(text) < SHORT_ANSWER_CHARS and not text.endswith((".", "。", "!", "?", "！", "？"))


@dataclass(frozen=True)
class LongDocument:
    """A handbook made of one domain's paragraphs: relevant to `relevant_to`, a hard negative for `negative_for`."""

    title: str
    lang: str
    domain: str
    relevant_to: str
    negative_for: str


def parse(block: str) -> list[Topic]:
    topics: list[Topic] = []
    current: list[str] | None = None
    label = 0

    def close() -> None:
        if current is not None:
            text = "\n".join(current).strip("\n").rstrip()
            if not text.strip():
                raise ValueError(f"empty passage in {topics[-1].group}")
            topics[-1].passages.append((text, label))

    for line in block.split("\n"):
        if line.startswith("=== "):
            close()
            current = None
            group, lang, domain = (part.strip() for part in line[4:].split("|"))
            topics.append(Topic(group=group, lang=lang, domain=domain))
        elif current is None and line.startswith(("T: ", "Q: ", "I: ", "ART: ")):
            key, value = line.split(": ", 1)
            attribute = {"T": "title", "Q": "query", "I": "instruction", "ART": "article"}[key]
            setattr(topics[-1], attribute, value.strip())
        elif line.startswith(("[+]", "[-]")):
            close()
            label = 1 if line.startswith("[+]") else 0
            current = [line[3:].lstrip(" ")]
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise ValueError(f"stray line {line!r}")
    close()
    return topics


def rng_for(*parts: str) -> random.Random:
    seed = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")
    return random.Random(seed)


def rank(group: str) -> bytes:
    return hashlib.sha256(f"0:{group}".encode()).digest()


def stratum(topic: Topic) -> str:
    return f"{topic.lang}/{topic.domain}" if topic.lang == "en" else topic.lang


def heldout_groups(topics: list[Topic]) -> set[str]:
    strata: dict[str, list[str]] = {}
    for topic in topics:
        strata.setdefault(stratum(topic), []).append(topic.group)
    chosen: set[str] = set()
    for groups in strata.values():
        count = int(HELDOUT_FRACTION * len(groups) + 0.5)
        chosen.update(sorted(groups, key=rank)[:count])
    return chosen


def article(title: str, sections: list[tuple[str, list[str]]]) -> str:
    parts = [f"# {title}"]
    for heading, paragraphs in sections:
        parts.append(f"## {heading}" if heading else "")
        parts.extend(paragraphs)
    return "\n\n".join(part for part in parts if part)


def article_kind(topic: Topic) -> str:
    if topic.article:
        return topic.article
    digest = hashlib.sha256(f"article:{topic.group}".encode()).digest()
    if digest[0] % ARTICLE_EVERY:
        return ""
    return "+" if digest[1] % 2 == 0 else "-"


def medium_article(topic: Topic, topics: list[Topic]) -> tuple[str, int]:
    rng = rng_for("article", topic.group)
    others = [t for t in topics if t.domain == topic.domain and t.lang == topic.lang and t.group != topic.group]
    if len(others) < 3:  # small languages: a magazine-style page mixing the language's other topics
        others = [t for t in topics if t.lang == topic.lang and t.group != topic.group]
    rng.shuffle(others)
    relevant = article_kind(topic) == "+"
    chosen = others[: rng.randint(3, 5)]
    sections = [(t.title, t.paragraphs[: rng.randint(1, 2)]) for t in chosen]
    if relevant:
        sections.insert(rng.randint(0, len(sections)), (topic.title, topic.paragraphs[:1]))
    heading = topic.title if relevant else sections[0][0]
    suffix = DOMAIN_TITLES.get((topic.lang, topic.domain)) or DOMAIN_TITLES.get((topic.lang, "*"))
    return article(f"{heading}: {suffix}" if suffix else heading, sections), int(relevant)


def long_article(spec: LongDocument, topics: list[Topic]) -> str:
    members = [
        t for t in topics if t.lang == spec.lang and spec.domain in ("*", t.domain) and t.group != spec.negative_for
    ]
    return article(spec.title, [(t.title, t.paragraphs) for t in members])


def build(topics: list[Topic]) -> list[dict[str, object]]:
    by_group = {topic.group: topic for topic in topics}
    if len(by_group) != len(topics):
        raise ValueError("duplicate group ids")
    extra: dict[str, list[tuple[str, int]]] = {topic.group: [] for topic in topics}
    for spec in LONG_DOCUMENTS:
        text = long_article(spec, topics)
        extra[spec.relevant_to].append((text, 1))
        extra[spec.negative_for].append((text, 0))
    heldout = heldout_groups(topics)
    rows: list[dict[str, object]] = []
    for topic in topics:
        documents = list(topic.passages) + extra[topic.group]
        if article_kind(topic):
            documents.append(medium_article(topic, topics))
        rng = rng_for("negatives", topic.group)
        pool = [
            text
            for other in topics
            if other.lang == topic.lang
            and other.group != topic.group
            and (other.domain != topic.domain or topic.domain == "code")
            for text in other.paragraphs
        ]
        documents.extend((text, 0) for text in rng.sample(pool, EASY_NEGATIVES))
        rng.shuffle(documents)
        for text, label in documents:
            row: dict[str, object] = {"query": topic.query, "document": text}
            if topic.instruction:
                row["instruction"] = topic.instruction
            row.update(
                label=label,
                lang=topic.lang,
                split="heldout" if topic.group in heldout else "calibration",
                group=topic.group,
            )
            rows.append(row)
    return rows


def check(topics: list[Topic]) -> None:
    for topic in topics:
        labels = {label for _, label in topic.passages}
        if not topic.query or not topic.title or labels != {0, 1}:
            raise ValueError(f"{topic.group}: needs T:, Q:, and both [+] and [-] passages")
        if topic.article not in ("", "+", "-"):
            raise ValueError(f"{topic.group}: ART: must be + or -")


def render() -> str:
    """Turns the content below into the text of ``pairs.jsonl`` (UTF-8, one object per line)."""
    topics = [topic for block in BLOCKS for topic in parse(block)]
    check(topics)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in build(topics))


def main() -> None:
    text = render()
    OUTPUT.write_bytes(text.encode("utf-8"))
    print(f"wrote {text.count(chr(10))} pairs to {OUTPUT}")


# ---------------------------------------------------------------------------------------------------------------
# Content. Everything below was written for rerankrt.
# ---------------------------------------------------------------------------------------------------------------

BLOCKS.append(r"""
=== en-sci-photosynthesis | en | science
T: Photosynthesis
Q: what do plants need for photosynthesis
ART: +
[+] Photosynthesis needs three inputs: light, water and carbon dioxide. Chlorophyll in the chloroplasts absorbs mostly red and blue light, water is drawn up from the roots through the xylem, and carbon dioxide diffuses into the leaf through small pores called stomata. The products are glucose, which the plant uses for energy and growth, and oxygen, which is released as a by-product.
[+] In the light-dependent reactions, energy captured by chlorophyll splits water molecules, releasing oxygen and producing ATP and NADPH. The Calvin cycle then uses that ATP and NADPH to fix carbon dioxide from the air into three-carbon sugars. Without any one of light, water or CO2 the process stops, which is why plants kept in the dark or in drought conditions stop growing.
[-] Cellular respiration is the process by which cells break down glucose in the presence of oxygen to release energy stored as ATP. It takes place in the mitochondria of both plant and animal cells and produces carbon dioxide and water as waste products. Plants respire day and night, while they photosynthesise only when light is available.
[-] Carnivorous plants such as the Venus flytrap grow in bogs where the soil is poor in nitrogen. They trap and digest insects to obtain nitrogen and phosphorus, nutrients that most plants absorb through their roots from the soil.

=== en-sci-blue-sky | en | science
T: Why the sky is blue
Q: why is the sky blue during the day
[+] The sky looks blue because of Rayleigh scattering. Sunlight contains all visible wavelengths, but when it passes through the atmosphere the tiny nitrogen and oxygen molecules scatter short wavelengths much more strongly than long ones; the scattering intensity is roughly proportional to the inverse fourth power of the wavelength. Blue light is therefore redirected across the whole sky and reaches our eyes from every direction.
[+] Violet light is scattered even more than blue, so why is the sky not violet? Part of the reason is that sunlight contains less violet than blue, some violet is absorbed high in the atmosphere, and our eyes are much more sensitive to blue. The combined result is the familiar pale blue of a clear daytime sky.
[-] Sunsets appear red and orange because, when the Sun is low on the horizon, its light travels through a much thicker layer of atmosphere. Most of the blue light is scattered out of the direct beam before it reaches the observer, leaving the longer red and orange wavelengths. Dust and smoke particles can make sunsets even more vivid.
[-] The ocean often looks blue partly because it reflects the sky, but mainly because water itself absorbs red light slightly more than blue. In very deep, clear water this absorption gives the sea its deep blue color, while algae and sediment can shift it toward green or brown.

=== en-sci-boiling-point | en | science
T: Boiling point of water
Q: boiling point of water at sea level in fahrenheit
[+] 212 °F
[+] At standard atmospheric pressure (101.325 kPa, the pressure at sea level), pure water boils at 100 degrees Celsius, which is 212 degrees Fahrenheit. The boiling point drops as altitude increases: in Denver, about 1,600 metres above sea level, water boils at roughly 202 °F (94.5 °C), which is why cooking times are longer in the mountains.
[-] 32 °F
[-] Water freezes at 0 degrees Celsius, or 32 degrees Fahrenheit, at standard pressure. Dissolved salt lowers the freezing point, which is why roads are salted in winter; seawater with typical salinity freezes at about −1.9 °C (28.6 °F).

=== en-sci-black-hole | en | science
T: Black holes
Q: how does a black hole form
ART: -
[+] A stellar black hole forms when a massive star, usually more than about twenty times the mass of the Sun, runs out of nuclear fuel. The core can no longer support itself against its own gravity and collapses in a fraction of a second. The outer layers may be blown away in a supernova, while the core keeps collapsing until it is so dense that not even light can escape from within the event horizon.
[+] Black holes can also grow into supermassive objects. Astronomers think the millions- to billions-of-solar-mass black holes at the centres of galaxies formed from smaller seeds that accreted gas and merged with other black holes over billions of years, although some may have formed directly from the collapse of huge gas clouds in the early universe.
[-] The first image of a black hole's shadow was released in 2019 by the Event Horizon Telescope collaboration. It showed a bright ring of hot gas around the supermassive black hole in the galaxy M87, about 55 million light-years away. The image was produced by combining data from radio telescopes across the globe into a single Earth-sized virtual instrument.
[-] Neutron stars are the collapsed cores of massive stars that were not heavy enough to become black holes. A neutron star packs more mass than the Sun into a sphere about 20 kilometres across, and a teaspoon of its material would weigh about a billion tonnes on Earth.

=== en-sci-dna | en | science
T: DNA structure
Q: what is the structure of DNA
[+] DNA is a double helix: two long strands wound around each other like a twisted ladder. Each strand has a backbone of alternating sugar (deoxyribose) and phosphate groups, and the "rungs" are pairs of nitrogenous bases held together by hydrogen bonds. Adenine always pairs with thymine and guanine always pairs with cytosine.
[+] The two strands of the DNA double helix run in opposite directions, which is called antiparallel orientation: one runs from the 5' end to the 3' end and the other from 3' to 5'. One full turn of the common B-form helix contains about 10.5 base pairs and spans roughly 3.4 nanometres. The structure was described by James Watson and Francis Crick in 1953, building on X-ray diffraction images made by Rosalind Franklin.
[-] RNA differs from DNA in three main ways: it is usually single-stranded, its sugar is ribose instead of deoxyribose, and it uses the base uracil in place of thymine. Messenger RNA carries a copy of a gene's instructions from the nucleus to the ribosomes, where proteins are assembled.
[-] The Human Genome Project, completed in 2003, produced the first reference sequence of the roughly three billion base pairs in human DNA. It revealed that humans have only around 20,000 protein-coding genes, far fewer than many scientists had predicted.

=== en-sci-tides | en | science
T: Tides
Q: what causes ocean tides
[+] Ocean tides are caused mainly by the gravitational pull of the Moon. The Moon pulls slightly harder on the side of the Earth facing it than on the Earth's centre, and slightly less on the far side, producing two bulges of water. As the Earth rotates through these bulges, most coastlines see two high tides and two low tides roughly every 24 hours and 50 minutes.
[+] The Sun also raises tides, a little less than half as strong as the Moon's. When the Sun, Moon and Earth are aligned, at new and full moon, their effects add up and produce spring tides with a large range. When they are at right angles, at the quarter moons, the effects partly cancel and produce neap tides with a small range.
[-] Tsunamis are sometimes called tidal waves, but they have nothing to do with tides. They are generated by the sudden displacement of a large volume of water, usually by an undersea earthquake, and can cross an entire ocean at the speed of a jet airliner.
[-] The Bay of Fundy in eastern Canada has the highest tidal range in the world, up to about 16 metres. Tourists can walk on the ocean floor at low tide around the Hopewell Rocks and return a few hours later to see the same rock formations surrounded by water.

=== en-sci-vaccines | en | science
T: How vaccines work
Q: how do mRNA vaccines work
[+] An mRNA vaccine delivers a short piece of messenger RNA wrapped in a lipid nanoparticle. Once inside muscle cells near the injection site, the mRNA is read by the cell's ribosomes to make a harmless piece of protein, such as the spike protein of a coronavirus. The immune system recognises this protein as foreign and produces antibodies and memory T cells, so it can respond quickly if it meets the real virus later.
[+] The mRNA in these vaccines never enters the cell nucleus and cannot change a person's DNA. It is broken down by normal cellular processes within a few days. Because the mRNA sequence can be designed quickly once a pathogen's genome is known, the platform allowed COVID-19 vaccines to be developed and tested in less than a year.
[-] Live attenuated vaccines, such as those against measles, mumps and rubella, contain a weakened form of the virus that can still replicate but does not cause serious illness in healthy people. They usually produce strong, long-lasting immunity after one or two doses, but they are not given to people with severely weakened immune systems.
[-] Vaccine storage is a major logistical challenge. Some vaccines must be kept between 2 and 8 degrees Celsius from the factory to the clinic, a chain of refrigerated transport and storage known as the cold chain. Breaks in the cold chain can make doses ineffective.

=== en-sci-plate-tectonics | en | science
T: Plate tectonics
Q: why do earthquakes happen
ART: +
[+] Most earthquakes happen at the boundaries of tectonic plates, the large slabs of rock that make up the Earth's outer shell. The plates move a few centimetres per year, but friction locks their edges together. Stress builds up over years or centuries until the rock suddenly slips along a fault, releasing energy as seismic waves that shake the ground.
[+] Earthquakes can also happen away from plate boundaries. Intraplate earthquakes occur along old faults inside a plate, and human activity such as injecting wastewater deep underground, filling large reservoirs or mining can trigger smaller quakes by changing the stress on existing faults.
[-] The magnitude of an earthquake measures the energy it releases, while intensity describes how strongly it is felt at a particular place. The moment magnitude scale is logarithmic: each whole number step corresponds to about 32 times more energy, so a magnitude 7 earthquake releases roughly a thousand times more energy than a magnitude 5.
[-] Volcanoes form where magma reaches the surface. Many sit along subduction zones such as the Pacific Ring of Fire, while others, like those in Hawaii, form over hot spots in the mantle far from any plate boundary.

=== en-sci-speed-of-light | en | science
T: The speed of light
Q: how fast does light travel
[+] about 300,000 km per second
[+] In a vacuum, light travels at exactly 299,792,458 metres per second, about 300,000 kilometres per second or 186,000 miles per second. The value is exact because since 1983 the metre has been defined in terms of the distance light travels in 1/299,792,458 of a second. Light from the Sun takes about 8 minutes and 20 seconds to reach the Earth.
[-] Sound travels through air at roughly 343 metres per second at 20 °C, almost a million times slower than light. That is why you see lightning before you hear thunder; counting the seconds between the flash and the sound and dividing by three gives the distance of the storm in kilometres.
[-] A light-year is a unit of distance, not time: it is the distance light travels in one Julian year, about 9.46 trillion kilometres. The nearest star to the Sun, Proxima Centauri, is about 4.24 light-years away.

=== en-sci-antibiotics | en | science
T: Antibiotic resistance
Q: why don't antibiotics work against viruses
[+] Antibiotics work by attacking structures and processes that are specific to bacteria, such as the bacterial cell wall, bacterial ribosomes or enzymes that bacteria use to copy their DNA. Viruses have none of these: they are not cells, they have no cell wall and they use the host cell's own machinery to replicate. An antibiotic therefore has nothing to attack in a virus, which is why it does not help with colds or flu.
[+] Taking antibiotics for a viral infection does not shorten the illness but does expose the bacteria living in your body to the drug. This encourages the survival of resistant strains, which is one of the main drivers of antibiotic resistance. Viral infections are treated with rest, fluids, and in some cases specific antiviral drugs that target steps in the viral life cycle.
[-] Penicillin was discovered in 1928 by Alexander Fleming, who noticed that a mould called Penicillium had killed the bacteria growing around it on a culture plate. Mass production began during the Second World War, and penicillin saved the lives of many soldiers with infected wounds.
[-] Bacteria become resistant to antibiotics through random mutations and by exchanging small loops of DNA called plasmids. Resistance genes can spread between different species of bacteria, which is why hospital infections with multidrug-resistant organisms such as MRSA are a growing concern.
""")

BLOCKS.append(r"""
=== en-med-ibuprofen-dose | en | medical
T: Ibuprofen dosing for adults
Q: maximum daily dose of ibuprofen for adults over the counter
I: You are an expert in medicine.
[+] For adults and children aged 12 and over, the usual over-the-counter dose of ibuprofen is 200 to 400 mg every four to six hours as needed. Without medical supervision, the total should not exceed 1,200 mg in 24 hours. Under a doctor's care higher doses, up to 3,200 mg per day in divided doses, are sometimes prescribed for conditions such as rheumatoid arthritis.
[+] Take ibuprofen with food or milk to reduce stomach upset, and use the lowest effective dose for the shortest time. Do not take it for more than ten days for pain or three days for fever without talking to a doctor, and do not combine it with other NSAIDs such as naproxen or aspirin.
[-] Paracetamol (acetaminophen) is an alternative for pain and fever in people who cannot take NSAIDs. The usual adult dose is 500 mg to 1 g every four to six hours, with a maximum of 4 g in 24 hours; lower limits apply to people who drink alcohol regularly or have liver disease.
[-] Ibuprofen belongs to a class of drugs called non-steroidal anti-inflammatory drugs. It works by blocking the cyclooxygenase enzymes COX-1 and COX-2, which reduces the production of prostaglandins, chemical messengers that cause inflammation, pain and fever.

=== en-med-dehydration | en | medical
T: Dehydration
Q: signs of dehydration in toddlers
[+] Warning signs of dehydration in a toddler include a dry mouth and tongue, crying without tears, no wet nappy for three hours or more, sunken eyes, unusual sleepiness or irritability, and cold or blotchy hands and feet. A sunken soft spot on top of the head is a sign in babies under 18 months. Seek urgent medical help if the child is very drowsy, breathing fast or not passing urine.
[+] Mild dehydration in young children can usually be treated at home with oral rehydration solution given in small, frequent sips, for example a teaspoon every few minutes. Keep breastfeeding or offering milk, and avoid fruit juice and fizzy drinks, which can make diarrhoea worse.
[-] Adults need roughly 2 to 2.5 litres of fluid a day from drinks and food, more in hot weather or during exercise. Pale straw-coloured urine is a simple sign that you are drinking enough.
[-] Heat stroke is a medical emergency in which the body temperature rises above 40 °C and the body can no longer cool itself. Symptoms include confusion, hot dry skin, a fast pulse and loss of consciousness. Call emergency services, move the person somewhere cool and cool them with water while waiting for help.

=== en-med-type2-diabetes | en | medical
T: Type 2 diabetes
Q: early symptoms of type 2 diabetes
[+] Type 2 diabetes often develops slowly and many people have no symptoms at first. When symptoms do appear, they commonly include feeling very thirsty, urinating more often than usual, especially at night, feeling tired, losing weight without trying, blurred vision, itching around the genitals and cuts or wounds that take longer to heal.
[+] Because early type 2 diabetes can be silent, screening is recommended for people at higher risk, such as those who are overweight, over 45, have a family history of diabetes or had diabetes during pregnancy. A blood test for HbA1c of 6.5% (48 mmol/mol) or higher on two occasions is usually enough for a diagnosis.
[-] Type 1 diabetes is an autoimmune condition in which the immune system destroys the insulin-producing beta cells of the pancreas. It usually starts in childhood or young adulthood and always requires insulin treatment, unlike type 2 diabetes, which can often be managed at first with diet, exercise and tablets such as metformin.
[-] Hypoglycaemia, a blood sugar level below 4 mmol/L, can happen in people who take insulin or certain diabetes tablets. Symptoms include shaking, sweating, hunger and confusion. It is treated by eating or drinking 15 to 20 grams of fast-acting sugar, such as glucose tablets or a small glass of fruit juice.

=== en-med-migraine | en | medical
T: Migraine
Q: how to tell a migraine from a tension headache
I: You are an expert in medicine.
[+] A migraine is usually a moderate to severe throbbing pain on one side of the head that gets worse with physical activity and comes with nausea, vomiting or sensitivity to light and sound. Attacks last from 4 to 72 hours. A tension-type headache, by contrast, feels like a tight band or pressure on both sides of the head, is mild to moderate, does not worsen with routine activity and rarely causes nausea.
[+] About a quarter of people with migraine experience an aura before the headache: temporary visual disturbances such as zigzag lines or blind spots, tingling in the hands or face, or difficulty speaking, lasting 5 to 60 minutes. Aura is not a feature of tension headache, so it is a strong clue that a headache is a migraine.
[-] Cluster headaches are rare but extremely painful attacks of pain around one eye, often with a watering eye and a blocked nostril on the same side. They come in clusters, several attacks a day for weeks, often at the same time each night, followed by pain-free months.
[-] Medication-overuse headache can develop when painkillers are taken on more than 10 to 15 days a month for headaches. The treatment is to stop or reduce the painkillers under medical supervision, after which the headaches usually improve within a few weeks.

=== en-med-blood-pressure | en | medical
T: Blood pressure readings
Q: what is a normal blood pressure reading
ART: +
[+] Blood pressure is recorded as two numbers: systolic pressure, when the heart beats, over diastolic pressure, when it relaxes between beats, both in millimetres of mercury. For most adults, an ideal reading is between 90/60 mmHg and 120/80 mmHg. According to American guidelines, readings of 130/80 mmHg or higher on repeated measurement count as high blood pressure.
[+] 120/80 mmHg
[+] To get an accurate home reading, sit quietly for five minutes with your back supported and feet flat on the floor, rest your arm on a table at heart level and do not talk during the measurement. Avoid caffeine, exercise and smoking for 30 minutes beforehand and take two readings a minute apart.
[-] High blood pressure rarely causes symptoms, which is why it is called a silent killer. Over years it damages the arteries and increases the risk of heart attack, stroke, kidney disease and vascular dementia.
[-] A resting heart rate for adults is usually between 60 and 100 beats per minute. Well-trained athletes can have resting rates in the 40s because their hearts pump more blood with each beat.

=== en-med-sprained-ankle | en | medical
T: Sprained ankle
Q: how to treat a sprained ankle at home
[+] Most mild ankle sprains can be treated at home. For the first two or three days, rest the ankle, apply an ice pack wrapped in a towel for up to 20 minutes every two to three hours, use a compression bandage and keep the foot raised above the level of your heart when possible. Over-the-counter painkillers can help with pain and swelling.
[+] After the first few days, start moving the ankle gently and put weight on it as pain allows. Simple exercises such as drawing the alphabet with your toes and balancing on one leg help restore strength and prevent the ankle from giving way again. Most sprains improve within two weeks, though a bad sprain can take several months.
[-] An ankle fracture may look similar to a sprain. Go to urgent care if you cannot put any weight on the foot, if the ankle looks deformed, if there is numbness or if the pain is over the bony bump on either side of the ankle.
[-] Achilles tendinitis is inflammation of the tendon that connects the calf muscles to the heel bone. It is common in runners who increase their mileage too quickly and causes pain and stiffness at the back of the heel, especially in the morning.

=== en-med-sleep-hygiene | en | medical
T: Insomnia and sleep habits
Q: tips to fall asleep faster without medication
[+] Keep a regular schedule by going to bed and getting up at the same time every day, including weekends. Make the bedroom dark, quiet and cool, and use the bed only for sleep and sex. If you cannot fall asleep within about 20 minutes, get up and do something calm in dim light until you feel sleepy again rather than lying awake.
[+] Avoid caffeine after early afternoon, heavy meals and alcohol close to bedtime, and bright screens in the hour before sleep. Relaxation techniques such as slow breathing, progressive muscle relaxation or writing down tomorrow's to-do list can quiet a racing mind. Cognitive behavioural therapy for insomnia is the most effective long-term treatment for chronic sleeplessness.
[-] Obstructive sleep apnoea causes the airway to close repeatedly during sleep, leading to loud snoring, gasping and daytime sleepiness. It is diagnosed with a sleep study and often treated with a CPAP machine that keeps the airway open with gentle air pressure.
[-] Adults generally need seven to nine hours of sleep a night, teenagers eight to ten, and school-age children nine to twelve. Needs vary from person to person, and older adults tend to sleep more lightly and wake more often.

=== en-med-allergy-vs-cold | en | medical
T: Allergies and colds
Q: is it a cold or seasonal allergies
[+] Colds and hay fever share symptoms such as a runny nose and sneezing, but there are clues to tell them apart. A cold usually develops over a day or two, may come with a sore throat, aches or a low fever and clears up within about ten days. Allergies cause itchy eyes, nose and throat, never cause fever, and last as long as you are exposed to the trigger, often for weeks during pollen season.
[+] Nasal discharge from allergies tends to be thin, clear and watery, while a cold often starts clear and becomes thicker after a few days. If symptoms return at the same time every year, or appear whenever you are around a cat or dust, an allergy is more likely than a virus.
[-] Antihistamine tablets such as cetirizine and loratadine relieve sneezing, itching and a runny nose caused by allergies. Older antihistamines like diphenhydramine work too but often cause drowsiness, so newer non-drowsy versions are usually preferred during the day.
[-] Influenza usually starts suddenly with a high fever, muscle aches, chills and exhaustion, and it can make people much sicker than a common cold. An annual flu vaccine is recommended for older adults, pregnant women and people with chronic illnesses.

=== en-med-cholesterol | en | medical
T: Cholesterol
Q: difference between ldl and hdl cholesterol
[+] LDL (low-density lipoprotein) is often called "bad" cholesterol because high levels lead to a build-up of fatty plaques in the walls of the arteries, raising the risk of heart attack and stroke. HDL (high-density lipoprotein) is called "good" cholesterol because it carries cholesterol away from the arteries back to the liver, where it can be removed from the body.
[+] In general, a lower LDL and a higher HDL are better. Many guidelines aim for LDL below 3.0 mmol/L (about 116 mg/dL) in healthy adults and much lower in people with heart disease, and consider HDL above 1.0 mmol/L for men and 1.2 mmol/L for women to be desirable.
[-] Statins lower cholesterol by blocking an enzyme in the liver called HMG-CoA reductase. The most common side effect is muscle aches; serious muscle damage is rare. They are usually taken once a day, and some work best when taken in the evening.
[-] Triglycerides are a type of fat in the blood that the body uses for energy. High levels are linked to being overweight, drinking a lot of alcohol and eating many sugary foods, and very high levels can cause inflammation of the pancreas.
""")

BLOCKS.append(r"""
=== en-howto-soft-boiled-egg | en | howto
T: Boiling eggs
Q: how long to boil an egg for a runny yolk
[+] For a soft-boiled egg with a runny yolk and just-set white, lower a large egg straight from the fridge into water that is already at a rolling boil and cook it for six minutes. Then move it to a bowl of cold water for a minute so it stops cooking and is easier to handle. Five minutes gives a very runny yolk, seven minutes a jammy one.
[+] 6 minutes
[-] To poach an egg, bring a pan of water to a gentle simmer, add a splash of vinegar and stir to create a whirlpool. Crack a very fresh egg into a cup, slide it into the centre and cook for three to four minutes, then lift it out with a slotted spoon.
[-] Older eggs are easier to peel than very fresh ones, because the air cell grows and the membrane separates from the shell as the egg ages. Peeling under running water also helps.

=== en-howto-flat-tire | en | howto
T: Changing a flat tyre
Q: how to change a flat tire on a car
ART: -
[+] Park on firm, level ground away from traffic, switch on the hazard lights and apply the parking brake. Loosen the wheel nuts half a turn with the wrench while the wheel is still on the ground. Then place the jack under the jacking point shown in the owner's manual and raise the car until the flat tyre is a few centimetres off the ground.
[+] Remove the loosened nuts and pull the wheel off. Fit the spare onto the studs, put the nuts back on by hand and tighten them lightly in a star pattern. Lower the car, then tighten the nuts fully, again in a star pattern. Check the spare's pressure as soon as you can, and remember that compact spares are usually limited to 80 km/h (50 mph).
[-] Tyre tread depth should be checked regularly. The legal minimum in many countries is 1.6 mm, but braking distances on wet roads increase noticeably once tread falls below 3 mm. A simple check is to insert a coin into the main grooves and see how much of its rim is covered.
[-] Correct tyre pressure improves fuel economy and handling. The recommended pressure is printed on a sticker inside the driver's door or fuel filler flap, and it should be checked when the tyres are cold, at least once a month.

=== en-howto-wifi-slow | en | howto
T: Home Wi-Fi
Q: why is my wifi so slow at night
[+] Wi-Fi often slows down in the evening because that is when everyone in the neighbourhood is online. Your router shares radio channels with nearby networks, and in apartment buildings the 2.4 GHz band in particular becomes crowded. Switching to the 5 GHz band or choosing a less congested channel in the router settings can make a big difference.
[+] Evening slowdowns can also come from your internet provider rather than your Wi-Fi. If a wired computer plugged directly into the router is also slow at peak hours, the bottleneck is the provider's network; if the wired connection is fast, the problem is the wireless link inside your home, such as distance, walls or interference.
[-] Mesh Wi-Fi systems use several small access points placed around the house that work together as one network. They are useful in large homes or buildings with thick walls, where a single router cannot cover every room.
[-] To change your Wi-Fi password, type the router's address, often 192.168.0.1 or 192.168.1.1, into a browser, log in with the admin credentials printed on the router and look for the wireless security settings. Choose WPA2 or WPA3 and a long passphrase.

=== en-howto-remove-red-wine | en | howto
T: Stain removal
Q: how to get red wine out of a carpet
[+] Act quickly and blot, do not rub: press a clean white cloth onto the stain to soak up as much wine as possible. Pour a little cold water on the spot and keep blotting. Then cover the stain with a paste of three parts baking soda to one part water, let it dry completely and vacuum it up.
[+] For a stubborn red wine stain on a light-coloured carpet, mix one tablespoon of washing-up liquid and one tablespoon of white vinegar in two cups of warm water. Sponge the solution onto the stain, blot until it is absorbed, then rinse with cold water and blot dry. Test any cleaner on a hidden patch of carpet first.
[-] To remove candle wax from fabric, let it harden, scrape off as much as possible with a blunt knife, then place brown paper over the remaining wax and run a warm iron over it; the paper absorbs the melted wax.
[-] Red wine should be served slightly below room temperature, around 15 to 18 °C. Full-bodied reds benefit from being opened or decanted half an hour before serving.

=== en-howto-sourdough | en | howto
T: Sourdough baking
Q: how to make a sourdough starter from scratch
ART: +
[+] Mix 50 g of wholemeal flour with 50 g of lukewarm water in a clean jar, cover it loosely and leave it at room temperature. Every 24 hours, discard about half of the mixture and feed it with another 50 g of flour and 50 g of water. After three to four days you should see bubbles; after about a week of daily feeding, a healthy starter doubles in size within six to eight hours of a feed and smells pleasantly sour.
[+] A starter is ready to bake with when it reliably rises and falls after each feed and a spoonful floats in water. Once established, it can be kept in the fridge and fed once a week. A layer of grey liquid on top, called hooch, is a sign that it is hungry; stir it in or pour it off and feed the starter.
[-] Baker's percentages express every ingredient as a percentage of the flour weight. A dough with 1,000 g of flour and 750 g of water has 75% hydration; higher-hydration doughs give a more open crumb but are stickier to shape.
[-] Commercial yeast is a single strain of Saccharomyces cerevisiae selected for fast, predictable rising. Instant yeast can be mixed directly into the flour, while active dry yeast is traditionally dissolved in warm water first.

=== en-howto-passport-renewal | en | howto
T: Passport renewal
Q: how to renew a us passport by mail
[+] You can renew a US passport by mail with Form DS-82 if your most recent passport is undamaged, was issued when you were 16 or older, was issued within the last 15 years and is in your current name or you can document the name change. Send the form, the old passport, one new passport photo and the fee to the address on the form.
[+] Routine mail renewals currently take several weeks, and expedited service is available for an extra fee. Your old passport will be returned to you separately, cancelled. If you need to travel urgently, you may have to apply in person at a passport agency instead.
[-] First-time applicants, children under 16 and anyone whose previous passport was lost or stolen must apply in person with Form DS-11 at an acceptance facility such as a post office, and must show proof of citizenship and identity.
[-] Many countries require that your passport is valid for at least six months beyond the date you plan to leave. Check the entry requirements of your destination before booking travel.

=== en-howto-houseplant-yellow | en | howto
T: Houseplant care
Q: why are the leaves on my houseplant turning yellow
[+] Overwatering is the most common reason houseplant leaves turn yellow. Soggy soil starves the roots of oxygen and leads to root rot, so the plant cannot take up nutrients. Check the soil before watering: for most plants, wait until the top two or three centimetres are dry, and make sure the pot has a drainage hole.
[+] Yellow leaves can also be a sign of too little light, a nitrogen deficiency or natural ageing. If only the oldest, lowest leaves turn yellow one at a time, this is usually normal. If new leaves are pale and the plant is far from a window, move it to a brighter spot; if it has not been repotted or fed for a long time, a balanced liquid fertiliser can help.
[-] Brown, crispy leaf tips usually indicate low humidity or a build-up of salts from tap water and fertiliser. Grouping plants together, using a pebble tray and flushing the soil occasionally with plenty of water can reduce the problem.
[-] Most houseplants should be repotted every one to two years in spring, into a pot only two to five centimetres wider than the current one. A pot that is much too large holds excess water and can cause the roots to rot.

=== en-howto-jump-start | en | howto
T: Jump-starting a car
Q: order to connect jumper cables
[+] Connect the red clamp to the positive terminal of the dead battery, then the other red clamp to the positive terminal of the good battery. Connect the black clamp to the negative terminal of the good battery, and finally attach the last black clamp to an unpainted metal part of the engine block of the car with the dead battery, away from the battery itself.
[+] After the cables are connected, start the working car and let it run for a few minutes, then try to start the car with the flat battery. Once it runs, remove the cables in the reverse order: black from the engine block, black from the good battery, red from the good battery and finally red from the formerly dead battery.
[-] A car battery typically lasts three to five years. Signs that it is failing include a slow-cranking engine, dim headlights when the engine is off and a battery warning light on the dashboard.
[-] Portable jump starters are compact lithium battery packs that can start a car without a second vehicle. Charge them every few months so they are ready when needed.

=== en-howto-password-manager | en | howto
T: Passwords and accounts
Q: is it safe to use a password manager
[+] Security experts generally recommend password managers because they let you use a long, unique, random password for every site without having to remember them. The vault is encrypted with a key derived from your master password, so the provider cannot read your passwords. The main risk, reusing weak passwords across sites, is far greater than the risk of the manager itself being breached.
[+] To use a password manager safely, choose a long master passphrase you do not use anywhere else, turn on two-factor authentication for the manager account, and keep an emergency kit or recovery code somewhere safe offline. Be wary of browser extensions that autofill on pages whose address does not exactly match the saved site.
[-] Two-factor authentication adds a second step to logging in, such as a code from an authenticator app or a hardware security key. SMS codes are better than nothing but can be intercepted through SIM-swap attacks.
[-] A passphrase made of four or more random common words, such as "correct horse battery staple", is easier to remember than a short string of symbols and can be just as hard to guess.

=== en-howto-iron-shirt | en | howto
T: Ironing clothes
Q: how to iron a dress shirt
[+] Iron a shirt while it is slightly damp, using the temperature setting for the fabric, which for cotton is the highest. Start with the collar, ironing from the points toward the centre on both sides, then do the cuffs and sleeves, then the yoke across the shoulders, and finish with the back and the two front panels, working around the buttons rather than over them.
[+] Hang the shirt on a hanger immediately after ironing and fasten the top button so the collar keeps its shape. A spray bottle of water or the iron's steam function helps remove stubborn creases, and turning dark shirts inside out prevents shiny marks.
[-] Wool should not be ironed directly. Set the iron to the wool setting, place a damp pressing cloth over the garment and press lightly without sliding the iron back and forth.
[-] Limescale builds up inside steam irons in hard water areas. Most irons have a self-clean function; running it once a month, or using distilled water, keeps the steam holes from clogging.
""")

BLOCKS.append(r"""
=== en-legal-security-deposit | en | legal
T: Security deposits
Q: how long does a landlord have to return a security deposit in california
I: You are a legal research assistant. Prefer primary sources and statutes.
[+] Under California Civil Code section 1950.5, a landlord must return a tenant's security deposit, minus any lawful deductions, within 21 days after the tenant moves out. If any amount is withheld, the landlord must provide an itemized statement of the deductions, with receipts or invoices for repairs or cleaning that cost more than $125.
[+] Lawful deductions from a California security deposit are limited to unpaid rent, cleaning needed to return the unit to its condition at move-in, repair of damage beyond ordinary wear and tear, and, if the lease allows it, replacement of personal property. A landlord who keeps a deposit in bad faith can be ordered to pay up to twice the amount of the deposit in addition to the amount wrongly withheld.
[-] Since July 2024, California law generally limits security deposits to one month's rent, whether the unit is furnished or unfurnished. Certain small landlords who own no more than two residential properties with a total of four units may charge up to two months' rent.
[-] In New York, landlords must return a security deposit within 14 days after the tenant vacates, together with an itemized statement of any deductions. Failure to provide the statement within that time means the landlord forfeits the right to keep any part of the deposit.

=== en-legal-fair-use | en | legal
T: Copyright fair use
Q: what are the four factors of fair use
[+] Section 107 of the US Copyright Act lists four factors courts weigh when deciding whether a use is fair: the purpose and character of the use, including whether it is commercial or for nonprofit educational purposes; the nature of the copyrighted work; the amount and substantiality of the portion used in relation to the work as a whole; and the effect of the use on the potential market for or value of the work.
[+] No single factor decides a fair use case. Courts look at whether the new use is transformative, adding new expression, meaning or purpose, rather than merely substituting for the original. Quoting a short passage in a critical review is a classic fair use, while copying an entire textbook for a class usually is not.
[-] Copyright in the United States protects original works of authorship fixed in a tangible medium. For works created after 1977, protection generally lasts for the life of the author plus 70 years; works made for hire last 95 years from publication or 120 years from creation, whichever is shorter.
[-] Trademarks protect words, logos and other signs that identify the source of goods or services. Unlike copyright, a trademark can last indefinitely as long as it is used in commerce and defended against infringement.

=== en-legal-gdpr-breach | en | legal
T: GDPR breach notification
Q: gdpr data breach notification deadline
[+] Under Article 33 of the GDPR, a controller must notify the competent supervisory authority of a personal data breach without undue delay and, where feasible, not later than 72 hours after becoming aware of it, unless the breach is unlikely to result in a risk to people's rights and freedoms. A notification made after 72 hours must explain the reasons for the delay.
[+] 72 hours
[+] When a breach is likely to result in a high risk to individuals, Article 34 of the GDPR also requires the controller to inform the affected data subjects without undue delay, in clear and plain language, describing the likely consequences and the measures taken. Processors must notify their controller without undue delay after becoming aware of a breach.
[-] The GDPR's fines are tiered. Infringements of the basic principles for processing, including conditions for consent and data subjects' rights, can be fined up to 20 million euros or 4% of total worldwide annual turnover, whichever is higher.
[-] A data protection impact assessment is required before processing that is likely to result in a high risk, such as large-scale processing of health data or systematic monitoring of publicly accessible areas.

=== en-legal-will-witness | en | legal
T: Wills
Q: how many witnesses are needed to sign a will in england
[+] In England and Wales, section 9 of the Wills Act 1837 requires a will to be signed by the person making it in the presence of two witnesses who are both present at the same time, and each witness must then sign the will in the presence of the testator. A witness or a witness's spouse or civil partner should not be a beneficiary, or they lose their gift under the will.
[+] two
[-] If someone dies without a valid will in England and Wales, their estate is distributed under the intestacy rules. A surviving spouse or civil partner receives the personal belongings, a statutory legacy and half of the rest if there are children; unmarried partners receive nothing automatically.
[-] A lasting power of attorney lets you appoint someone to make decisions on your behalf if you lose mental capacity. There are two types in England and Wales, one for property and financial affairs and one for health and welfare.

=== en-legal-at-will | en | legal
T: Employment law
Q: what does at-will employment mean
[+] At-will employment means that either the employer or the employee can end the employment relationship at any time, for any reason or for no reason at all, without notice, as long as the reason is not illegal. It is the default rule in every US state except Montana, which requires good cause for dismissal after a probationary period.
[+] Even under at-will employment, an employer cannot fire someone for an illegal reason, such as discrimination based on race, sex, religion, age or disability, retaliation for reporting harassment or safety violations, or taking protected family and medical leave. Written contracts and collective bargaining agreements can also limit at-will termination.
[-] Non-compete agreements restrict an employee from working for a competitor after leaving a job. Their enforceability varies widely; California, for example, treats most non-compete clauses as void.
[-] The Fair Labor Standards Act requires most US employers to pay non-exempt employees overtime at one and a half times their regular rate for hours worked over 40 in a workweek.

=== en-legal-small-claims | en | legal
T: Small claims court
Q: how to file a small claims case
[+] To file a small claims case, first check that your claim is within the court's monetary limit and that you are suing in the right place, usually where the defendant lives or where the events happened. Fill in the court's claim form, stating the amount you are asking for and a short explanation of why, then file it with the court clerk and pay the filing fee.
[+] After filing, the defendant must be formally served with the claim, by certified mail, a sheriff or a process server, depending on local rules. Gather receipts, contracts, photos and messages that support your case and bring copies for the judge and the other side to the hearing. Lawyers are not required and in some states are not allowed.
[-] Small claims limits vary: in California an individual can sue for up to $12,500, while in New York City the limit is $10,000. Businesses often have lower limits or a cap on the number of claims they can file each year.
[-] Mediation is a voluntary process in which a neutral mediator helps the parties reach their own agreement. Many small claims courts offer free mediation on the day of the hearing.

=== en-legal-miranda | en | legal
T: Police questioning
Q: when do police have to read miranda rights
[+] Police must give Miranda warnings only when two conditions are met: the person is in custody, meaning a reasonable person would not feel free to leave, and the police are about to interrogate them. If either is missing, for example during a voluntary interview or when a suspect blurts out a statement without being questioned, no warning is required.
[+] If officers question a person in custody without giving Miranda warnings, the usual remedy is that the statements cannot be used as evidence of guilt in the prosecution's main case. The arrest itself remains valid, and physical evidence found as a result may still be admissible in some circumstances.
[-] The Miranda warnings come from the 1966 US Supreme Court case Miranda v. Arizona. The standard warning tells a suspect that they have the right to remain silent, that anything they say can be used against them in court, that they have the right to an attorney and that one will be appointed if they cannot afford it.
[-] A search warrant must be issued by a neutral judge based on probable cause and must describe the place to be searched and the items to be seized, as required by the Fourth Amendment.

=== en-legal-trademark-register | en | legal
T: Trademark registration
Q: how long does a registered trademark last in the eu
[+] A European Union trade mark registered with the EUIPO is valid for ten years from the filing date. It can be renewed indefinitely for further ten-year periods by paying the renewal fee, which may be paid in the six months before expiry or, with a surcharge, in the six months after.
[+] An EU trade mark can be revoked if it has not been put to genuine use in the Union for a continuous period of five years after registration, so renewal alone does not keep an unused mark alive. Owners should keep evidence of use such as invoices, catalogues and advertising.
[-] A European patent application is filed with the European Patent Office and, once granted, has to be validated in each country where protection is wanted. Patents last at most 20 years from the filing date and cannot be renewed beyond that.
[-] Registered Community designs protect the appearance of a product for up to 25 years, renewable every five years, while unregistered Community designs last three years from the date the design was first made public in the EU.
""")

BLOCKS.append(r"""
=== en-hist-canberra | en | history
T: Capital of Australia
Q: capital of australia
[+] Canberra
[+] Canberra is the capital city of Australia. It was chosen in 1908 as a compromise between the rival cities of Sydney and Melbourne and was purpose-built as the national capital, designed by the American architects Walter Burley Griffin and Marion Mahony Griffin. Parliament first sat there in 1927.
[-] Sydney
[-] Sydney is the largest city in Australia, with more than five million residents in its metropolitan area. It is the capital of the state of New South Wales and is known for its harbour, the Sydney Opera House and the Harbour Bridge.

=== en-hist-berlin-wall | en | history
T: The Berlin Wall
Q: when did the berlin wall fall
[+] The Berlin Wall fell on the night of 9 November 1989, when East German authorities unexpectedly announced that citizens could cross the border freely. Crowds gathered at the checkpoints, guards opened the gates, and Berliners from both sides began chipping pieces off the wall. German reunification followed less than a year later, on 3 October 1990.
[+] 9 November 1989
[-] Construction of the Berlin Wall began on 13 August 1961, when East German troops and workers sealed the border between East and West Berlin overnight with barbed wire, later replaced by concrete walls, watchtowers and a guarded "death strip". At least 140 people were killed at the wall while trying to escape.
[-] The Berlin Airlift of 1948 and 1949 supplied West Berlin by air after the Soviet Union blocked all road, rail and canal access to the city. Allied aircraft flew more than 270,000 flights carrying food, coal and other supplies.

=== en-hist-magna-carta | en | history
T: Magna Carta
Q: why is magna carta important
ART: +
[+] Magna Carta, agreed by King John of England at Runnymede in June 1215, established the principle that the king was subject to the law rather than above it. Its most famous clauses promised that no free man would be imprisoned or stripped of his rights except by the lawful judgement of his peers or the law of the land, and that justice would not be sold, denied or delayed.
[+] Although most of its 63 clauses dealt with medieval feudal grievances and the original charter was annulled by the Pope within months, Magna Carta was reissued several times and became a symbol of liberty. It influenced the English Bill of Rights, the US Constitution and Bill of Rights, and the Universal Declaration of Human Rights.
[-] King John, who reigned from 1199 to 1216, lost most of England's lands in France, including Normandy, which earned him the nickname "Lackland" and weakened his standing with the barons. He died of dysentery in October 1216 during a civil war.
[-] The Domesday Book was a great survey of land and property in England ordered by William the Conqueror and completed in 1086. It recorded who held land, how many people lived on it and what it was worth.

=== en-hist-roman-empire-fall | en | history
T: Fall of the Western Roman Empire
Q: causes of the fall of the western roman empire
[+] Historians point to a combination of causes for the fall of the Western Roman Empire: political instability, with dozens of emperors in the third century alone; economic troubles such as heavy taxation, inflation and reliance on slave labour; the cost of defending very long frontiers; and increasing pressure from Germanic peoples and the Huns. The traditional end date is 476, when Odoacer deposed the last western emperor, Romulus Augustulus.
[+] The division of the empire into eastern and western halves left the West with a weaker economy and fewer resources. As Goths, Vandals and other groups settled inside the borders, Rome increasingly depended on them as soldiers, lost tax revenue from provinces such as North Africa, and could no longer pay for its armies. The eastern half, with its capital at Constantinople, survived for almost another thousand years.
[-] The Roman Republic became an empire in 27 BC, when the Senate granted Octavian the title Augustus. His reign began the Pax Romana, about two centuries of relative peace and stability across the Mediterranean.
[-] Roman concrete, made with volcanic ash, lime and seawater, has proved remarkably durable; harbour structures built two thousand years ago are still standing, and researchers are studying the material for modern construction.

=== en-hist-longest-river | en | history
T: Rivers of the world
Q: longest river in the world
[+] The Nile and the Amazon are the two longest rivers in the world, and which is longer depends on how the sources and mouths are measured. Most reference works list the Nile, at about 6,650 km, as the longest, with the Amazon at roughly 6,400 km; some Brazilian and Peruvian studies that trace the Amazon to a more distant source argue that it is slightly longer.
[+] the Nile
[-] The Amazon carries by far the largest volume of water of any river, discharging on average about 200,000 cubic metres per second into the Atlantic, more than the next seven largest rivers combined. Its basin covers about 7 million square kilometres.
[-] The Yangtze, at about 6,300 km, is the longest river in Asia and the longest to flow entirely within one country. The Three Gorges Dam on the Yangtze is the largest hydroelectric power station in the world by installed capacity.

=== en-hist-printing-press | en | history
T: The printing press
Q: who invented the printing press
[+] Johannes Gutenberg, a goldsmith from Mainz in Germany, developed a printing press with movable metal type around 1440. His system combined a hand mould for casting uniform letters, an oil-based ink and a screw press adapted from wine presses. The Gutenberg Bible, printed around 1455, was the first major book produced with the technology in Europe.
[+] Movable type existed before Gutenberg in East Asia. In China, Bi Sheng made movable type from baked clay around 1040, and in Korea metal movable type was used to print the Jikji, a Buddhist text, in 1377. Gutenberg's contribution was a practical system for mass production that spread rapidly across Europe.
[-] Within fifty years of Gutenberg's invention, printing presses were operating in more than 200 European cities and had produced millions of books. Cheaper books helped spread literacy, the ideas of the Renaissance and the Protestant Reformation.
[-] The typewriter was commercialised in the 1870s by Christopher Latham Sholes and partners, whose design introduced the QWERTY keyboard layout still used today.

=== en-hist-moon-landing | en | history
T: The Moon landing
Q: who was the first person to walk on the moon
[+] Neil Armstrong, commander of NASA's Apollo 11 mission, became the first person to walk on the Moon on 20 July 1969 (21 July UTC). Stepping onto the surface, he said, "That's one small step for man, one giant leap for mankind." Buzz Aldrin joined him about twenty minutes later, while Michael Collins remained in orbit in the command module.
[+] Neil Armstrong
[-] Yuri Gagarin of the Soviet Union was the first human in space. On 12 April 1961 he orbited the Earth once aboard Vostok 1, a flight that lasted 108 minutes.
[-] Twelve astronauts walked on the Moon between 1969 and 1972. The last were Eugene Cernan and Harrison Schmitt of Apollo 17, who spent three days on the surface in December 1972.

=== en-hist-mount-everest | en | history
T: Mount Everest
Q: how tall is mount everest
[+] Mount Everest is 8,848.86 metres (29,031.7 feet) above sea level, according to a joint survey by China and Nepal announced in 2020. It lies on the border between Nepal and the Tibet Autonomous Region of China in the Mahalangur range of the Himalayas and is the highest mountain above sea level on Earth.
[+] 8,849 m
[-] Edmund Hillary of New Zealand and Tenzing Norgay, a Sherpa from Nepal, made the first confirmed ascent of Mount Everest on 29 May 1953, climbing via the South Col route.
[-] Mauna Kea in Hawaii rises more than 10,000 metres from its base on the ocean floor, which makes it taller than Everest when measured from base to summit, although only about 4,207 metres are above sea level.

=== en-hist-silk-road | en | history
T: The Silk Road
Q: what goods were traded on the silk road
[+] Despite its name, the Silk Road carried far more than silk. Chinese merchants sent silk, porcelain, tea and paper westward, while Central Asia supplied horses and jade, India traded spices, cotton textiles and precious stones, and the Mediterranean world sent glassware, wine, gold and silver. Goods usually changed hands many times along the way rather than being carried by one trader from end to end.
[+] The Silk Road also spread ideas, religions and technologies. Buddhism travelled from India into China along its routes, papermaking moved from China to the Islamic world and then to Europe, and crops such as grapes and alfalfa reached China from the west. Diseases travelled too, including, historians believe, the Black Death in the fourteenth century.
[-] The term "Silk Road" was coined in 1877 by the German geographer Ferdinand von Richthofen. The network of routes stretched more than 6,000 kilometres, from Chang'an (modern Xi'an) in China to the Mediterranean.
[-] The maritime silk routes connected Chinese ports with South-East Asia, India, Arabia and East Africa. In the early fifteenth century the Ming admiral Zheng He led seven large expeditions along these sea routes.
""")

BLOCKS.append(r"""
=== en-prod-noise-cancelling | en | product
T: Wireless headphones
Q: noise cancelling headphones with long battery life for flights
ART: +
[+] The AeroQuiet 700 over-ear headphones combine adaptive active noise cancellation with up to 40 hours of playback on a single charge, or 30 hours with noise cancellation switched on. A ten-minute quick charge adds about five hours of listening. They fold flat into a hard travel case and include a two-prong airline adapter and a 3.5 mm cable for in-flight entertainment systems.
[+] Customer review, 5 stars: "Used these on a 14-hour flight from Sydney to Dallas and still had battery left when I landed. The noise cancelling takes out the engine rumble almost completely, and they were comfortable enough to sleep in. The only downside is the case is a bit bulky for a small backpack."
[-] The StudioRef M50 wired monitor headphones offer a flat frequency response for mixing and recording, with 45 mm drivers and a detachable coiled cable. They do not have active noise cancellation or Bluetooth and are designed for use in the studio.
[-] Customer review, 2 stars: "The sound is great for the price, but the earbuds kept falling out during runs and the battery only lasts about four hours. Fine for the gym, not what I wanted for travel."

=== en-prod-laptop-programming | en | product
T: Laptops for developers
Q: best laptop for programming under 1000 dollars
[+] For programming on a budget of about $1,000, prioritise memory and a comfortable keyboard over a powerful graphics card. Aim for at least 16 GB of RAM, a fast SSD of 512 GB or more, a recent mid-range processor such as an AMD Ryzen 7 or Intel Core Ultra 5, and a screen of at least 1920x1080. Good-value options include business ultrabooks on sale and last year's models of popular developer laptops.
[+] Review: the Corvid Pro 14 costs $949 with 16 GB of RAM, a 1 TB SSD and an 8-core processor, compiles a mid-sized Rust project in under two minutes and runs Linux without driver problems. Its keyboard has 1.5 mm of travel, the 14-inch 2.2K screen shows plenty of code, and battery life reached 11 hours in our web and editor test.
[-] Gaming laptops put most of their budget into a powerful graphics card and a high refresh-rate display. At $1,000 they usually have heavy chassis, loud fans under load and battery life of three to four hours.
[-] Chromebooks are inexpensive laptops running ChromeOS. They start quickly and are easy to manage for schools, but most software runs in the browser or through Android apps, and storage is usually limited to 64 or 128 GB.

=== en-prod-air-fryer | en | product
T: Kitchen appliances
Q: air fryer vs convection oven difference
[+] An air fryer is essentially a small, powerful convection oven. Both cook food by circulating hot air with a fan, but an air fryer's compact basket puts the food close to the heating element and moves air faster, so it preheats in a couple of minutes and crisps small batches of chips or chicken wings more quickly. A convection oven has much more space and can cook a whole meal or several trays at once.
[+] Choose an air fryer if you mostly cook for one or two people and want crispy results with little oil and little preheating; choose a convection oven, or an oven with a convection setting, if you bake, roast large joints or cook for a family. Air fryer baskets with a capacity of 4 to 6 litres suit most couples.
[-] A slow cooker cooks food at a low, steady temperature for six to ten hours, which makes tough cuts of meat tender. Most models have low, high and keep-warm settings and a removable ceramic pot.
[-] Product recall notice: certain batches of the HomeChef 5.5 L air fryer sold between March and June are being recalled because a faulty wire can overheat. Stop using the appliance and contact the manufacturer for a free replacement.

=== en-prod-running-shoes | en | product
T: Running shoes
Q: running shoes for flat feet overpronation
[+] Runners with flat feet who overpronate, meaning the foot rolls too far inward on landing, are usually advised to try stability shoes. These have a firmer foam or a guide rail on the inner side of the midsole to limit inward rolling, plus a structured heel counter. Motion-control shoes offer even more support for heavy overpronation.
[+] Product description: the Stride Guide 12 is a stability running shoe with a dual-density midsole, a firmer medial post under the arch and a wide, stable base. It weighs 285 g in men's size 9, has a 10 mm heel-to-toe drop and comes in regular and wide fittings.
[-] Trail running shoes have aggressive lugs for grip on mud and loose rock, rock plates to protect the foot and more durable uppers. They are usually heavier than road shoes.
[-] Minimalist running shoes have little cushioning and a zero drop between heel and toe, encouraging a forefoot strike. Runners switching to them should do so gradually to avoid calf and Achilles injuries.

=== en-prod-robot-vacuum | en | product
T: Robot vacuum cleaners
Q: robot vacuum that works well with pet hair
[+] For homes with pets, choose a robot vacuum with rubber roller brushes rather than bristle brushes, since long hair wraps less around rubber. Strong suction, a large dustbin or a self-emptying base and a good filter also matter. Obstacle avoidance helps it steer clear of pet bowls, cables and accidents on the floor.
[+] Review of the Tidy T9: with dual rubber rollers and 5,000 Pa of suction, it picked up 98% of dog hair from our test carpet and never tangled in two weeks of daily runs. The self-emptying base holds about 60 days of debris, and its camera recognised and avoided socks and a charging cable.
[-] Cordless stick vacuums are lightweight and good for quick clean-ups and stairs. Their batteries typically run for 30 to 60 minutes on the lowest power setting, and less on boost mode.
[-] Robot lawn mowers use a boundary wire or satellite positioning to cut grass automatically. They mow little and often, leaving fine clippings that act as fertiliser.

=== en-prod-ev-charger | en | product
T: Home EV charging
Q: level 2 home charger for electric car installation cost
[+] A Level 2 charger runs on a 240-volt circuit and typically adds 30 to 50 kilometres of range per hour of charging, compared with about 5 to 8 kilometres from a standard 120-volt outlet. The charger itself usually costs $400 to $700, and professional installation adds roughly $500 to $2,000 depending on the distance from the electrical panel and whether the panel needs an upgrade.
[+] Before buying a home charger, check whether your electrical panel has space and capacity for a 40- or 50-amp circuit, whether you need a permit, and whether your utility or government offers rebates or off-peak electricity rates for EV charging. A hardwired unit is often allowed to draw more current than a plug-in one.
[-] DC fast chargers at public stations can charge many electric cars from 10% to 80% in 20 to 40 minutes, but they cost tens of thousands of dollars and require a commercial power supply, so they are not used at home.
[-] Lithium-ion batteries in electric cars degrade slowly; many manufacturers guarantee at least 70% of the original capacity after eight years or 160,000 kilometres.

=== en-prod-espresso | en | product
T: Espresso machines
Q: beginner espresso machine with milk frother
[+] The Barista One is a semi-automatic espresso machine designed for beginners. It has a pressurised portafilter that is forgiving of grind size and tamping, a 15-bar pump, a thermoblock heater that is ready in 40 seconds and a manual steam wand for frothing milk for lattes and cappuccinos. A 1.5-litre removable water tank and a simple three-button layout make it easy to use.
[+] Buying guide: beginners who want milk drinks should look for an espresso machine with a steam wand, a single boiler or thermoblock for fast heat-up and a pressurised basket. Budget for a good burr grinder as well, because freshly ground beans make a bigger difference to taste than an expensive machine.
[-] Drip coffee makers brew large batches by dripping hot water slowly through ground coffee in a paper filter. They are convenient for serving several people but cannot make espresso or froth milk.
[-] Descaling your espresso machine every one to three months removes mineral deposits that block water flow and affect temperature. Use the manufacturer's descaling solution or a citric acid solution, and run plain water through afterwards.
""")

BLOCKS.append(r"""
=== en-news-rate-decision | en | news
T: Central bank interest rates
Q: why did the central bank raise interest rates
ART: +
[+] The central bank raised its benchmark interest rate by a quarter of a percentage point on Wednesday, to 4.5%, citing inflation that remains well above its 2% target. In a statement, policymakers said that price pressures in services and wages had been more persistent than expected and that further tightening could not be ruled out.
[+] Explaining the decision at a press conference, the bank's governor said higher borrowing costs were needed to cool demand and bring inflation back to target over the next two years. She acknowledged that mortgage holders would feel the pain but argued that allowing inflation to become entrenched would hurt households more in the long run.
[-] Shares in regional banks rose on Thursday after the latest quarterly results showed deposits stabilising. Analysts said lenders had benefited from higher interest margins, although loan growth remained weak.
[-] The statistics office reported that the economy grew 0.3% in the third quarter, slightly faster than forecast, driven by consumer spending and exports of machinery.

=== en-news-wildfire | en | news
T: Wildfires
Q: wildfire evacuation orders latest
[+] Authorities on Saturday expanded mandatory evacuation orders to four more communities as a fast-moving wildfire pushed east under strong, dry winds. About 12,000 residents have been told to leave immediately, and shelters have opened at the county fairgrounds and two high schools. Officials urged people to check the county emergency website for the latest map of evacuation zones.
[+] The fire, which started on Thursday afternoon, has burned more than 18,000 hectares and is 10% contained. More than 900 firefighters, supported by helicopters and air tankers, are working to protect homes along the highway. Fire crews warned that gusts of up to 80 km/h expected overnight could spread embers well ahead of the fire front.
[-] Researchers say longer, hotter and drier summers are extending the wildfire season in many regions. A study published this week found that the area burned each year in the western United States has roughly doubled since the 1980s.
[-] Smoke from distant wildfires pushed air quality into the unhealthy range across the region for a second day. Health officials advised people with asthma or heart conditions to stay indoors and keep windows closed.

=== en-news-election-turnout | en | news
T: Election results
Q: voter turnout in the general election
[+] Turnout in Thursday's general election reached 67.8%, up nearly three points on the previous vote, according to figures published by the electoral commission. Participation was highest among voters over 65, at more than 80%, while turnout among 18- to 24-year-olds rose to 52%, the highest level for that age group in two decades.
[+] Election officials attributed the increase in turnout to expanded postal voting and extended polling hours in urban areas. More than a quarter of all ballots were cast by post, a record share.
[-] The opposition party won 214 of the 400 seats, giving it a narrow majority. Its leader is expected to be sworn in as prime minister next week and to name a cabinet within days.
[-] A new law passed last year requires voters to show photo identification at polling stations. Campaigners had warned that the rule could keep some people from voting.

=== en-news-drug-approval | en | news
T: Drug approvals
Q: new alzheimer's drug approved
I: You are an expert in medicine.
[+] Regulators on Monday approved a new antibody treatment for early Alzheimer's disease, the third drug of its kind to reach the market. In clinical trials, the drug, given as a monthly infusion, slowed the decline in memory and thinking by about a third over 18 months compared with a placebo, by clearing amyloid plaques from the brain.
[+] The approval comes with a warning about brain swelling and small bleeds, known as ARIA, which occurred in about a quarter of trial participants and were usually mild. Patients will need MRI scans before and during treatment, and doctors said the drug is suitable only for people in the early stages of the disease.
[-] A large study published on Tuesday found that people who slept fewer than six hours a night in middle age had a higher risk of developing dementia later in life, though the researchers cautioned that the study could not prove cause and effect.
[-] Shares in the drugmaker fell 4% after it reported weaker-than-expected sales of its diabetes and obesity medicines in the latest quarter.

=== en-news-chip-factory | en | news
T: Semiconductor industry
Q: company announces new semiconductor factory
[+] The chipmaker said on Tuesday it would build a $20 billion semiconductor factory on a 400-hectare site outside the city, creating about 3,000 permanent jobs. Construction is due to start next year, with production of advanced processors planned for 2028. The project will receive government subsidies under a law intended to bring chip manufacturing back onshore.
[+] Local officials welcomed the new chip plant but said the region would need to expand water supply and housing to support it. A modern fab uses millions of litres of ultra-pure water a day, and the company said it would recycle most of it on site.
[-] Global smartphone shipments fell 3% in the last quarter as consumers held on to their devices longer, according to market researchers. Sales of foldable phones, however, rose sharply.
[-] A shortage of chips in 2021 forced carmakers to halt production lines around the world, as modern vehicles contain hundreds of semiconductors controlling everything from engines to windows.

=== en-news-marathon | en | news
T: Sports results
Q: marathon world record broken
[+] The Kenyan runner smashed the marathon world record on Sunday, crossing the line in 2:00:35 to take 34 seconds off the previous mark. He ran the second half of the race faster than the first, covering the final ten kilometres alone after his pacemakers dropped out, and said afterwards that he believed a sub-two-hour marathon in an official race was now possible.
[+] Race organisers confirmed that the new marathon record would be submitted for ratification after routine doping tests. Ideal conditions, with temperatures of 9 °C at the start and almost no wind, helped produce fast times throughout the field, with five men finishing under 2:04.
[-] In the women's race, the defending champion pulled away in the final five kilometres to win in 2:16:20, the second-fastest time ever run on the course.
[-] Marathon training plans for beginners usually last 16 to 20 weeks and build up gradually to a longest run of about 30 to 32 kilometres, three weeks before race day.
""")

BLOCKS.append(r'''
=== en-code-read-csv-python | en | code
T: Reading CSV files in Python
Q: python read csv file into list of dictionaries
[+] import csv

def read_rows(path):
    """Return every row of a CSV file as a dict keyed by the header row."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))

rows = read_rows("customers.csv")
print(rows[0]["email"])
[+] # With pandas: read the file, then convert each row to a dict.
import pandas as pd

frame = pd.read_csv("orders.csv", dtype={"zip_code": str})
records = frame.to_dict(orient="records")
for record in records[:3]:
    print(record["order_id"], record["total"])
[-] import csv

def write_rows(path, rows):
    """Write a list of dicts to a CSV file, using the keys of the first row as the header."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
[-] import json

with open("config.json", encoding="utf-8") as handle:
    config = json.load(handle)
print(config.get("database", {}).get("host", "localhost"))

=== en-code-debounce-js | en | code
T: Debouncing in JavaScript
Q: javascript debounce function example
I: Prefer documents with code examples.
[+] function debounce(fn, waitMs) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), waitMs);
  };
}

const search = debounce((text) => fetchResults(text), 300);
input.addEventListener("input", (event) => search(event.target.value));
[+] // TypeScript version that also lets callers cancel a pending call.
export function debounce<T extends (...args: any[]) => void>(fn: T, waitMs = 250) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const debounced = (...args: Parameters<T>) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
[-] function throttle(fn, intervalMs) {
  let last = 0;
  return function (...args) {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      fn.apply(this, args);
    }
  };
}

window.addEventListener("scroll", throttle(updateHeader, 100));
[-] Debouncing groups a burst of events into a single call, which is useful for search boxes and window resizing. The concept comes from electronics, where a mechanical switch "bounces" and produces several signals for one press.

=== en-code-sql-top-n | en | code
T: SQL queries per group
Q: sql get top 3 highest paid employees in each department
[+] SELECT department_id, employee_id, name, salary
FROM (
    SELECT department_id, employee_id, name, salary,
           ROW_NUMBER() OVER (PARTITION BY department_id ORDER BY salary DESC) AS rn
    FROM employees
) ranked
WHERE rn <= 3
ORDER BY department_id, salary DESC;
[+] -- Use DENSE_RANK instead of ROW_NUMBER to keep ties: two people with the same salary share a rank.
WITH ranked AS (
    SELECT e.*, DENSE_RANK() OVER (PARTITION BY e.department_id ORDER BY e.salary DESC) AS salary_rank
    FROM employees AS e
)
SELECT d.name AS department, r.name AS employee, r.salary
FROM ranked AS r
JOIN departments AS d ON d.id = r.department_id
WHERE r.salary_rank <= 3;
[-] SELECT department_id, AVG(salary) AS average_salary, COUNT(*) AS headcount
FROM employees
GROUP BY department_id
HAVING COUNT(*) >= 5
ORDER BY average_salary DESC;
[-] SELECT name, salary
FROM employees
ORDER BY salary DESC
LIMIT 3;

=== en-code-go-http-server | en | code
T: HTTP servers in Go
Q: simple http server in go with json response
[+] package main

import (
	"encoding/json"
	"log"
	"net/http"
)

type status struct {
	OK      bool   `json:"ok"`
	Version string `json:"version"`
}

func main() {
	http.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status{OK: true, Version: "1.4.2"})
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
[+] // Go 1.22+ routing patterns with methods and path parameters.
mux := http.NewServeMux()
mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(map[string]string{"id": id}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
})
srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
log.Fatal(srv.ListenAndServe())
[-] resp, err := http.Get("https://api.example.com/items")
if err != nil {
	return err
}
defer resp.Body.Close()
var items []Item
if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
	return err
}
[-] from http.server import HTTPServer, SimpleHTTPRequestHandler

# Serve the current directory on port 8000.
HTTPServer(("", 8000), SimpleHTTPRequestHandler).serve_forever()

=== en-code-git-undo-commit | en | code
T: Undoing Git commits
Q: undo last git commit but keep changes
[+] # Move HEAD back one commit; the changes stay staged.
git reset --soft HEAD~1

# Or keep the changes in the working tree but unstage them:
git reset HEAD~1
[+] If the commit has already been pushed and others may have pulled it, do not rewrite history. Create a new commit that reverses it instead:

git revert HEAD
git push
[-] # Discard the last commit AND its changes. This cannot be undone easily.
git reset --hard HEAD~1
[-] # Change the message of the last commit without changing its content.
git commit --amend -m "Fix typo in README"

=== en-code-python-retry | en | code
T: Retrying failed calls
Q: python retry function with exponential backoff
[+] import random
import time

def retry(call, attempts=5, base_delay=0.5, max_delay=30.0, retry_on=(ConnectionError, TimeoutError)):
    """Call `call()` until it succeeds, sleeping base_delay * 2**n (with jitter) between failures."""
    for attempt in range(attempts):
        try:
            return call()
        except retry_on:
            if attempt == attempts - 1:
                raise
            delay = min(max_delay, base_delay * 2 ** attempt)
            time.sleep(delay * random.uniform(0.5, 1.0))
[+] # Using the tenacity library:
from tenacity import retry, stop_after_attempt, wait_exponential

@retry(stop=stop_after_attempt(5), wait=wait_exponential(multiplier=0.5, max=30))
def fetch_prices():
    response = session.get(PRICES_URL, timeout=10)
    response.raise_for_status()
    return response.json()
[-] import functools

def memoize(fn):
    cache = {}
    @functools.wraps(fn)
    def wrapper(*args):
        if args not in cache:
            cache[args] = fn(*args)
        return cache[args]
    return wrapper
[-] import signal

def timeout_handler(signum, frame):
    raise TimeoutError("operation took too long")

signal.signal(signal.SIGALRM, timeout_handler)
signal.alarm(10)  # raise TimeoutError in 10 seconds

=== en-code-rust-read-file | en | code
T: File input in Rust
Q: rust read file line by line
[+] use std::fs::File;
use std::io::{self, BufRead, BufReader};

fn main() -> io::Result<()> {
    let file = File::open("access.log")?;
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.contains("ERROR") {
            println!("{}: {}", number + 1, line);
        }
    }
    Ok(())
}
[+] // Read the whole file into a String, then iterate over its lines.
let text = std::fs::read_to_string("words.txt").expect("cannot read words.txt");
let longest = text.lines().max_by_key(|word| word.len()).unwrap_or("");
println!("longest word: {longest}");
[-] use std::fs::OpenOptions;
use std::io::Write;

let mut file = OpenOptions::new().create(true).append(true).open("app.log")?;
writeln!(file, "started at {}", timestamp)?;
[-] with open("access.log", encoding="utf-8") as handle:
    for number, line in enumerate(handle, start=1):
        if "ERROR" in line:
            print(number, line.rstrip())

=== en-code-bash-find-large | en | code
T: Finding large files
Q: bash find files larger than 100mb
[+] # List files over 100 MB under the current directory, largest first.
find . -type f -size +100M -exec du -h {} + | sort -rh | head -n 20
[+] # Only search one filesystem, skip permission errors, print size in bytes and path.
find / -xdev -type f -size +100M -printf '%s\t%p\n' 2>/dev/null | sort -nr | head
[-] # Show disk usage of each top-level directory, human-readable.
du -h --max-depth=1 /var | sort -h
[-] # Delete files older than 30 days in the logs folder.
find /var/log/myapp -type f -name '*.log' -mtime +30 -delete

=== en-code-react-fetch | en | code
T: Fetching data in React
Q: react useeffect fetch data on mount
[+] import { useEffect, useState } from "react";

export function UserList() {
  const [users, setUsers] = useState([]);
  const [error, setError] = useState(null);

  useEffect(() => {
    const controller = new AbortController();
    fetch("/api/users", { signal: controller.signal })
      .then((res) => res.json())
      .then(setUsers)
      .catch((err) => { if (err.name !== "AbortError") setError(err); });
    return () => controller.abort();
  }, []);

  if (error) return <p>Failed to load users.</p>;
  return <ul>{users.map((u) => <li key={u.id}>{u.name}</li>)}</ul>;
}
[+] // The empty dependency array makes the effect run once after the first render.
useEffect(() => {
  let ignore = false;
  async function load() {
    const response = await fetch(`/api/products?page=${page}`);
    const data = await response.json();
    if (!ignore) setProducts(data.items);
  }
  load();
  return () => { ignore = true; };
}, [page]);
[-] import { useState } from "react";

export function Counter() {
  const [count, setCount] = useState(0);
  return <button onClick={() => setCount(count + 1)}>Clicked {count} times</button>;
}
[-] const memoizedTotal = useMemo(
  () => items.reduce((sum, item) => sum + item.price * item.quantity, 0),
  [items]
);

=== en-code-python-dedupe | en | code
T: Removing duplicates
Q: remove duplicates from a list in python while keeping order
[+] def dedupe(items):
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
[+] # dict preserves insertion order (Python 3.7+), so this keeps the first occurrence of each item.
unique = list(dict.fromkeys(["b", "a", "b", "c", "a"]))  # ['b', 'a', 'c']
[-] unique = list(set(["b", "a", "b", "c", "a"]))  # order is not guaranteed
[-] from collections import Counter

counts = Counter(["b", "a", "b", "c", "a"])
print(counts.most_common(1))  # [('b', 2)]

=== en-code-java-sort-objects | en | code
T: Sorting in Java
Q: java sort list of objects by field
[+] List<Person> people = new ArrayList<>(repository.findAll());
people.sort(Comparator.comparing(Person::getLastName)
        .thenComparing(Person::getFirstName)
        .thenComparingInt(Person::getAge));
[+] // Sort by a numeric field in descending order with a lambda.
Collections.sort(orders, (a, b) -> Double.compare(b.getTotal(), a.getTotal()));
[-] Map<String, List<Person>> byCity = people.stream()
        .collect(Collectors.groupingBy(Person::getCity));
[-] int[] numbers = {5, 3, 9, 1};
Arrays.sort(numbers);
System.out.println(Arrays.toString(numbers));

=== en-code-docker-python | en | code
T: Containerising Python apps
Q: dockerfile for a python flask app
I: Prefer documents with code examples.
[+] FROM python:3.12-slim

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .

ENV FLASK_APP=app.py
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "app:app"]
[+] # Multi-stage build: install wheels in a builder image, copy only what is needed into the runtime image.
FROM python:3.12-slim AS builder
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

FROM python:3.12-slim
RUN useradd --create-home appuser
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /home/appuser/app
COPY --chown=appuser . .
USER appuser
CMD ["gunicorn", "-w", "4", "-b", "0.0.0.0:8000", "app:app"]
[-] version: "3.9"
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: example
    volumes:
      - pgdata:/var/lib/postgresql/data
volumes:
  pgdata:
[-] from flask import Flask, jsonify

app = Flask(__name__)

@app.get("/health")
def health():
    return jsonify(status="ok")

=== en-code-regex-email | en | code
T: Validating input with regular expressions
Q: regex to validate an email address javascript
[+] // Pragmatic check: something@something.tld, no spaces. Full RFC 5322 validation is not worth it; send a confirmation email instead.
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/;

function isValidEmail(value) {
  return EMAIL_RE.test(value.trim());
}

isValidEmail("ana@example.org"); // true
isValidEmail("ana@localhost");   // false
[+] <!-- Let the browser validate it: type="email" checks the format before the form is submitted. -->
<input type="email" name="email" required>
<script>
  const field = document.querySelector('input[name="email"]');
  form.addEventListener("submit", (e) => { if (!field.checkValidity()) e.preventDefault(); });
</script>
[-] const PHONE_RE = /^\+?[0-9\s\-()]{7,20}$/;
console.log(PHONE_RE.test("+44 20 7946 0958")); // true
[-] import re

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
print(bool(EMAIL_RE.match("ana@example.org")))

=== en-code-pandas-groupby | en | code
T: Aggregating tables with pandas
Q: pandas group by column and sum multiple columns
[+] import pandas as pd

sales = pd.read_parquet("sales.parquet")
totals = (
    sales.groupby("region", as_index=False)[["units", "revenue"]]
    .sum()
    .sort_values("revenue", ascending=False)
)
print(totals.head())
[+] # Named aggregations: different functions per column, with readable output names.
summary = df.groupby(["store", "month"]).agg(
    total_units=("units", "sum"),
    total_revenue=("revenue", "sum"),
    orders=("order_id", "nunique"),
).reset_index()
[-] merged = orders.merge(customers, on="customer_id", how="left", validate="many_to_one")
[-] pivot = sales.pivot(index="date", columns="region", values="revenue").fillna(0)
''')

BLOCKS.append(r"""
=== zh-sci-great-wall | zh | history
T: 长城
Q: 长城有多长
[+] 根据国家文物局2012年公布的长城资源调查结果，历代长城的总长度为21196.18公里，分布在北京、河北、山西、内蒙古、甘肃等15个省、自治区和直辖市。人们常说的“万里长城”主要指明代修建的长城，其长度约为8851.8公里，东起辽宁虎山，西至甘肃嘉峪关。
[+] 21196公里
[-] 长城始建于春秋战国时期，各诸侯国为了防御而修筑城墙。秦始皇统一六国后，把原来燕、赵、秦等国的长城连接起来并加以扩建，形成了西起临洮、东至辽东的万里长城。现存的大部分砖石长城则是明朝修建的。
[-] 八达岭长城位于北京市延庆区，是明长城中保存最好、最具代表性的一段，也是最早向游客开放的长城景区。每年接待国内外游客数百万人次，节假日期间需要提前网上预约门票。

=== zh-med-cold-fever | zh | medical
T: 感冒发烧
Q: 感冒发烧38度5要不要吃退烧药
I: 你是一名医学专家。
[+] 成人体温在38.5℃以下时，一般建议先采用物理降温，例如多喝温水、适当减少衣物、用温水擦拭颈部和腋下等部位。当体温超过38.5℃，或者虽然未到38.5℃但明显感到头痛、肌肉酸痛、难以休息时，可以按照说明书服用对乙酰氨基酚或布洛芬等退烧药，两次用药之间要间隔4到6小时。
[+] 如果高烧持续超过三天，体温达到39℃以上不退，或者出现呼吸困难、胸痛、意识模糊、持续呕吐、皮疹等情况，应及时到医院就诊，不要自行反复加量服用退烧药。儿童用药应选择儿童剂型，并按体重计算剂量。
[-] 普通感冒大多由鼻病毒引起，主要症状是鼻塞、流涕、打喷嚏和咽喉痛，一般7到10天可以自愈。抗生素对病毒没有作用，不需要常规使用。
[-] 流感疫苗需要每年接种一次，最好在每年10月底前完成接种。60岁以上老人、慢性病患者、孕妇和6月龄以上儿童是优先接种人群。

=== zh-howto-rice | zh | howto
T: 煮米饭
Q: 电饭锅煮米饭水和米的比例是多少
[+] 用电饭锅煮白米饭，一般大米和水的体积比例约为1:1.2到1:1.5。新米含水量高，可以少放一点水；陈米比较干，需要多放一些水。一个简单的办法是把淘好的米铺平，食指尖轻轻触到米面，水面到达第一个指节左右即可。
[+] 煮饭前可以把米浸泡20到30分钟，这样煮出来的米饭更加松软。煮好后不要马上开盖，让米饭在锅里焖10分钟左右，再用饭勺把米饭翻松，口感会更好。糙米需要更多的水和更长的浸泡时间。
[-] 电饭锅的内胆如果出现涂层脱落，最好及时更换。清洗内胆时应使用软布或海绵，避免用钢丝球刷洗，以免损坏不粘涂层。
[-] 做蛋炒饭最好使用隔夜的冷米饭，因为冷饭水分少、米粒分明，炒出来不容易结块。先把鸡蛋炒散盛出，再炒米饭，最后把鸡蛋倒回去加葱花和盐调味。

=== zh-legal-labor-contract | zh | legal
T: 劳动合同
Q: 公司不签劳动合同怎么赔偿
I: 你是一名法律顾问，请优先参考法律条文。
[+] 根据《劳动合同法》第八十二条，用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。劳动者可以向当地劳动争议仲裁委员会申请仲裁，要求支付未签合同期间的二倍工资差额，申请仲裁的时效一般为一年。
[+] 用人单位自用工之日起满一年仍未与劳动者订立书面劳动合同的，视为用人单位与劳动者已订立无固定期限劳动合同。劳动者在维权时应注意保留工资条、考勤记录、工作证、聊天记录等能够证明劳动关系的证据。
[-] 劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同；在试用期内提前三日通知用人单位，可以解除劳动合同。
[-] 试用期的长短与劳动合同期限有关：劳动合同期限三个月以上不满一年的，试用期不得超过一个月；一年以上不满三年的，不得超过二个月；三年以上固定期限和无固定期限的劳动合同，试用期不得超过六个月。

=== zh-prod-phone | zh | product
T: 手机选购
Q: 拍照好续航长的手机推荐
[+] 这款手机配备5000万像素主摄、5000万像素超广角和支持3倍光学变焦的长焦镜头，主摄采用1英寸大底传感器，夜景和逆光场景表现出色。内置5500mAh电池，支持90W有线快充和50W无线快充，正常使用可以坚持一天半以上。
[+] 选购拍照手机时，不要只看像素数字，更要关注传感器尺寸、光学防抖和长焦能力。续航方面，电池容量在5000mAh以上、处理器能效较高的机型更耐用。建议参考专业评测中的实际拍摄样张和续航测试结果。
[-] 这款折叠屏手机展开后拥有7.8英寸大屏，适合办公和看视频，机身重量仅为239克。它采用了新一代水滴铰链，折痕比上一代明显减轻。
[-] 手机电池在长期使用后容量会逐渐衰减，尽量避免在高温环境下边充电边玩游戏，也不要经常把电量用到0%再充电。

=== zh-news-high-speed-rail | zh | news
T: 高速铁路
Q: 中国高铁运营里程
[+] 截至2023年底，中国铁路营业里程达到15.9万公里，其中高速铁路约4.5万公里，稳居世界第一，高铁网络覆盖了绝大多数50万人口以上的城市。“八纵八横”高速铁路主通道已建成大半。
[+] 中国第一条设计时速350公里的高速铁路是2008年开通的京津城际铁路。此后京沪、京广、沪昆等高铁干线相继建成，北京到上海最快只需4个多小时。
[-] 复兴号动车组是中国自主研发、具有完全自主知识产权的标准动车组，2017年首次在京沪高铁上线运营，最高运营时速可达350公里。
[-] 春运期间，全国铁路预计发送旅客超过4亿人次。铁路部门提醒旅客通过官方售票平台购票，谨防不法分子以“抢票”为名实施诈骗。

=== zh-code-python-list | zh | code
T: Python 列表排序
Q: python 列表按字典某个键排序
[+] # 按字典中的 "age" 键升序排序，返回新列表
students = [{"name": "张三", "age": 20}, {"name": "李四", "age": 18}]
by_age = sorted(students, key=lambda s: s["age"])

# 降序排序，直接修改原列表
students.sort(key=lambda s: s["age"], reverse=True)
[+] from operator import itemgetter

# itemgetter 比 lambda 略快，也可以按多个键排序：先按班级，再按成绩
rows.sort(key=itemgetter("class", "score"))
[-] # 合并两个字典（Python 3.9+）
merged = defaults | overrides
[-] # 统计列表中每个元素出现的次数
from collections import Counter
counts = Counter(["苹果", "香蕉", "苹果"])

=== zh-sci-panda | zh | science
T: 大熊猫
Q: 大熊猫吃什么
[+] 大熊猫的食物中99%以上是竹子，它们一天要花十几个小时进食，每天能吃掉十几到几十公斤的竹子。不同季节偏爱不同部位：春天吃竹笋，夏秋吃竹叶，冬季则多吃竹秆。
[+] 虽然大熊猫以吃竹子为主，但它们在分类上属于食肉目，消化系统仍保留着食肉动物的特点，肠道较短，对竹子的消化率只有约20%。在野外，大熊猫偶尔也会吃小型动物或动物尸体。
[-] 大熊猫主要分布在中国四川、陕西和甘肃的山区。根据第四次全国大熊猫调查，野生大熊猫数量为1864只，2016年世界自然保护联盟将其受威胁等级从“濒危”降为“易危”。
[-] 小熊猫和大熊猫名字相近，但并不是近亲。小熊猫体型像猫，尾巴上有红白相间的环纹，单独归为小熊猫科。

=== zh-howto-wechat-transfer | zh | howto
T: 手机转账
Q: 微信转账转错了人怎么办
[+] 如果微信转账转错了人，而对方还没有收款，可以在聊天窗口点击这笔转账，对方24小时内未领取的话资金会自动退回。如果对方已经收款，应先礼貌联系对方说明情况，请求退还。
[+] 对方拒不退还的，可以保留转账记录和聊天截图，向微信客服反映，必要时向公安机关报案或者向法院起诉，要求返还不当得利。根据《民法典》，没有法律根据取得不当利益的，受损失的人可以请求得利人返还。
[-] 微信零钱提现到银行卡需要收取0.1%的服务费，每位用户终身享有1000元的免费提现额度。
[-] 开启微信支付的指纹或面容支付后，付款时不需要输入六位数密码。为了账户安全，建议不要把支付密码设置为生日等简单数字。

=== zh-med-sleep | zh | medical
T: 失眠
Q: 晚上睡不着怎么办
[+] 改善失眠可以从作息习惯入手：每天固定时间起床，即使前一晚没睡好也不要赖床；白天尽量不午睡或午睡不超过30分钟；睡前一小时放下手机，避免喝咖啡、浓茶和饮酒。如果躺下20分钟仍然睡不着，可以起床到别的房间做些放松的事，有睡意再回到床上。
[+] 长期失眠超过三个月，每周三晚以上入睡困难或早醒，并影响白天工作和情绪，建议到医院的睡眠门诊就诊。认知行为疗法是治疗慢性失眠的首选方法，安眠药应在医生指导下短期使用。
[-] 打鼾并不一定是睡得香的表现。如果睡觉时鼾声很大，并伴有呼吸暂停、夜间憋醒和白天嗜睡，可能是阻塞性睡眠呼吸暂停，需要进行睡眠监测检查。
[-] 褪黑素是人体松果体分泌的一种激素，参与调节昼夜节律。倒时差时短期服用可能有帮助。

=== zh-legal-consumer-return | zh | legal
T: 网购退货
Q: 网购七天无理由退货规定
[+] 根据《消费者权益保护法》第二十五条，经营者采用网络、电视、电话、邮购等方式销售商品，消费者有权自收到商品之日起七日内退货，且无需说明理由。退回商品的运费由消费者承担，经营者和消费者另有约定的，按照约定。
[+] 以下商品不适用七天无理由退货：消费者定作的商品，鲜活易腐的商品，在线下载或者消费者拆封的音像制品、计算机软件等数字化商品，以及交付的报纸、期刊。消费者退货的商品应当完好，经营者应当自收到退回商品之日起七日内返还商品价款。
[-] 根据《消费者权益保护法》第五十五条，经营者提供商品或者服务有欺诈行为的，应当按照消费者的要求增加赔偿其受到的损失，增加赔偿的金额为消费者购买商品的价款或者接受服务的费用的三倍；增加赔偿的金额不足五百元的，为五百元。
[-] 消费者可以拨打12315热线或者登录全国12315平台投诉举报，市场监管部门应当在规定时限内作出处理。

=== zh-sci-moon-phase | zh | science
T: 月相
Q: 为什么月亮会有阴晴圆缺
[+] 月亮本身不发光，我们看到的月光是月球反射的太阳光。月球绕地球公转时，太阳、地球和月球三者的相对位置不断变化，我们从地球上看到的月球被照亮部分的大小也随之改变，于是出现了新月、上弦月、满月、下弦月等月相。一个完整的月相周期约为29.5天。
[+] 农历每月初一前后，月球运行到太阳和地球之间，被照亮的一面背对地球，我们几乎看不到月亮，这叫新月或朔；农历十五或十六前后，地球位于太阳和月球之间，月球被照亮的一面完全朝向地球，就是满月或望。
[-] 月食发生在太阳、地球、月球几乎成一条直线的时候，月球进入地球的影子。月全食时月亮往往呈现暗红色，俗称“红月亮”，这是地球大气折射的红光照到月面上造成的。
[-] 月球表面布满了撞击坑，由于几乎没有大气，陨石撞击后留下的痕迹可以保存数十亿年。嫦娥五号于2020年从月球正面带回了1731克月壤样品。
""")

BLOCKS.append(r"""
=== de-legal-kuendigungsfrist | de | legal
T: Kündigungsfristen im Mietrecht
Q: Kündigungsfrist Mietwohnung Mieter
[+] Nach § 573c BGB kann der Mieter einen unbefristeten Mietvertrag über Wohnraum mit einer Frist von drei Monaten kündigen. Die Kündigung muss spätestens am dritten Werktag eines Kalendermonats beim Vermieter eingehen, damit dieser Monat mitzählt; sie muss schriftlich erfolgen und vom Mieter unterschrieben sein. Eine E-Mail oder SMS reicht nicht aus.
[+] Für den Mieter gilt die Dreimonatsfrist unabhängig davon, wie lange das Mietverhältnis bereits besteht. Längere Fristen von bis zu neun Monaten gelten nur für die Kündigung durch den Vermieter, und zwar nach fünf und acht Jahren Mietdauer. Ein vereinbarter Kündigungsverzicht kann die Kündigung allerdings für höchstens vier Jahre ausschließen.
[-] Der Vermieter darf die Miete nach § 558 BGB bis zur ortsüblichen Vergleichsmiete erhöhen. Innerhalb von drei Jahren darf die Erhöhung 20 Prozent nicht übersteigen, in Gebieten mit angespanntem Wohnungsmarkt gilt eine Kappungsgrenze von 15 Prozent.
[-] Die Mietkaution darf höchstens drei Nettokaltmieten betragen. Der Mieter ist berechtigt, sie in drei gleichen monatlichen Teilzahlungen zu leisten, wobei die erste Rate zu Beginn des Mietverhältnisses fällig wird.

=== de-howto-fahrrad-schlauch | de | howto
T: Fahrradreparatur
Q: Fahrradschlauch wechseln Anleitung
[+] Zuerst das Rad ausbauen: Bremse öffnen, Schnellspanner oder Achsmuttern lösen und das Laufrad herausnehmen. Die restliche Luft ablassen, mit zwei Reifenhebern eine Seite des Mantels über die Felge hebeln und den alten Schlauch herausziehen. Vor dem Einbau des neuen Schlauchs die Innenseite des Reifens vorsichtig abtasten, damit kein Dorn oder Glassplitter stecken bleibt.
[+] Den neuen Schlauch leicht aufpumpen, damit er rund wird, das Ventil durch das Ventilloch stecken und den Schlauch gleichmäßig in den Mantel legen. Dann den Mantel mit den Daumen zurück in die Felge drücken, am Ventil beginnend. Prüfen, dass der Schlauch nirgends eingeklemmt ist, auf den auf der Reifenflanke angegebenen Druck aufpumpen und das Rad wieder einbauen.
[-] Eine Fahrradkette sollte etwa alle 200 bis 300 Kilometer oder nach jeder Regenfahrt gereinigt und geölt werden. Überschüssiges Öl mit einem Lappen abwischen, da es sonst Schmutz anzieht.
[-] Es gibt drei gängige Ventiltypen am Fahrrad: das Dunlop- oder Blitzventil, das Presta- oder Sclaverandventil und das Schrader- oder Autoventil. Für jedes Ventil braucht man den passenden Pumpenkopf oder einen Adapter.

=== de-med-zecken | de | medical
T: Zecken und Borreliose
Q: Zecke entfernen was beachten
[+] Eine Zecke sollte so schnell wie möglich entfernt werden, denn das Risiko einer Borreliose-Übertragung steigt mit der Saugdauer. Am besten fasst man sie mit einer Zeckenkarte, Zeckenzange oder feinen Pinzette direkt über der Haut und zieht sie langsam und gerade heraus. Die Zecke nicht quetschen und nicht mit Öl, Klebstoff oder Nagellack behandeln.
[+] Nach dem Entfernen die Stichstelle desinfizieren und in den folgenden Wochen beobachten. Bildet sich eine ringförmige Rötung, die sich ausbreitet (Wanderröte), oder treten grippeähnliche Beschwerden auf, sollte man zum Arzt gehen, da eine Borreliose mit Antibiotika behandelt werden kann.
[-] Gegen die Frühsommer-Meningoenzephalitis (FSME), die ebenfalls von Zecken übertragen wird, gibt es eine Impfung. Sie wird vor allem Menschen empfohlen, die in Risikogebieten in Süddeutschland leben oder dort Urlaub machen.
[-] Zecken sitzen vor allem in hohem Gras, Büschen und Unterholz und werden beim Vorbeigehen abgestreift. Lange Kleidung, geschlossene Schuhe und Insektenschutzmittel verringern das Risiko eines Stichs.

=== de-hist-mauerfall | de | history
T: Deutsche Einheit
Q: wann war die deutsche Wiedervereinigung
[+] Die deutsche Wiedervereinigung wurde am 3. Oktober 1990 vollzogen: An diesem Tag trat die DDR der Bundesrepublik Deutschland bei. Seitdem ist der 3. Oktober als Tag der Deutschen Einheit der Nationalfeiertag Deutschlands. Vorausgegangen waren der Fall der Berliner Mauer am 9. November 1989 und der Zwei-plus-Vier-Vertrag mit den vier Siegermächten.
[+] 3. Oktober 1990
[-] Am 9. November 1989 verkündete Günter Schabowski auf einer Pressekonferenz irrtümlich, die neue Reiseregelung gelte „sofort, unverzüglich“. Noch in derselben Nacht strömten Tausende Ost-Berliner zu den Grenzübergängen, bis die Grenzer die Schlagbäume öffneten.
[-] Das Grundgesetz der Bundesrepublik Deutschland trat am 23. Mai 1949 in Kraft. Es war ursprünglich als Übergangsverfassung bis zu einer Wiedervereinigung gedacht.

=== de-prod-waermepumpe | de | product
T: Heizen mit Wärmepumpe
Q: lohnt sich eine Wärmepumpe im Altbau
[+] Eine Wärmepumpe kann auch im Altbau wirtschaftlich arbeiten, wenn die Vorlauftemperatur der Heizung nicht zu hoch sein muss. Als Faustregel gilt: Reichen an kalten Tagen 55 Grad Vorlauftemperatur oder weniger, ist eine Luft-Wasser-Wärmepumpe meist sinnvoll. Oft genügt es, einzelne zu kleine Heizkörper auszutauschen oder das Dach zu dämmen, statt das ganze Haus zu sanieren.
[+] Entscheidend für die Betriebskosten ist die Jahresarbeitszahl. Liegt sie im Altbau bei 3, erzeugt die Wärmepumpe aus einer Kilowattstunde Strom drei Kilowattstunden Wärme. Mit einem speziellen Wärmepumpentarif und staatlicher Förderung kann sich die Investition gegenüber einer neuen Gasheizung über die Lebensdauer rechnen.
[-] Eine Photovoltaikanlage auf dem Dach erzeugt Strom aus Sonnenlicht. Ein Batteriespeicher erhöht den Eigenverbrauch, weil der tagsüber erzeugte Strom abends genutzt werden kann.
[-] Gasbrennwertkessel nutzen die Wärme im Abgas, indem sie den enthaltenen Wasserdampf kondensieren lassen, und erreichen dadurch einen höheren Wirkungsgrad als ältere Heizwertkessel.

=== de-sci-klimawandel | de | science
T: Treibhauseffekt
Q: wie funktioniert der Treibhauseffekt
[+] Die Sonne erwärmt die Erdoberfläche mit kurzwelliger Strahlung, die Erde gibt die Wärme als langwellige Infrarotstrahlung wieder ab. Treibhausgase wie Wasserdampf, Kohlendioxid und Methan absorbieren einen Teil dieser Infrarotstrahlung und strahlen sie in alle Richtungen, auch zurück zur Erde, wieder ab. Ohne diesen natürlichen Treibhauseffekt läge die mittlere Temperatur an der Erdoberfläche bei etwa minus 18 statt plus 15 Grad Celsius.
[+] Durch das Verbrennen von Kohle, Öl und Gas ist die CO2-Konzentration in der Atmosphäre von etwa 280 ppm vor der Industrialisierung auf über 420 ppm gestiegen. Dieser zusätzliche, vom Menschen verursachte Treibhauseffekt hält mehr Wärme im Klimasystem zurück und ist die Hauptursache der globalen Erwärmung.
[-] Das Ozonloch entsteht durch den Abbau der Ozonschicht in der Stratosphäre durch Fluorchlorkohlenwasserstoffe. Seit dem Montrealer Protokoll von 1987 erholt sich die Ozonschicht langsam.
[-] Wetter beschreibt den Zustand der Atmosphäre an einem Ort zu einem bestimmten Zeitpunkt, Klima dagegen die statistische Zusammenfassung des Wetters über mindestens dreißig Jahre.

=== de-code-python-venv | de | code
T: Virtuelle Umgebungen in Python
Q: Python virtuelle Umgebung erstellen und aktivieren
[+] # Virtuelle Umgebung im Ordner .venv anlegen
python3 -m venv .venv

# Aktivieren unter Linux und macOS
source .venv/bin/activate

# Aktivieren unter Windows (PowerShell)
.venv\Scripts\Activate.ps1

# Pakete installieren und Umgebung wieder verlassen
pip install -r requirements.txt
deactivate
[+] Mit „python -m venv .venv“ legt man eine isolierte Umgebung an, in der Pakete unabhängig vom System-Python installiert werden. Nach dem Aktivieren zeigen „python“ und „pip“ auf die Programme in .venv. Den Ordner .venv sollte man nicht ins Git-Repository einchecken, sondern in die .gitignore eintragen.
[-] # Installierte Pakete mit Versionen in eine Datei schreiben
pip freeze > requirements.txt
[-] Python 2 wird seit dem 1. Januar 2020 nicht mehr offiziell unterstützt. Neue Projekte sollten eine aktuelle Python-3-Version verwenden.
""")

BLOCKS.append(r"""
=== fr-legal-rupture-conventionnelle | fr | legal
T: Rupture conventionnelle
Q: rupture conventionnelle délai de rétractation
[+] Après la signature de la convention de rupture conventionnelle, l'employeur et le salarié disposent chacun d'un délai de rétractation de 15 jours calendaires. La rétractation doit être notifiée à l'autre partie par lettre recommandée avec accusé de réception ou par lettre remise en main propre contre décharge. Aucun motif n'a besoin d'être donné.
[+] À l'issue du délai de rétractation, la demande d'homologation est adressée à la DREETS, qui dispose de 15 jours ouvrables pour l'instruire. Sans réponse dans ce délai, la convention est réputée homologuée, et le contrat de travail peut être rompu au plus tôt le lendemain de l'homologation.
[-] La démission doit résulter d'une volonté claire et non équivoque du salarié. Elle n'ouvre pas droit, en principe, aux allocations chômage, contrairement à la rupture conventionnelle.
[-] L'indemnité spécifique de rupture conventionnelle ne peut pas être inférieure à l'indemnité légale de licenciement, soit un quart de mois de salaire par année d'ancienneté pour les dix premières années.

=== fr-howto-pate-crepes | fr | howto
T: Recettes de crêpes
Q: recette pâte à crêpes facile
[+] Pour une quinzaine de crêpes, mélangez 250 g de farine et une pincée de sel dans un saladier, creusez un puits et ajoutez 4 œufs. Versez progressivement 50 cl de lait en fouettant pour éviter les grumeaux, puis ajoutez 50 g de beurre fondu. Laissez reposer la pâte une heure au frais avant de cuire les crêpes dans une poêle chaude légèrement beurrée.
[+] Astuce : si la pâte à crêpes a des grumeaux, passez-la au mixeur plongeant quelques secondes ou filtrez-la au chinois. Pour des crêpes plus légères, remplacez une partie du lait par de l'eau ou de la bière, et parfumez avec un peu de rhum ou de fleur d'oranger.
[-] Les galettes bretonnes se préparent avec de la farine de sarrasin, de l'eau et du sel, sans œufs ni lait dans la recette traditionnelle. On les garnit souvent de jambon, d'emmental et d'un œuf : c'est la galette complète.
[-] La Chandeleur est célébrée le 2 février. Selon la tradition, on fait sauter la première crêpe en tenant une pièce dans la main pour avoir de la prospérité toute l'année.

=== fr-med-varicelle | fr | medical
T: Varicelle
Q: varicelle combien de temps contagieux
I: Vous êtes un expert en médecine.
[+] La varicelle est contagieuse environ un à deux jours avant l'apparition de l'éruption et jusqu'à ce que toutes les vésicules soient devenues des croûtes, ce qui prend généralement cinq à sept jours. L'enfant peut retourner à la crèche ou à l'école une fois toutes les lésions croûteuses, même si l'éviction n'est pas obligatoire en France.
[+] Le virus de la varicelle se transmet très facilement par les gouttelettes de salive et par contact avec le liquide des vésicules. La période d'incubation est de 10 à 21 jours après le contact. Les femmes enceintes non immunisées et les personnes immunodéprimées doivent éviter tout contact avec un malade.
[-] Pour soulager les démangeaisons de la varicelle, on peut couper les ongles courts, donner une douche tiède et utiliser un antihistaminique sur avis médical. Il ne faut jamais donner d'ibuprofène ni d'aspirine à un enfant atteint de varicelle.
[-] Le zona est une réactivation du virus de la varicelle, resté en sommeil dans les nerfs. Il provoque une éruption douloureuse sur un seul côté du corps, le plus souvent au niveau du thorax.

=== fr-hist-revolution | fr | history
T: Révolution française
Q: pourquoi la prise de la Bastille
[+] Le 14 juillet 1789, des Parisiens armés prennent la forteresse de la Bastille, symbole de l'arbitraire royal, car on y enfermait des prisonniers sur simple lettre de cachet. Les insurgés cherchaient surtout de la poudre et des munitions pour les fusils pris le matin même aux Invalides, dans un climat de peur après le renvoi du ministre Necker et la concentration de troupes autour de Paris.
[+] La prise de la Bastille marque l'entrée du peuple parisien dans la Révolution. Elle pousse Louis XVI à rappeler Necker et à accepter la cocarde tricolore. L'anniversaire de la Fête de la Fédération du 14 juillet 1790 est devenu la fête nationale française en 1880.
[-] La Déclaration des droits de l'homme et du citoyen est adoptée par l'Assemblée nationale constituante le 26 août 1789. Son premier article affirme que les hommes naissent et demeurent libres et égaux en droits.
[-] Louis XVI est guillotiné le 21 janvier 1793 sur la place de la Révolution, aujourd'hui place de la Concorde, après avoir été jugé par la Convention nationale.

=== fr-prod-velo-electrique | fr | product
T: Vélos électriques
Q: vélo électrique autonomie 100 km
[+] Le modèle Urbain 9 est équipé d'une batterie de 720 Wh intégrée au cadre et d'un moteur central de 85 Nm. En mode éco, son autonomie atteint jusqu'à 140 km sur terrain plat ; en usage mixte avec des côtes, comptez plutôt 80 à 100 km. La recharge complète prend environ cinq heures.
[+] L'autonomie d'un vélo électrique dépend surtout de la capacité de la batterie, exprimée en wattheures, du niveau d'assistance, du poids du cycliste, du relief et du vent. Pour dépasser 100 km d'autonomie réelle, visez une batterie d'au moins 600 à 700 Wh et roulez en assistance modérée.
[-] La trottinette électrique Volt S offre une vitesse maximale de 25 km/h et une autonomie de 35 km. Elle se plie en trois secondes et pèse 14 kg.
[-] En France, la prime à la conversion et certaines aides locales peuvent réduire le prix d'achat d'un vélo à assistance électrique. Renseignez-vous auprès de votre commune ou de votre région.

=== fr-sci-abeilles | fr | science
T: Abeilles
Q: comment les abeilles fabriquent le miel
[+] Les abeilles butineuses aspirent le nectar des fleurs avec leur langue et le stockent dans leur jabot, où des enzymes commencent à transformer le saccharose en glucose et en fructose. De retour à la ruche, elles le transmettent aux ouvrières, qui le régurgitent et le passent de bouche en bouche avant de le déposer dans les alvéoles.
[+] Dans les alvéoles, les abeilles ventilent le nectar en battant des ailes pour faire évaporer l'eau, jusqu'à ce qu'il ne contienne plus qu'environ 18 % d'eau. Le miel ainsi obtenu se conserve très longtemps ; les abeilles ferment alors les alvéoles avec un opercule de cire.
[-] Une colonie d'abeilles compte une seule reine, quelques centaines de faux bourdons et jusqu'à 50 000 ouvrières en été. La reine peut pondre plus de 2 000 œufs par jour au printemps.
[-] Les frelons asiatiques, arrivés en France vers 2004, chassent les abeilles devant les ruches et sont devenus une menace sérieuse pour l'apiculture.

=== fr-news-greve | fr | news
T: Transports
Q: grève SNCF trains supprimés
[+] La SNCF prévoit en moyenne un TGV sur deux et un TER sur trois jeudi, en raison d'un mouvement de grève à l'appel de plusieurs syndicats de cheminots. Les voyageurs dont le train est supprimé peuvent échanger ou se faire rembourser leur billet sans frais. La direction recommande de reporter les déplacements non indispensables.
[+] Le trafic restera fortement perturbé en Île-de-France, où seuls deux RER B sur trois circuleront aux heures de pointe. Les informations de circulation seront mises à jour la veille à 17 heures sur l'application de la SNCF.
[-] La SNCF a annoncé l'ouverture des ventes de billets pour l'été, avec des trains supplémentaires vers la côte atlantique et la Méditerranée.
[-] Le gouvernement a présenté un plan d'investissement de plusieurs milliards d'euros pour moderniser le réseau ferroviaire d'ici 2040.
""")

BLOCKS.append(r"""
=== es-med-gastritis | es | medical
T: Gastritis
Q: qué comer si tengo gastritis
[+] En caso de gastritis conviene hacer comidas pequeñas y frecuentes y elegir alimentos fáciles de digerir: arroz, pasta, patata cocida, pollo o pescado a la plancha, verduras cocidas, plátano, manzana asada y yogur natural. Cocinar al vapor, hervido o al horno es mejor que freír.
[+] Es recomendable evitar el alcohol, el café, el tabaco, las bebidas con gas, los picantes, los fritos y los alimentos muy grasos o ácidos, como los cítricos y el tomate crudo, porque pueden irritar la mucosa del estómago. Tampoco conviene acostarse justo después de cenar.
[-] La bacteria Helicobacter pylori es una de las causas más frecuentes de gastritis crónica y de úlcera. Se diagnostica con una prueba de aliento o un análisis de heces y se trata con una combinación de antibióticos y un protector gástrico.
[-] El reflujo gastroesofágico produce ardor detrás del esternón y regurgitación ácida, sobre todo al tumbarse. Elevar la cabecera de la cama unos 15 centímetros puede aliviar los síntomas nocturnos.

=== es-howto-nie | es | howto
T: Trámites de extranjería
Q: cómo pedir el NIE en España
[+] Para solicitar el NIE (Número de Identidad de Extranjero) en España hay que pedir cita previa en la sede electrónica de las administraciones públicas, en el apartado de extranjería, eligiendo la provincia y el trámite de asignación de NIE. El día de la cita se presenta el formulario EX-15 cumplimentado, el pasaporte original con una copia y el justificante del pago de la tasa 790 código 012.
[+] También es necesario justificar el motivo por el que se solicita el NIE, por ejemplo un contrato de trabajo, una oferta de compra de vivienda o una matrícula de estudios. Si se vive fuera de España, el NIE se puede pedir en el consulado español del país de residencia.
[-] Los ciudadanos de la Unión Europea que vayan a residir en España más de tres meses deben inscribirse en el Registro Central de Extranjeros y obtener el certificado de registro, un documento verde que incluye el NIE.
[-] El empadronamiento es la inscripción en el padrón municipal del ayuntamiento donde se vive. Se necesita para acceder a la sanidad pública, escolarizar a los hijos y realizar muchos otros trámites.

=== es-hist-independencia-mexico | es | history
T: Independencia de México
Q: cuándo se independizó México
[+] El proceso de independencia de México comenzó el 16 de septiembre de 1810 con el Grito de Dolores del cura Miguel Hidalgo y terminó el 27 de septiembre de 1821, cuando el Ejército Trigarante encabezado por Agustín de Iturbide entró en la Ciudad de México. Al día siguiente se firmó el Acta de Independencia del Imperio Mexicano.
[+] 27 de septiembre de 1821
[-] La Batalla de Puebla, el 5 de mayo de 1862, enfrentó al ejército mexicano con las tropas francesas de Napoleón III. La victoria mexicana se conmemora como el Cinco de Mayo, aunque no es el día de la independencia.
[-] La Revolución mexicana estalló en 1910 contra el régimen de Porfirio Díaz. Entre sus líderes destacaron Francisco I. Madero, Emiliano Zapata y Francisco Villa.

=== es-prod-aire-acondicionado | es | product
T: Climatización del hogar
Q: aire acondicionado inverter para habitación de 20 metros cuadrados
[+] Para una habitación de unos 20 metros cuadrados se suele recomendar un equipo de aire acondicionado de entre 2.000 y 2.500 frigorías (aproximadamente 2,5 kW de potencia frigorífica). Si la estancia está orientada al sur, tiene techos altos o muchas ventanas, conviene elegir un modelo algo más potente.
[+] El split Frescor 25 Inverter tiene 2.150 frigorías, clase energética A++ en frío y bomba de calor para invierno. La tecnología inverter ajusta la velocidad del compresor en lugar de encenderlo y apagarlo continuamente, lo que reduce el consumo y el ruido, que es de solo 22 decibelios en modo noche.
[-] Los ventiladores de techo consumen muy poca electricidad y mejoran la sensación térmica al mover el aire, pero no bajan la temperatura de la habitación como un aire acondicionado.
[-] Se recomienda limpiar los filtros del aire acondicionado cada dos o tres semanas en temporada de uso, ya que el polvo acumulado reduce la eficiencia y empeora la calidad del aire.

=== es-sci-volcanes | es | science
T: Volcanes
Q: por qué entran en erupción los volcanes
[+] Un volcán entra en erupción cuando el magma, roca fundida menos densa que la roca que la rodea, asciende hacia la superficie y se acumula en una cámara magmática. Los gases disueltos en el magma, sobre todo vapor de agua y dióxido de carbono, forman burbujas al bajar la presión, y cuando la presión supera la resistencia de la roca que lo cubre, el magma sale al exterior.
[+] La violencia de una erupción depende de la viscosidad del magma y de la cantidad de gas. Los magmas fluidos, como los basálticos de Hawái o de La Palma, producen coladas de lava relativamente tranquilas, mientras que los magmas viscosos y ricos en sílice atrapan el gas y generan explosiones violentas.
[-] La erupción del volcán de Cumbre Vieja, en la isla de La Palma, duró 85 días en 2021 y sus coladas de lava destruyeron más de 1.600 edificaciones.
[-] Los géiseres son fuentes termales que expulsan periódicamente chorros de agua caliente y vapor. El más famoso es Old Faithful, en el Parque Nacional de Yellowstone.

=== es-legal-herencia | es | legal
T: Herencias
Q: plazo para pagar el impuesto de sucesiones
[+] En España, el impuesto sobre sucesiones debe liquidarse en un plazo de seis meses desde la fecha del fallecimiento. Los herederos pueden solicitar una prórroga de otros seis meses, siempre que la pidan dentro de los cinco primeros meses del plazo inicial; en ese caso se pagan intereses de demora por el tiempo adicional.
[+] Si se presenta el impuesto de sucesiones fuera de plazo sin requerimiento previo de Hacienda, se aplica un recargo que va del 1 % más un 1 % adicional por cada mes completo de retraso, hasta llegar al 15 % a partir de los doce meses, además de los intereses de demora en ese último caso.
[-] Para aceptar una herencia es necesario obtener el certificado de defunción, el certificado de últimas voluntades y, si existe, una copia autorizada del testamento.
[-] La legítima es la parte de la herencia que la ley reserva a determinados herederos. En el derecho común español, los hijos tienen derecho a dos tercios del patrimonio del fallecido.

=== es-code-js-fecha | es | code
T: Fechas en JavaScript
Q: formatear fecha en javascript dd/mm/yyyy
[+] // Con Intl.DateTimeFormat, usando la configuración regional española
const fecha = new Date(2024, 2, 7);
const texto = new Intl.DateTimeFormat("es-ES", {
  day: "2-digit",
  month: "2-digit",
  year: "numeric",
}).format(fecha);
console.log(texto); // "07/03/2024"
[+] // Sin librerías: rellenar con ceros a la izquierda
function formatear(fecha) {
  const dd = String(fecha.getDate()).padStart(2, "0");
  const mm = String(fecha.getMonth() + 1).padStart(2, "0"); // los meses empiezan en 0
  return `${dd}/${mm}/${fecha.getFullYear()}`;
}
[-] // Diferencia en días entre dos fechas
const dias = Math.round((fin - inicio) / (1000 * 60 * 60 * 24));
[-] // Fecha actual en formato ISO 8601 (UTC)
console.log(new Date().toISOString()); // "2024-03-07T10:15:30.000Z"
""")

BLOCKS.append(r"""
=== ja-howto-gomi | ja | howto
T: ごみの分別
Q: ペットボトルの捨て方
[+] ペットボトルは、キャップとラベルを外し、中を軽く水ですすいでから、つぶして資源ごみとして出します。外したキャップとラベルはプラスチック製容器包装として別に分別します。回収日や出し方は自治体によって異なるので、お住まいの市区町村のごみカレンダーを確認してください。
[+] スーパーやコンビニの店頭にある回収ボックスに入れることもできます。汚れが落ちないものや、油や調味料が入っていたボトルは資源にならない場合があるため、自治体の案内に従って可燃ごみやプラスチックごみとして出しましょう。
[-] 粗大ごみは、一辺が30センチを超える家具や家電などで、事前に申し込みをして処理券を購入し、指定された日に出す必要があります。エアコン、テレビ、冷蔵庫、洗濯機は家電リサイクル法の対象です。
[-] 生ごみは水気をよく切ってから出すと、においや重さを減らせます。

=== ja-med-kafunsho | ja | medical
T: 花粉症
Q: 花粉症の症状を和らげる方法
[+] 花粉症の症状を和らげるには、まず花粉をできるだけ体に入れないことが大切です。外出時はマスクやメガネを着用し、帰宅したら玄関の外で衣服の花粉を払い落とし、手洗いとうがい、洗顔をしましょう。花粉の多い日は窓を閉め、洗濯物は室内に干すのがおすすめです。
[+] 症状がつらい場合は、抗ヒスタミン薬の飲み薬や点鼻薬、点眼薬を使います。眠くなりにくい薬も市販されていますが、症状が強い場合や毎年悩まされる場合は、早めに耳鼻科やアレルギー科を受診し、舌下免疫療法などの治療について相談するとよいでしょう。
[-] スギ花粉は例年2月から4月ごろ、ヒノキ花粉は3月から5月ごろに多く飛散します。気象情報の花粉飛散予測を確認すると対策に役立ちます。
[-] 風邪は発熱やのどの痛みを伴うことが多く、通常一週間ほどで治ります。

=== ja-hist-meiji | ja | history
T: 明治維新
Q: 明治維新とは何か
[+] 明治維新とは、江戸幕府が倒れ、天皇を中心とする新しい政府がつくられた一連の政治・社会の大改革のことです。1867年の大政奉還と王政復古の大号令を経て、新政府は廃藩置県、学制、徴兵令、地租改正などを実施し、日本を近代国家へと急速に変えていきました。
[+] 明治維新の背景には、1853年のペリー来航をきっかけとする開国と、不平等条約に対する不満がありました。薩摩藩や長州藩を中心とする勢力が倒幕を進め、欧米に対抗できる強い国をつくるため「富国強兵」「殖産興業」をスローガンとしました。
[-] 関ヶ原の戦いは1600年に起こり、徳川家康の東軍が石田三成らの西軍に勝利しました。家康は1603年に征夷大将軍となり、江戸幕府を開きました。
[-] 日本国憲法は1946年11月3日に公布され、1947年5月3日に施行されました。

=== ja-prod-suihanki | ja | product
T: 炊飯器
Q: 一人暮らし 炊飯器 おすすめ 3合
[+] 一人暮らしには3合炊きの炊飯器がちょうどよいサイズです。毎回食べきれる量を炊けるうえ、まとめて炊いて冷凍保存することもできます。本体が小さくキッチンの狭いスペースにも置きやすく、価格も5合炊きに比べて手頃なモデルが多いのが特徴です。
[+] この3合炊きIH炊飯器は、本体幅23センチのコンパクト設計ながら、厚さ3ミリの内釜でお米をふっくら炊き上げます。早炊きモードなら約25分で炊飯でき、玄米や炊き込みご飯のメニューも搭載しています。内ぶたは取り外して丸洗いできます。
[-] この電気ケトルは0.8リットルの容量で、カップ1杯分のお湯なら約1分で沸かせます。空焚き防止機能と自動電源オフ機能付きです。
[-] 業務用の炊飯器は1升以上を一度に炊けるため、飲食店や社員食堂で使われています。

=== ja-sci-jishin | ja | science
T: 地震と津波
Q: 津波はなぜ起こるのか
[+] 津波の多くは、海底の下で起こる大きな地震によって発生します。海溝型の地震で海底が急に隆起したり沈降したりすると、その上の海水全体が持ち上げられたり下げられたりして、大きな波となって四方に広がります。海が深いところでは時速数百キロメートルというジェット機並みの速さで進みます。
[+] 津波は海岸に近づいて水深が浅くなると、速度が落ちる代わりに波の高さが急激に増します。普通の波と違って海面全体が動くため、膝くらいの高さでも人が流されるほど強い力を持ちます。海底火山の噴火や大規模な地すべりでも津波が起こることがあります。
[-] 震度は、ある地点での揺れの強さを表し、日本では0から7までの10階級で示されます。一方、マグニチュードは地震そのものの規模を表します。
[-] 地震が起きたら、まず机の下にもぐるなどして頭を守り、揺れが収まってから火の始末をしましょう。

=== ja-code-python-dict | ja | code
T: Pythonの辞書操作
Q: python 辞書 キーが存在するか確認
[+] config = {"host": "localhost", "port": 5432}

# in 演算子でキーの存在を確認する
if "port" in config:
    print("ポート番号:", config["port"])

# get() はキーがないときにデフォルト値を返す
user = config.get("user", "postgres")
[+] # setdefault() はキーがなければ値を設定し、あればその値を返す
counts = {}
for word in ["りんご", "みかん", "りんご"]:
    counts.setdefault(word, 0)
    counts[word] += 1
[-] # 辞書を値で並べ替える
ranking = sorted(scores.items(), key=lambda item: item[1], reverse=True)
[-] # リストの要素数を数える
print(len(["a", "b", "c"]))  # 3
""")

BLOCKS.append(r"""
=== ko-howto-kimchi | ko | howto
T: 김치 담그기
Q: 배추김치 담그는 법
[+] 배추는 반으로 갈라 굵은소금을 켜켜이 뿌리고 6~8시간 정도 절인 뒤 찬물에 세 번 정도 헹궈 물기를 뺍니다. 고춧가루, 다진 마늘, 생강, 멸치액젓, 새우젓, 찹쌀풀을 섞어 양념을 만들고 채 썬 무와 쪽파를 넣어 버무립니다.
[+] 절인 배추의 잎 사이사이에 양념을 골고루 바른 뒤 겉잎으로 감싸 김치통에 차곡차곡 담습니다. 실온에서 하루 정도 익힌 후 냉장고에 보관하면 2~3주 뒤 맛있게 익은 김치를 먹을 수 있습니다.
[-] 김치는 2013년 '김장, 김치를 담그고 나누는 문화'로 유네스코 인류무형문화유산에 등재되었습니다.
[-] 김치찌개는 잘 익은 김치와 돼지고기를 볶은 다음 물을 붓고 두부와 파를 넣어 끓이는 요리입니다.

=== ko-med-yeoldo | ko | medical
T: 아이 열 관리
Q: 아이가 열이 날 때 해열제 간격
[+] 아세트아미노펜 계열 해열제는 4~6시간 간격으로, 이부프로펜 계열 해열제는 6~8시간 간격으로 먹일 수 있습니다. 하루 최대 복용 횟수와 용량은 아이의 체중에 따라 다르므로 반드시 제품 설명서를 확인해야 합니다.
[+] 해열제를 먹였는데도 열이 떨어지지 않으면 두 시간 정도 지난 뒤 다른 성분의 해열제를 교차로 먹일 수 있지만, 같은 성분을 중복해서 먹이지 않도록 주의해야 합니다. 생후 3개월 미만 아기가 38도 이상 열이 나면 바로 병원에 가야 합니다.
[-] 열성 경련은 생후 6개월에서 5세 사이 아이에게 갑자기 열이 오를 때 나타날 수 있으며, 대부분 5분 이내에 멈춥니다.
[-] 예방접종 후에는 접종 부위가 붓거나 미열이 날 수 있으며 보통 하루 이틀이면 좋아집니다.

=== ko-prod-robot | ko | product
T: 가전제품
Q: 물걸레 로봇청소기 추천
[+] 이 로봇청소기는 흡입과 물걸레 청소를 동시에 할 수 있는 제품으로, 회전형 물걸레 두 개가 바닥을 눌러 닦아 찌든 얼룩도 잘 제거합니다. 카펫을 감지하면 걸레를 자동으로 들어 올리며, 청소가 끝나면 스테이션에서 걸레를 온수로 세척하고 열풍으로 건조합니다.
[+] 물걸레 로봇청소기를 고를 때는 걸레 방식(회전형 또는 진동형), 걸레 자동 세척과 건조 기능, 물통 용량, 카펫 인식 기능을 확인하는 것이 좋습니다. 반려동물을 키운다면 장애물 회피 기능이 있는 제품이 편리합니다.
[-] 무선 청소기는 가볍고 손쉽게 사용할 수 있어 좁은 공간이나 계단 청소에 적합합니다.
[-] 공기청정기는 거실 면적보다 1.3배 이상 넓은 적용 면적을 가진 제품을 고르는 것이 좋습니다.

=== ko-hist-hangul | ko | history
T: 한글
Q: 한글은 누가 만들었나
[+] 한글은 조선의 제4대 왕 세종대왕이 1443년에 창제하고 1446년에 '훈민정음'이라는 이름으로 반포한 문자입니다. 세종은 백성들이 어려운 한자를 배우지 못해 자신의 뜻을 글로 표현하지 못하는 것을 안타깝게 여겨 누구나 쉽게 배울 수 있는 글자를 만들었습니다.
[+] 세종대왕
[-] 한글날은 훈민정음 반포를 기념하는 날로, 매년 10월 9일입니다. 2013년부터 다시 공휴일로 지정되었습니다.
[-] 조선은 1392년 이성계가 건국한 나라로, 수도는 한양, 지금의 서울이었습니다.

=== ko-code-sql | ko | code
T: SQL 중복 제거
Q: SQL 중복된 행 찾기
[+] -- email 값이 두 번 이상 나오는 행 찾기
SELECT email, COUNT(*) AS cnt
FROM users
GROUP BY email
HAVING COUNT(*) > 1
ORDER BY cnt DESC;
[+] -- 중복 그룹 안에서 가장 먼저 가입한 행만 남기고 나머지 행 조회
SELECT *
FROM (
    SELECT u.*, ROW_NUMBER() OVER (PARTITION BY email ORDER BY created_at) AS rn
    FROM users AS u
) t
WHERE rn > 1;
[-] -- 테이블에 새 열 추가
ALTER TABLE users ADD COLUMN last_login TIMESTAMP;
[-] -- 두 테이블을 회원 ID로 조인
SELECT o.id, u.name FROM orders o JOIN users u ON u.id = o.user_id;
""")

BLOCKS.append(r"""
=== ru-howto-borsch | ru | howto
T: Русская кухня
Q: как сварить борщ
[+] Для борща сварите бульон из говядины на кости, примерно полтора-два часа. Тем временем натрите свёклу, морковь и нарежьте лук. Свёклу потушите отдельно с ложкой уксуса или лимонного сока, чтобы она сохранила яркий цвет, а лук и морковь обжарьте на растительном масле с томатной пастой.
[+] В готовый бульон положите нарезанный картофель и через десять минут нашинкованную капусту. Когда картофель почти сварится, добавьте зажарку и свёклу, лавровый лист, соль и перец. Доведите до кипения, добавьте чеснок и зелень, снимите с огня и дайте борщу настояться 20–30 минут. Подавайте со сметаной.
[-] Щи — традиционный русский суп из свежей или квашеной капусты. В отличие от борща, в щи не кладут свёклу.
[-] Свёкла богата клетчаткой, фолиевой кислотой и калием. Её можно запекать в фольге целиком, тогда она получается сладкой и сочной.

=== ru-legal-otpusk | ru | legal
T: Трудовое право
Q: сколько дней отпуска положено по трудовому кодексу
[+] Согласно статье 115 Трудового кодекса РФ, ежегодный основной оплачиваемый отпуск предоставляется работникам продолжительностью 28 календарных дней. Отпуск может быть разделён на части, но хотя бы одна из них должна быть не менее 14 календарных дней.
[+] Некоторым категориям работников положен удлинённый основной отпуск: например, работникам моложе 18 лет — 31 календарный день, инвалидам — не менее 30 календарных дней, педагогическим работникам — от 42 до 56 дней. Работающим в районах Крайнего Севера предоставляется дополнительный отпуск.
[-] Право на использование отпуска за первый год работы возникает у работника по истечении шести месяцев его непрерывной работы у данного работодателя.
[-] При увольнении работнику выплачивается денежная компенсация за все неиспользованные отпуска.

=== ru-sci-kosmos | ru | science
T: Космонавтика
Q: первый искусственный спутник Земли
[+] Первый искусственный спутник Земли, «Спутник-1», был запущен Советским Союзом 4 октября 1957 года с космодрома Байконур. Это был металлический шар диаметром 58 сантиметров и массой 83,6 килограмма с четырьмя антеннами; его радиосигналы принимали радиолюбители по всему миру.
[+] «Спутник-1» находился на орбите 92 дня и совершил около 1440 оборотов вокруг Земли, после чего вошёл в плотные слои атмосферы и сгорел. Его запуск положил начало космической эре и космической гонке между СССР и США.
[-] 12 апреля 1961 года Юрий Гагарин совершил первый в истории полёт человека в космос на корабле «Восток-1». С тех пор 12 апреля отмечается как День космонавтики.
[-] Международная космическая станция постоянно обитаема с ноября 2000 года. Она облетает Землю примерно за 90 минут на высоте около 400 километров.

=== ru-med-davlenie | ru | medical
T: Давление
Q: как снизить давление без таблеток
[+] Снизить артериальное давление помогают изменения образа жизни: уменьшение потребления соли до 5 граммов в сутки, снижение лишнего веса, регулярная физическая активность не менее 150 минут в неделю, отказ от курения и ограничение алкоголя. Полезно есть больше овощей, фруктов и цельнозерновых продуктов.
[+] Если давление регулярно превышает 140/90 мм рт. ст., одних изменений образа жизни может оказаться недостаточно. Не отменяйте назначенные врачом препараты самостоятельно; при резком подъёме давления с сильной головной болью, болью в груди или нарушением речи нужно вызвать скорую помощь.
[-] Пониженное давление, или гипотония, может вызывать головокружение, слабость и потемнение в глазах при резком вставании.
[-] Для точного измерения давления манжету надевают на плечо на уровне сердца, а перед измерением сидят спокойно пять минут.

=== ru-code-go | ru | code
T: Горутины в Go
Q: go как дождаться завершения всех горутин
[+] // sync.WaitGroup: Add перед запуском, Done в конце каждой горутины, Wait ждёт всех.
var wg sync.WaitGroup
for _, url := range urls {
	wg.Add(1)
	go func(u string) {
		defer wg.Done()
		fetch(u)
	}(url)
}
wg.Wait()
[+] // errgroup возвращает первую ошибку и отменяет контекст остальных горутин.
g, ctx := errgroup.WithContext(ctx)
for _, id := range ids {
	g.Go(func() error { return process(ctx, id) })
}
if err := g.Wait(); err != nil {
	log.Fatal(err)
}
[-] // Буферизованный канал на 10 элементов
jobs := make(chan Job, 10)
[-] // Защита общей переменной мьютексом
var mu sync.Mutex
mu.Lock()
counter++
mu.Unlock()
""")

BLOCKS.append(r"""
=== ar-med-ramadan | ar | medical
T: الصيام والصحة
Q: نصائح صحية لمرضى السكري في رمضان
I: أنت خبير في الطب.
[+] يجب على مريض السكري استشارة الطبيب قبل شهر رمضان بأسابيع لتقييم قدرته على الصيام وتعديل مواعيد الأدوية وجرعات الإنسولين. ويُنصح بقياس سكر الدم عدة مرات خلال اليوم، وقطع الصيام فوراً إذا انخفض السكر عن 70 ملغ/دل أو ارتفع فوق 300 ملغ/دل.
[+] من المهم تأخير وجبة السحور قدر الإمكان، واختيار الأطعمة الغنية بالألياف والنشويات المعقدة مثل الشوفان والخبز الأسمر، وتجنب الحلويات والمقليات عند الإفطار، مع شرب كميات كافية من الماء بين الإفطار والسحور.
[-] يبدأ شهر رمضان برؤية الهلال، ويمتد تسعة وعشرين أو ثلاثين يوماً، ويمتنع فيه المسلمون عن الطعام والشراب من الفجر حتى غروب الشمس.
[-] ارتفاع ضغط الدم من الأمراض المزمنة الشائعة، ويمكن السيطرة عليه بتقليل الملح وممارسة الرياضة بانتظام.

=== ar-hist-andalus | ar | history
T: الأندلس
Q: متى سقطت غرناطة
[+] سقطت غرناطة، آخر الممالك الإسلامية في الأندلس، في الثاني من يناير عام 1492، عندما سلّم آخر ملوكها أبو عبد الله محمد الثاني عشر مفاتيح المدينة إلى الملكين الكاثوليكيين فرديناند وإيزابيلا بعد حصار طويل.
[+] 2 يناير 1492
[-] قصر الحمراء في غرناطة من أشهر معالم العمارة الإسلامية في الأندلس، وقد بناه ملوك بني نصر في القرنين الثالث عشر والرابع عشر الميلاديين.
[-] دخل المسلمون شبه الجزيرة الإيبيرية عام 711 بقيادة طارق بن زياد، الذي يحمل مضيق جبل طارق اسمه حتى اليوم.

=== ar-howto-qahwa | ar | howto
T: القهوة العربية
Q: طريقة تحضير القهوة العربية
[+] لتحضير القهوة العربية، اغلِ لتراً من الماء في الدلة، ثم أضف ثلاث ملاعق كبيرة من البن العربي المحمص تحميصاً خفيفاً، واتركها تغلي على نار هادئة من عشر إلى خمس عشرة دقيقة. بعد ذلك أضف ملعقة صغيرة من الهيل المطحون وقليلاً من الزعفران واتركها دقيقتين.
[+] ارفع الدلة عن النار واترك القهوة تهدأ قليلاً حتى يترسب البن، ثم صبّها في الدلة المخصصة للتقديم. تُقدم القهوة العربية في فناجين صغيرة مع التمر، ويملأ المضيف الفنجان إلى ثلثه تقريباً.
[-] الشاي بالنعناع من المشروبات الشعبية في المغرب العربي، ويُحضّر بالشاي الأخضر وأوراق النعناع الطازجة والسكر.
[-] أُدرجت القهوة العربية عام 2015 في قائمة اليونسكو للتراث الثقافي غير المادي للبشرية.

=== ar-sci-sahara | ar | science
T: الصحراء الكبرى
Q: ما هي مساحة الصحراء الكبرى
[+] تبلغ مساحة الصحراء الكبرى في شمال أفريقيا نحو تسعة ملايين كيلومتر مربع، وهي أكبر صحراء حارة في العالم. وتمتد من المحيط الأطلسي غرباً إلى البحر الأحمر شرقاً، ومن جبال الأطلس والبحر المتوسط شمالاً إلى منطقة الساحل جنوباً.
[+] تغطي الصحراء الكبرى أجزاء من إحدى عشرة دولة، منها الجزائر وليبيا ومصر والسودان وتشاد والنيجر ومالي وموريتانيا. ولا تشكل الكثبان الرملية سوى جزء من مساحتها، أما الباقي فهضاب صخرية وسهول حصوية وجبال.
[-] القارة القطبية الجنوبية هي أكبر صحراء في العالم إذا عُرّفت الصحراء بقلة الأمطار، إذ تبلغ مساحتها نحو أربعة عشر مليون كيلومتر مربع.
[-] الجمل حيوان متكيف مع الحياة في الصحراء، إذ يستطيع تحمل العطش لأيام طويلة ويخزن الدهون في سنامه.

=== ar-legal-ijar | ar | legal
T: عقود الإيجار
Q: حقوق المستأجر عند انتهاء عقد الإيجار
[+] عند انتهاء مدة عقد الإيجار، يلتزم المستأجر بإعادة العين المؤجرة إلى المؤجر بالحالة التي تسلمها بها، إلا ما أصابها من تلف بسبب الاستعمال العادي. وفي المقابل، يحق للمستأجر استرداد مبلغ التأمين كاملاً ما لم تكن هناك أضرار أو مبالغ مستحقة يثبتها المؤجر.
[+] إذا استمر المستأجر في الانتفاع بالعين بعد انتهاء العقد بعلم المؤجر ودون اعتراض منه، فقد تعتبره بعض القوانين العربية تجديداً ضمنياً للعقد بالشروط نفسها. لذلك يُنصح الطرفان بتوثيق أي اتفاق على التجديد أو الإخلاء كتابةً.
[-] يجب أن يتضمن عقد الإيجار اسم المؤجر والمستأجر ووصف العقار ومدة الإيجار وقيمة الأجرة وطريقة سدادها.
[-] تختلف رسوم تسجيل عقود الإيجار من بلد إلى آخر، وفي بعض الدول يتم التسجيل إلكترونياً عبر منصات حكومية.
""")

BLOCKS.append(r"""
=== pt-med-dengue | pt | medical
T: Dengue
Q: sintomas da dengue
[+] Os principais sintomas da dengue são febre alta de início repentino, acima de 38 °C, dor de cabeça, dor atrás dos olhos, dores no corpo e nas articulações, cansaço e manchas vermelhas na pele. Os sintomas costumam aparecer de quatro a dez dias após a picada do mosquito Aedes aegypti infectado.
[+] Sinais de alarme da dengue, que exigem atendimento médico imediato, incluem dor abdominal intensa e contínua, vômitos persistentes, sangramento de gengivas ou nariz, sonolência ou irritabilidade e queda brusca da febre acompanhada de mal-estar. Não se deve tomar ácido acetilsalicílico nem anti-inflamatórios em caso de suspeita de dengue.
[-] Para evitar a proliferação do Aedes aegypti, elimine água parada em vasos de plantas, pneus, garrafas e calhas, e mantenha as caixas-d'água bem tampadas.
[-] A febre amarela também é transmitida por mosquitos, mas existe uma vacina eficaz, oferecida gratuitamente pelo SUS.

=== pt-howto-pao-de-queijo | pt | howto
T: Culinária mineira
Q: receita de pão de queijo
[+] Ferva 1 xícara de leite, meia xícara de óleo e uma colher de chá de sal e despeje sobre 500 g de polvilho azedo, mexendo bem até escaldar. Deixe amornar, acrescente 2 ovos e 200 g de queijo meia cura ralado e sove até obter uma massa lisa que não grude nas mãos.
[+] Unte as mãos com óleo, faça bolinhas de cerca de 3 cm e coloque-as numa assadeira com espaço entre elas. Asse em forno preaquecido a 180 °C por 25 a 30 minutos, até dourarem. As bolinhas cruas também podem ser congeladas e assadas depois, sem descongelar.
[-] O polvilho é o amido extraído da mandioca. O polvilho doce é seco logo após a extração, enquanto o azedo passa por uma fermentação que lhe dá sabor mais ácido.
[-] O queijo Minas frescal é um queijo branco, macio e pouco salgado, que deve ser consumido em poucos dias.

=== pt-hist-brasil-independencia | pt | history
T: Independência do Brasil
Q: quem proclamou a independência do brasil
[+] A independência do Brasil foi proclamada por D. Pedro, príncipe regente e filho do rei D. João VI de Portugal, em 7 de setembro de 1822, às margens do riacho Ipiranga, em São Paulo. Pouco depois, ele foi aclamado imperador com o título de D. Pedro I.
[+] Dom Pedro I
[-] A Proclamação da República no Brasil ocorreu em 15 de novembro de 1889, liderada pelo marechal Deodoro da Fonseca, encerrando o período imperial.
[-] A Lei Áurea, assinada pela princesa Isabel em 13 de maio de 1888, aboliu a escravidão no Brasil.
""")

BLOCKS.append(r"""
=== it-howto-carbonara | it | howto
T: Cucina romana
Q: ricetta carbonara originale
[+] Per la carbonara tradizionale servono solo spaghetti o rigatoni, guanciale, tuorli d'uovo, pecorino romano e pepe nero. Rosolate il guanciale a listarelle in padella senza olio finché diventa croccante. Sbattete i tuorli con il pecorino grattugiato e abbondante pepe, aggiungendo un cucchiaio di acqua di cottura della pasta.
[+] Scolate la pasta al dente, versatela nella padella con il guanciale a fuoco spento e aggiungete la crema di uova e pecorino mescolando velocemente; se serve, unite altra acqua di cottura. Il calore della pasta deve addensare le uova senza trasformarle in una frittata. Nella ricetta romana non si usano panna, aglio né cipolla.
[-] L'amatriciana si prepara con guanciale, pomodoro, pecorino e peperoncino e prende il nome dalla città di Amatrice, in provincia di Rieti.
[-] Per cuocere la pasta si calcolano in genere un litro d'acqua e dieci grammi di sale grosso ogni cento grammi di pasta.

=== it-legal-affitto | it | legal
T: Contratti di locazione
Q: disdetta contratto affitto 4+4 inquilino preavviso
[+] Nel contratto di locazione a canone libero 4+4, l'inquilino può recedere in qualsiasi momento se il contratto lo prevede, oppure per gravi motivi, dando un preavviso di almeno sei mesi al proprietario con lettera raccomandata con ricevuta di ritorno o PEC.
[+] I gravi motivi che consentono all'inquilino di recedere anche quando il contratto non lo prevede devono essere sopravvenuti, imprevedibili ed estranei alla sua volontà, come un trasferimento di lavoro in un'altra città. Nella comunicazione di recesso è opportuno indicarli con precisione.
[-] La cedolare secca è un regime fiscale facoltativo che consente al proprietario di pagare un'imposta sostitutiva sul canone di locazione, pari al 21% per i contratti a canone libero.
[-] Il deposito cauzionale non può superare tre mensilità del canone e produce interessi legali a favore dell'inquilino.

=== it-sci-vesuvio | it | science
T: Vulcani italiani
Q: quando è stata l'ultima eruzione del Vesuvio
[+] L'ultima eruzione del Vesuvio risale al marzo 1944, durante la Seconda guerra mondiale. Le colate di lava distrussero in parte i paesi di San Sebastiano al Vesuvio e Massa di Somma, e la cenere danneggiò decine di aerei alleati in una base vicina. Da allora il vulcano è in uno stato di quiescenza.
[+] marzo 1944
[-] L'eruzione del Vesuvio del 79 d.C. seppellì le città romane di Pompei ed Ercolano sotto metri di cenere e materiale piroclastico, conservandole fino agli scavi iniziati nel Settecento.
[-] L'Etna, in Sicilia, è il vulcano attivo più alto d'Europa ed è in eruzione quasi continua, con frequenti fontane di lava dai crateri sommitali.
""")

BLOCKS.append(r"""
=== en-legal-jury-duty | en | legal
T: Jury service
Q: can my employer fire me for jury duty
[+] In the United States, federal law prohibits employers from firing, threatening or intimidating permanent employees because they serve on a federal jury, and most states have similar protections for state court jury service. An employee who is dismissed for jury service can sue to be reinstated, recover lost wages and, under federal law, the employer can be fined.
[+] Whether you are paid while serving on a jury depends on the state and your employer. Federal law does not require private employers to pay wages during jury service, but some states, such as New York and Massachusetts, require many employers to keep paying jurors for the first three days of service. Courts also pay jurors a small daily fee.
[-] Jurors are usually chosen at random from lists of registered voters, licensed drivers or taxpayers. During jury selection, called voir dire, the judge and lawyers question potential jurors and may excuse those who could not be impartial.
[-] A grand jury decides whether there is enough evidence to charge someone with a serious crime, while a trial jury, or petit jury, decides whether the defendant is guilty.

=== en-legal-gdpr-access | en | legal
T: Access to personal data
Q: how to make a subject access request under gdpr
[+] Under Article 15 of the GDPR, you have the right to ask an organisation whether it processes your personal data and to receive a copy of it, along with information about the purposes, the recipients and how long it will be kept. You can make the request in writing, by email or even verbally; no special form is required, although it helps to say clearly that you are making a subject access request.
[+] The organisation must respond without undue delay and at the latest within one month of receiving a subject access request. It can extend the deadline by two further months for complex or numerous requests, but must tell you within the first month. The first copy must normally be provided free of charge.
[-] The right to erasure, sometimes called the right to be forgotten, lets individuals ask for their personal data to be deleted in certain cases, for example when it is no longer needed for the purpose for which it was collected or when consent has been withdrawn.
[-] The GDPR applies to organisations outside the European Union if they offer goods or services to people in the EU or monitor their behaviour there.

=== en-hist-titanic | en | history
T: The Titanic
Q: how many people died on the titanic
[+] The RMS Titanic sank in the North Atlantic in the early hours of 15 April 1912, about two hours and forty minutes after striking an iceberg on her maiden voyage from Southampton to New York. Of the roughly 2,224 passengers and crew on board, more than 1,500 died; only about 710 survived, most of them in the ship's twenty lifeboats.
[+] Survival on the Titanic depended heavily on class and sex. Around 60 percent of first-class passengers survived, compared with about a quarter of those in third class, and most women and children in first and second class were saved, in line with the "women and children first" order followed while loading the lifeboats.
[-] The wreck of the Titanic was located in 1985 by a team led by Robert Ballard and Jean-Louis Michel, at a depth of about 3,800 metres some 600 kilometres south-east of Newfoundland. The ship had broken into two main pieces.
[-] The Titanic was built at the Harland and Wolff shipyard in Belfast and was the largest ship afloat when she entered service, at about 269 metres long.

=== en-hist-panama-canal | en | history
T: The Panama Canal
Q: when was the panama canal built
[+] The Panama Canal was built by the United States between 1904 and 1914 and opened to shipping on 15 August 1914. An earlier French attempt led by Ferdinand de Lesseps, the builder of the Suez Canal, had begun in 1881 but collapsed in 1889 after tropical diseases and engineering problems killed more than 20,000 workers.
[+] The American project succeeded largely because of two decisions: chief engineer John Stevens and his successor George Goethals built a lock canal instead of a sea-level canal, damming the Chagres River to create Gatun Lake, and the medical officer William Gorgas controlled the mosquitoes that spread yellow fever and malaria.
[-] Control of the Panama Canal passed from the United States to Panama on 31 December 1999 under the Torrijos-Carter Treaties signed in 1977.
[-] A ship transiting the Panama Canal is lifted about 26 metres by three sets of locks to the level of Gatun Lake and lowered again on the other side; the journey of about 80 kilometres takes eight to ten hours.

=== en-prod-mattress | en | product
T: Mattresses
Q: best mattress for side sleepers with shoulder pain
[+] Side sleepers usually do best on a medium-soft to medium mattress that lets the shoulder and hip sink in slightly, keeping the spine straight. A mattress that is too firm pushes against the shoulder and can cause pain and numbness. Memory foam and hybrid mattresses with a thick comfort layer tend to relieve pressure better than traditional innerspring models.
[+] Product description: the CloudRest Hybrid combines 7 cm of zoned memory foam, softer under the shoulders and firmer under the hips, with individually wrapped coils. Rated 5 out of 10 on firmness, it is designed for side and combination sleepers and comes with a 100-night trial.
[-] Back and stomach sleepers generally need a firmer mattress so that the hips do not sink too far and arch the lower back.
[-] A mattress protector guards against spills, dust mites and allergens, and many mattress warranties are void if the mattress is stained.

=== en-prod-tent | en | product
T: Camping tents
Q: lightweight two person backpacking tent
[+] The Ridgeline 2 UL is a two-person backpacking tent weighing 1.1 kg with its poles and stakes. It is a semi-freestanding design with two doors and two vestibules, a floor of 2.1 by 1.3 metres and a silicone-coated ripstop nylon fly with a 1,500 mm waterproof rating. Packed, it is about the size of a one-litre water bottle.
[+] When choosing a backpacking tent, look at the trail weight, the floor area per person, the number of doors and how easy it is to pitch in the rain. Tents under 1.5 kg for two people usually save weight with thinner fabrics and fewer poles, so they need more care on rocky ground; a footprint protects the floor.
[-] Family camping tents for six or eight people offer standing height, separate bedrooms and large porches, but weigh 15 kg or more and are meant to be carried from the car.
[-] A sleeping bag's comfort rating is the lowest temperature at which an average woman can sleep comfortably; the limit rating applies to an average man curled up.

=== en-prod-smartwatch | en | product
T: Smartwatches
Q: smartwatch with gps for swimming
[+] The WaveTrack S3 is water resistant to 50 metres and has a dedicated pool and open-water swimming mode. It counts lengths and strokes, recognises stroke type and uses built-in multi-band GPS in open water to record distance and your route. Battery life is up to 12 days in smartwatch mode or 20 hours with GPS on.
[+] For swimming, check that a smartwatch has a water resistance rating of at least 5 ATM (50 metres) and is marketed for swimming, not just splash resistance. Open-water tracking needs GPS in the watch itself, because a phone left on shore cannot record your route.
[-] Fitness bands are cheaper and lighter than smartwatches and track steps, sleep and heart rate, but most lack built-in GPS and have small screens.
[-] Some smartwatches can take an electrocardiogram and alert the wearer to an irregular heart rhythm that may be atrial fibrillation.

=== en-news-storm | en | news
T: Severe weather
Q: storm power outages how many homes without electricity
[+] More than 180,000 homes and businesses were without electricity on Tuesday morning after a powerful storm brought gusts of over 120 km/h and brought down trees and power lines across the region. The utility said crews from neighbouring provinces had been called in and warned that some rural customers could be without power until the weekend.
[+] By Wednesday evening the number of customers without power had fallen to about 40,000, the utility said, most of them in wooded areas where fallen trees made repairs slow. Residents using generators were reminded never to run them indoors or in garages because of the risk of carbon monoxide poisoning.
[-] The national weather service has issued a yellow warning for heavy rain on Friday, with up to 60 millimetres expected in the hills and a risk of local flooding.
[-] Insurers said claims after last winter's storms reached record levels, driven by roof damage and flooding.

=== en-news-housing | en | news
T: Housing market
Q: house prices fell last month
[+] Average house prices fell 0.8% in October compared with September, the second monthly decline in a row, according to figures released on Friday by a major mortgage lender. Prices were 2.1% lower than a year earlier. Economists said higher mortgage rates continued to weigh on demand, with buyers taking longer to commit and sellers cutting asking prices.
[+] The fall in house prices was steepest in the south and east, where properties are most expensive, while prices in the north were broadly flat. The average home now costs about 4% less than at its peak last summer, though prices remain well above their pre-pandemic level.
[-] Rents rose 6% over the past year, the fastest pace on record, as demand for rental homes far outstripped supply.
[-] The government announced plans to build 300,000 new homes a year, including changes to planning rules to free up land on the edges of towns.

=== en-news-space-launch | en | news
T: Space exploration
Q: rocket launch lunar lander news
[+] A privately built lunar lander lifted off early on Thursday aboard a rocket from Florida, beginning a week-long journey to the Moon. If the landing succeeds, it will be the first commercial spacecraft to touch down on the lunar surface, carrying instruments to study the surface near the south pole and a camera to record the descent.
[+] Mission controllers confirmed that the lunar lander had separated from the rocket's upper stage and deployed its solar panels about an hour after launch. The spacecraft will perform several engine burns before entering lunar orbit and attempting a landing late next week.
[-] The space agency said its new space telescope had captured the most detailed image yet of a distant galaxy cluster, showing galaxies as they appeared more than 13 billion years ago.
[-] Astronauts aboard the space station completed a six-hour spacewalk to install new solar arrays.

=== en-news-transit-fares | en | news
T: Public transport
Q: city council votes to raise bus and subway fares
[+] The city council voted 9 to 4 on Monday night to raise bus and subway fares by 25 cents starting in January, bringing a single ride to $3.15. Transit officials said the increase was needed to close a $180 million budget gap left by lower ridership since the pandemic and rising costs for fuel, maintenance and wages. Monthly passes will rise from $132 to $140.
[+] Council members who voted against the fare increase argued it would hit low-income riders hardest and could push more people back into cars. To soften the impact, the council expanded its reduced-fare program, which offers half-price rides to residents receiving public assistance, to cover an estimated 60,000 more people.
[-] The transit agency unveiled its first fleet of battery-electric buses on Wednesday and said it aims to replace all diesel buses by 2035.
[-] Commuters faced delays of up to 40 minutes on two subway lines on Tuesday morning after a signal failure near the central station.
""")

DOMAIN_TITLES: dict[tuple[str, str], str] = {
    ("en", "science"): "Science explained",
    ("en", "medical"): "A practical health guide",
    ("en", "howto"): "Practical how-to guide",
    ("en", "legal"): "Law in everyday life",
    ("en", "history"): "History and geography",
    ("en", "product"): "Buyer's guide",
    ("en", "news"): "News digest",
    ("en", "code"): "Programming notes",
    ("zh", "*"): "生活百科",
    ("de", "*"): "Wissen für den Alltag",
    ("fr", "*"): "Savoirs du quotidien",
    ("es", "*"): "Saber cotidiano",
    ("ja", "*"): "暮らしの百科",
    ("ko", "*"): "생활 백과",
    ("ru", "*"): "Энциклопедия повседневной жизни",
    ("ar", "*"): "موسوعة الحياة اليومية",
    ("pt", "*"): "Saber do dia a dia",
    ("it", "*"): "Sapere quotidiano",
}

LONG_DOCUMENTS: list[LongDocument] = [
    LongDocument(
        title="Everyday Science: Questions and Answers",
        lang="en",
        domain="science",
        relevant_to="en-sci-tides",
        negative_for="en-sci-speed-of-light",
    ),
    LongDocument(
        title="The Family Health Handbook",
        lang="en",
        domain="medical",
        relevant_to="en-med-sleep-hygiene",
        negative_for="en-med-cholesterol",
    ),
    LongDocument(
        title="The Household Handbook",
        lang="en",
        domain="howto",
        relevant_to="en-howto-iron-shirt",
        negative_for="en-howto-jump-start",
    ),
    LongDocument(
        title="Everyday Law: A Reader's Guide",
        lang="en",
        domain="legal",
        relevant_to="en-legal-small-claims",
        negative_for="en-legal-miranda",
    ),
    LongDocument(
        title="Notes on World History and Geography",
        lang="en",
        domain="history",
        relevant_to="en-hist-silk-road",
        negative_for="en-hist-printing-press",
    ),
    LongDocument(
        title="Programming Recipes",
        lang="en",
        domain="code",
        relevant_to="en-code-python-dedupe",
        negative_for="en-code-bash-find-large",
    ),
    LongDocument(
        title="The Buyer's Guide to Home and Travel Gear",
        lang="en",
        domain="product",
        relevant_to="en-prod-espresso",
        negative_for="en-prod-robot-vacuum",
    ),
    LongDocument(
        title="The Week in Review",
        lang="en",
        domain="news",
        relevant_to="en-news-housing",
        negative_for="en-news-election-turnout",
    ),
    LongDocument(title="生活百科手册", lang="zh", domain="*", relevant_to="zh-sci-panda", negative_for="zh-howto-rice"),
]


if __name__ == "__main__":
    main()
