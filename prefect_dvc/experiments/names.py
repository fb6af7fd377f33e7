"""Generated experiment names: ``<adjective>-<noun>``, as DVC makes them (formats.md §5.2).

Provides:
    generate_name: a fresh ``<5-letter adjective>-<4-letter noun>`` not yet taken.
    new_name_for: a fresh name for one baseline of a repository.

The word lists are our own plain English words; there are enough of them
(over 100,000 pairs) that a retry is rare even with many experiments.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from prefect_dvc.errors import GitError
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.refs import list_exp_refs

_ADJECTIVE_TEXT = """
    acrid adept agile alert alive alpha amber ample angry antsy ashen awake aware baggy balmy
    basic beady beefy bland blank bleak blind blond blunt bossy brash brave brief brisk broad
    brown bumpy burly bushy candy cheap chief chill civic civil clean clear close coral crisp
    cross curly curvy cushy daily dandy dense dirty dizzy dopey dusky dusty eager early eerie
    elfin empty equal exact extra faint false famed fancy fiery final first fishy fixed fizzy
    flaky flash fleet flush foggy frail frank fresh fried front funny fuzzy gaudy gaunt giddy
    glass grand grave great green gruff gummy gusty hairy handy happy hardy harsh hasty hazel
    heady heavy hefty hilly hoary homey honey human humid husky ideal inner irate ivory jazzy
    jolly juicy jumbo jumpy khaki known lanky large leafy legal lemon level light lilac lined
    linen livid local lofty loose loved loyal lucid lucky lumpy lunar magic major mauve mealy
    meaty merry messy metal milky minor minty misty mixed modal moist moody mossy mousy muddy
    murky mushy musty muted naive needy nifty ninth noble noisy north novel nutty oaken olden
    olive optic other outer ovoid paced paper party pasty peaky pearl perky pesky petty phony
    piney pious plain plump plush polar prime prior prize proud pudgy puffy pulpy punky pushy
    quick quiet rainy rapid raspy ready regal rigid risky rocky roomy rough round royal ruddy
    rural rusty sable salty sandy sappy sassy satin saucy scaly scary seedy shady shaky sharp
    sheer shiny short showy silky silly sleek slick slimy small smart smoky snowy soapy sober
    soggy solar solid sonic sooty sorry sound south spare spicy spiky spiny split stark steep
    stern stiff still stock stony stout sunny super swift tacit tangy tardy tasty tawny teary
    tense tenth terse testy thick third tidal tight timid tinny tired toned topaz total tough
    tried tubby ultra umber uncut undue unfit unlit upper upset urban usual utter vague valid
    vapid vital vivid vocal wacky waxen weary weedy weird whole windy witty woody wooly wordy
    worth woven wrong young zesty zippy
"""

_NOUN_TEXT = """
    acre apes arch arms atom auks aunt axes axis axle back bags bait bake bale ball band bank
    barn bars base bath bats bays beak beam bean bear bees beet bell belt bike bird bits blob
    boat body bolt bone book boot bowl bows buds bugs bulb bull buns buoy bush cake calf camp
    cane cape card carp cars cart case cats cave cell chef chin chip city clam clay clip club
    coal coat code coil coin colt comb cone cook cord cork corn cows crab crew crow cube cups
    curl dart dash date dawn deck deer desk dial dice dime dish dock dogs doll dome door dots
    dove duck dune dusk dust eels eggs elks elms emus ewes face fans farm fawn fern figs film
    fins fire fish flag flax flow foal foam fogs font food fork fort fowl frog fuel gale game
    gate gear gems gift gnat gnus goat gold golf gong gown grub gulf gull gust hail hair hake
    hall hams hare harp hats hawk haze heat helm herb herd hill hive hole hood hook hoop horn
    hose host hubs hull inch inks iris iron isle jams jars jays jets jobs kale keel kelp keys
    kiln kilt kite kiwi knee knot lace lake lamb lamp land lane lark lava lawn leaf leek lens
    lily lime line link lion loaf loft logs loom lute mace mail malt mane maps mare mask mast
    mats maze meal mice mill mint mist mole moon moss moth mugs mule nail neck nest nets newt
    node noon nose note nuts oaks oars oats oboe odes ores owls oxen pace page pail pair pans
    park path pawn peak pear peas pegs pens pier pigs pike pine pins pipe pits plum pods poem
    pole pond pony pool port pots puma quay quiz raft rail rain rake rams reed reef rice ring
    road robe rock roof room root rope rose ruby rugs sage sail salt sand seal seed shed ship
    shoe silk silo sink skis sled slug snow soap sock sofa soil song soup spur star stem stew
    swan tail tank tape taro teal team tent tide tile toad toes tofu tone tool town toys tram
    tree trio tuba tuna turf twig vase veal vest vine vole wand wasp wave weed well whey wick
    wind wing wolf wood wool worm wren yams yard yarn yawl year yolk zinc zone
"""

ADJECTIVES: tuple[str, ...] = tuple(_ADJECTIVE_TEXT.split())
NOUNS: tuple[str, ...] = tuple(_NOUN_TEXT.split())

MAX_ATTEMPTS = 1000

# NOTE: a private generator of OS randomness: a pipeline that calls
# random.seed() for reproducible training, or worker processes forked from
# one parent, must not all produce the same names.
_RNG = random.SystemRandom()


def generate_name(taken: Callable[[str], bool]) -> str:
    """A random ``<adjective>-<noun>`` for which ``taken(name)`` is false.

    Raises :class:`GitError` after ``MAX_ATTEMPTS`` taken names rather than
    looping forever.
    """
    for _ in range(MAX_ATTEMPTS):
        name = f"{_RNG.choice(ADJECTIVES)}-{_RNG.choice(NOUNS)}"
        if not taken(name):
            return name
    raise GitError(
        f"no free experiment name found after {MAX_ATTEMPTS} tries",
        hint="Name the experiment yourself with -n NAME",
    )


def new_name_for(git: Git, baseline: str) -> str:
    """A generated name no experiment of ``baseline`` (a full SHA) uses yet."""
    used = {exp.name for exp, _ in list_exp_refs(git, baseline)}
    return generate_name(used.__contains__)
